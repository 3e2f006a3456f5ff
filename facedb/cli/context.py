"""The service of one command invocation, closed when the command ends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from facedb.config import Settings
from facedb.service import FaceService


def open_service(
    adjust: Callable[[Settings], Settings] | None = None, **overrides: Any
) -> FaceService:
    """A FaceService on settings with these CLI overrides (None = not given), passed
    through ``adjust`` when given (a command's own defaults)."""
    settings = Settings.load(overrides)
    service = FaceService(adjust(settings) if adjust is not None else settings)
    click.get_current_context().call_on_close(service.close)
    return service
