"""insightface 2.1 in its own virtualenv (benchmarks/.venv-insightface, gitignored).

Made on first use with ``python -m venv`` and pip: insightface==2.1 and the CPU
onnxruntime of the same version as facedb's, so that both sides run the same
kernels. insightface builds a Cython extension at install (needs gcc).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from benchmarks.common import REPO

PEER_VENV = REPO / "benchmarks" / ".venv-insightface"
PEER_PYTHON = PEER_VENV / "bin" / "python"
INSIGHTFACE_VERSION = "2.1"
_VERSIONS = "import json, insightface, onnxruntime as o; print(json.dumps([insightface.__version__, o.__version__]))"


@dataclass(frozen=True)
class Peer:
    python: Path | None  # None when it could not be installed
    insightface: str
    onnxruntime: str
    error: str | None  # why it could not be installed, for the report


def _versions() -> tuple[str, str] | None:
    if not PEER_PYTHON.exists():
        return None
    done = subprocess.run([str(PEER_PYTHON), "-c", _VERSIONS], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    insightface, onnxruntime = json.loads(done.stdout.strip().splitlines()[-1])
    return str(insightface), str(onnxruntime)


def _run(command: list[str]) -> str | None:
    """None on success, else the command and the tail of its output."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode == 0:
        return None
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
    return f"`{' '.join(command)}` exited {done.returncode}:\n{tail}"


def ensure_peer() -> Peer:
    """The peer's virtualenv, made or repaired when needed."""
    wanted = (INSIGHTFACE_VERSION, ort.__version__)
    found = _versions()
    if found == wanted:
        return Peer(PEER_PYTHON, *found, None)
    print(f"benchmarks: installing insightface {wanted[0]} in {PEER_VENV} ...", file=sys.stderr)
    pip = [str(PEER_PYTHON), "-m", "pip", "install", "--quiet"]
    steps = [
        [sys.executable, "-m", "venv", str(PEER_VENV)],
        [*pip, "--upgrade", "pip"],
        [*pip, f"insightface=={wanted[0]}", f"onnxruntime=={wanted[1]}"],
    ]
    if PEER_PYTHON.exists():
        steps = steps[1:]
    for step in steps:
        error = _run(step)
        if error is not None:
            return Peer(None, wanted[0], wanted[1], error)
    found = _versions()
    if found is None:
        return Peer(None, *wanted, "insightface installed but does not import")
    return Peer(PEER_PYTHON, *found, None)
