"""The service of one command invocation, closed when the command ends."""

from __future__ import annotations

from typing import Any

import click

from facedb.config import Settings
from facedb.service import FaceService


def open_service(**overrides: Any) -> FaceService:
    """A FaceService on settings with these CLI overrides (None = not given)."""
    service = FaceService(Settings.load(overrides))
    click.get_current_context().call_on_close(service.close)
    return service
