"""Time zones and the local dates of reports."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from facedb.errors import InvalidInputError


def check_zone(name: str) -> str:
    """An IANA zone name (Europe/Paris, UTC), checked; PostgreSQL knows the same names."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            f"unknown time zone {name!r} (use a name like Europe/Paris)"
        ) from None
    return name


def local_zone() -> str:
    """The system's zone name: TZ, else /etc/localtime's target, else /etc/timezone, else UTC."""
    if os.environ.get("TZ"):
        return check_zone(os.environ["TZ"].lstrip(":"))
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            return check_zone(target.split("zoneinfo/", 1)[1])
    timezone_file = Path("/etc/timezone")
    if timezone_file.is_file():
        name = timezone_file.read_text().strip()
        if name:
            return check_zone(name)
    return "UTC"


def parse_day(text: str, zone: str) -> date:
    """today, yesterday or YYYY-MM-DD, as a date in ``zone``."""
    today = datetime.now(ZoneInfo(zone)).date()
    lowered = text.strip().lower()
    if lowered == "today":
        return today
    if lowered == "yesterday":
        return today - timedelta(days=1)
    try:
        return date.fromisoformat(lowered)
    except ValueError:
        raise InvalidInputError(
            f"not a date: {text!r} (use today, yesterday or YYYY-MM-DD)"
        ) from None
