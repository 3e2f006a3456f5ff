"""How the command line prints a moment: in the person's zone (their site's, else the
installation's), or in the zone --tz asks for, always with its UTC offset, so that
every view shows the same instant the same way (docs/TIME_AND_ATTENDANCE.md,
"One time rule")."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo


def shown(moment: datetime, zone: str, tz: str | None = None) -> datetime:
    """The moment in --tz when given, else in ``zone`` (the person's)."""
    return moment.astimezone(ZoneInfo(tz or zone))


def offset(moment: datetime) -> str:
    """+01:00, -05:00, +00:00."""
    text = moment.strftime("%z")
    return f"{text[:3]}:{text[3:5]}" if text else "+00:00"


def clock(
    moment: datetime | None, zone: str, tz: str | None = None, day: date | None = None
) -> str:
    """09:12+01:00 (and the weekday when it is not on ``day``)."""
    if moment is None:
        return ""
    local = shown(moment, zone, tz)
    text = f"{local:%H:%M}{offset(local)}"
    return text if day is None or local.date() == day else f"{text} {local:%a}"


def stamp(moment: datetime, zone: str, tz: str | None = None) -> str:
    """2026-12-07 09:12+01:00."""
    local = shown(moment, zone, tz)
    return f"{local:%Y-%m-%d %H:%M}{offset(local)}"


def iso(moment: datetime | None, zone: str, tz: str | None = None) -> str | None:
    """2026-12-07T09:12:00+01:00 (CSV and JSON)."""
    return None if moment is None else shown(moment, zone, tz).isoformat(timespec="seconds")
