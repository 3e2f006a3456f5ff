"""A local action for doors: run a command with an event's JSON on stdin.

`facedb verify --on-accept CMD` and `facedb watch --on-event CMD`. The command line
is split as a shell would split it (shlex) but run without a shell: use
``sh -c '...'`` for pipes and redirections. It gets the event on stdin, the event id
and decision in FACEDB_EVENT_ID and FACEDB_DECISION, and FACEDB_HOOKS_TIMEOUT
seconds (10) to finish; a command that fails or runs late is reported, never fatal.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from facedb.errors import InvalidInputError

OUTPUT_TAIL = 200


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    detail: str  # "exit 0", "exit 3: no relay", "timed out after 10 s", ...


def parse_command(command: str) -> list[str]:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise InvalidInputError(f"cannot parse the command {command!r}: {exc}") from None
    if not argv:
        raise InvalidInputError("the command is empty")
    operators = [word for word in argv if word.strip("0123456789") in _SHELL_OPERATORS]
    if operators:
        raise InvalidInputError(
            f"the command {command!r} uses the shell's {operators[0]!r}, but it is run as a "
            f"program and its arguments, without a shell: use sh -c {shlex.quote(command)}"
        )
    return argv


# Words a shell reads as operators: in a command run without one they would be
# arguments, which is never what was meant ("cat > f; echo ok").
_SHELL_OPERATORS = frozenset({">", ">>", "<", "<<", "|", "||", "&", "&&", ";", ">&", "<&"})


def run_command(command: str, event_json: str, *, timeout: float) -> ActionResult:
    """Runs ``command`` once with ``event_json`` on stdin; waits at most ``timeout`` s."""
    argv = parse_command(command)
    env = dict(os.environ)
    try:
        event = json.loads(event_json)
    except ValueError:
        event = {}
    if isinstance(event, dict):
        env["FACEDB_EVENT_ID"] = str(event.get("event_id") or "")
        env["FACEDB_DECISION"] = str(event.get("decision") or "")
    try:
        done = subprocess.run(
            argv,
            input=event_json.encode(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ActionResult(False, f"timed out after {timeout:g} s (killed)")
    except OSError as exc:
        return ActionResult(False, f"cannot run {argv[0]}: {exc.strerror or exc}")
    if done.returncode == 0:
        return ActionResult(True, "exit 0")
    tail = done.stderr.decode("utf-8", "replace").strip()[-OUTPUT_TAIL:]
    return ActionResult(False, f"exit {done.returncode}" + (f": {tail}" if tail else ""))


class ActionRunner:
    """Runs the command for each event on one background thread, in order, so that a
    slow command does not hold up the frames (facedb watch)."""

    def __init__(
        self, command: str, *, timeout: float, on_failure: Callable[[ActionResult], None]
    ) -> None:
        parse_command(command)  # a command that cannot be parsed stops here
        self.command = command
        self.timeout = timeout
        self.on_failure = on_failure
        # One thread: the commands, and on_failure, run one at a time, in order.
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="facedb-action")

    def submit(self, event_json: str) -> None:
        self._pool.submit(self._run, event_json)

    def _run(self, event_json: str) -> None:
        result = run_command(self.command, event_json, timeout=self.timeout)
        if not result.ok:
            self.on_failure(result)

    def close(self) -> None:
        """Waits for the commands already started or queued."""
        self._pool.shutdown(wait=True)
