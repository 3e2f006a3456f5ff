"""facedb: face verification and attendance on PostgreSQL + pgvector.

The public API, for front ends and programs that embed facedb:

    from facedb import FaceService, Settings
    service = FaceService(Settings.load())
    result = service.verify("door.jpg")        # a VerifyResult

Names are imported on first use (PEP 562), so that ``import facedb`` (and
``facedb --help``) loads no model runtime, database driver or numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module that defines it (tests/test_layers.py reads this table)
_PUBLIC: dict[str, str] = {
    "Settings": "facedb.config",
    "FaceService": "facedb.service",
    "Runtime": "facedb.usecases.runtime",
    "TimeAttendance": "facedb.timeattendance.service",
    "VerifyResult": "facedb.usecases.results",
    "EnrolResult": "facedb.usecases.results",
    "IdentifyResult": "facedb.usecases.results",
    "FacedbError": "facedb.errors",
    "InputRefused": "facedb.errors",
    "FaceRefused": "facedb.errors",
    "NotFound": "facedb.errors",
    "Conflict": "facedb.errors",
    "Unavailable": "facedb.errors",
    "ConfigError": "facedb.errors",
}

__all__ = ["__version__", *_PUBLIC]

if TYPE_CHECKING:
    from facedb.config import Settings as Settings
    from facedb.errors import ConfigError as ConfigError
    from facedb.errors import Conflict as Conflict
    from facedb.errors import FacedbError as FacedbError
    from facedb.errors import FaceRefused as FaceRefused
    from facedb.errors import InputRefused as InputRefused
    from facedb.errors import NotFound as NotFound
    from facedb.errors import Unavailable as Unavailable
    from facedb.service import FaceService as FaceService
    from facedb.timeattendance.service import TimeAttendance as TimeAttendance
    from facedb.usecases.results import EnrolResult as EnrolResult
    from facedb.usecases.results import IdentifyResult as IdentifyResult
    from facedb.usecases.results import VerifyResult as VerifyResult
    from facedb.usecases.runtime import Runtime as Runtime


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'facedb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
