"""systemd units for a facedb machine (`facedb service install`).

facedb-db starts the embedded PostgreSQL at boot (not written when FACEDB_DATABASE_URL
names a server: the units then wait for the network); facedb-serve, facedb-watch and
facedb-hooks start after it, restart on failure, and are stopped with SIGTERM, which
each of them handles by finishing the request, frame or delivery in hand.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

DB_UNIT = "facedb-db.service"


@dataclass(frozen=True)
class UnitPlan:
    facedb: Path  # the facedb executable
    user: str
    home: Path  # FACEDB_HOME
    embedded: bool  # the database is the embedded server of home
    host: str = "0.0.0.0"
    port: int = 8000
    watch_source: str | None = None  # a camera for facedb-watch; None: no such unit


def escape(text: str) -> str:
    """A value systemd reads as it is: % starts a specifier, $ a variable."""
    return text.replace("%", "%%").replace("$", "$$")


def _exec(plan: UnitPlan, command: str) -> str:
    return escape(f"{shlex.quote(str(plan.facedb))} {command}")


def _service_section(plan: UnitPlan, command: str, *, long_running: bool = True) -> str:
    home = f"FACEDB_HOME={plan.home}".replace("\\", "\\\\").replace('"', '\\"')
    lines = [
        "[Service]",
        f"User={plan.user}",
        f'Environment="{home.replace("%", "%%")}"',
        f"ExecStart={_exec(plan, command)}",
    ]
    if long_running:
        lines += [
            "Type=exec",
            "Restart=on-failure",
            "RestartSec=5",
            "KillSignal=SIGTERM",
            "TimeoutStopSec=30",
        ]
    return "\n".join(lines)


def _unit_section(description: str, plan: UnitPlan) -> str:
    after = "network-online.target"
    lines = ["[Unit]", f"Description={description}", "Wants=network-online.target"]
    if plan.embedded:
        after += f" {DB_UNIT}"
        lines.append(f"Requires={DB_UNIT}")
    lines.append(f"After={after}")
    return "\n".join(lines)


INSTALL = "[Install]\nWantedBy=multi-user.target"


def units(plan: UnitPlan) -> dict[str, str]:
    """File name -> contents of each unit."""
    found: dict[str, str] = {}
    if plan.embedded:
        found[DB_UNIT] = "\n\n".join(
            [
                "[Unit]\nDescription=facedb embedded PostgreSQL\nAfter=local-fs.target",
                _service_section(plan, "db start", long_running=False)
                + "\nType=oneshot\nRemainAfterExit=yes\n"
                + f"ExecStop={_exec(plan, 'db stop')}",
                INSTALL,
            ]
        )
    serve = f"serve --host {plan.host} --port {plan.port}"
    found["facedb-serve.service"] = "\n\n".join(
        [
            _unit_section("facedb HTTP API and kiosk page", plan),
            _service_section(plan, serve),
            INSTALL,
        ]
    )
    found["facedb-hooks.service"] = "\n\n".join(
        [
            _unit_section("facedb webhook and MQTT delivery", plan),
            _service_section(plan, "hooks run"),
            INSTALL,
        ]
    )
    if plan.watch_source is not None:
        found["facedb-watch.service"] = "\n\n".join(
            [
                _unit_section("facedb camera watch", plan),
                _service_section(plan, f"watch --source {shlex.quote(plan.watch_source)}"),
                INSTALL,
            ]
        )
    return {name: text + "\n" for name, text in found.items()}
