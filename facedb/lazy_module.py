"""A module imported on its first attribute access, for facades whose methods each
need one use case: `facedb report` then loads the reports and not the vision stack
(tests/test_cli_startup.py). Type checkers see the real module (imported under
TYPE_CHECKING beside it)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)
