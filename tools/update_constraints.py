"""Writes constraints.txt: the exact version of every package installed in the virtualenv
that runs this script (the working .venv), so that `make` installs the same builds of
onnxruntime, OpenCV, numpy and everything else on every machine.

    .venv/bin/python tools/update_constraints.py       # then run `make test`, commit both

pyproject.toml keeps open version ranges for people who use facedb as a library; the
Makefile (and so `make demo`, `make test` and CI) installs with `pip install -c
constraints.txt`. A constraint only applies to a package that gets installed, so pins of
packages a platform does not need (onnxruntime-gpu off Linux x86_64) are harmless.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "constraints.txt"
SKIP = {"facedb"}  # the project itself (installed editable)
# pyproject picks onnxruntime-gpu on Linux x86_64 and onnxruntime elsewhere: the same
# version for both.
TWINS = {"onnxruntime-gpu": "onnxruntime"}

HEADER = """\
# Exact versions for `make` (demo, test, CI): pip install -c constraints.txt -e '.[dev]'.
# Generated from a working .venv by tools/update_constraints.py (Python {python}); after
# changing dependencies: install them, run `.venv/bin/python tools/update_constraints.py`,
# `make test`, and commit pyproject.toml and this file together.
"""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> None:
    pins: dict[str, str] = {}
    for dist in metadata.distributions():
        name = canonical(dist.metadata["Name"])
        if name not in SKIP:
            pins[name] = dist.version
    for name, twin in TWINS.items():
        if name in pins:
            pins.setdefault(twin, pins[name])
    python = ".".join(str(v) for v in sys.version_info[:2])
    lines = [f"{name}=={version}" for name, version in sorted(pins.items())]
    OUT.write_text(HEADER.format(python=python) + "\n".join(lines) + "\n", "utf-8")
    print(f"wrote {len(lines)} pins to {OUT}")


if __name__ == "__main__":
    main()
