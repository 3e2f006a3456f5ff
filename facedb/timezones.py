"""Time zones and the local dates of reports."""

from __future__ import annotations

import calendar
import functools
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from facedb.errors import InvalidInputError

# Report dates: the day after the last one must still be a date (9999-12-31 is not).
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9999, 12, 30)
# Files of the tz database that are not zones PostgreSQL knows (pg_timezone_names).
_NOT_ZONES = frozenset({"posixrules", "localtime", "leapseconds", "tzdata.zi"})


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_ZONES


def check_zone(name: str) -> str:
    """An IANA zone name (Europe/Paris, UTC), checked; PostgreSQL knows the same names
    (not tz database files such as posixrules or localtime)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        known = False
    else:
        known = name in _zone_names() or name == "UTC"
    if not known:
        raise InvalidInputError(f"unknown time zone {name!r} (use a name like Europe/Paris)")
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


def zone_or_local(name: str | None) -> str:
    """The zone given (checked), else the system's."""
    return check_zone(name) if name else local_zone()


def parse_day(text: str, zone: str) -> date:
    """today, yesterday or YYYY-MM-DD, as a date in ``zone``."""
    today = datetime.now(ZoneInfo(zone)).date()
    lowered = text.strip().lower()
    if lowered == "today":
        return today
    if lowered == "yesterday":
        return today - timedelta(days=1)
    try:
        day = date.fromisoformat(lowered)
    except ValueError:
        raise InvalidInputError(
            f"not a date: {text!r} (use today, yesterday or YYYY-MM-DD)"
        ) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInputError(f"the date {text!r} is outside {FIRST_DAY} .. {LAST_DAY}")
    return day


def month_bounds(text_value: str) -> tuple[date, date]:
    """'2026-11' -> (2026-11-01, 2026-11-30)."""
    try:
        first = date.fromisoformat(text_value.strip() + "-01")
    except ValueError:
        raise InvalidInputError(f"not a month: {text_value!r} (use YYYY-MM)") from None
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    if first < FIRST_DAY or last > LAST_DAY:
        raise InvalidInputError(f"the month {text_value!r} is outside {FIRST_DAY} .. {LAST_DAY}")
    return first, last


def localise(naive: datetime, zone: str) -> datetime:
    """A wall-clock time read in ``zone``. A time the clocks skip (02:30 on the spring
    change in Paris) or show twice (02:30 on the autumn change) is refused with
    InvalidInputError (exit code 2) naming the offsets to choose from, never moved or
    chosen silently."""
    tz = ZoneInfo(zone)
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    offsets = sorted({_offset(first), _offset(second)})
    if len(offsets) == 1:
        return first
    back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    shown = naive.isoformat(sep=" ", timespec="minutes")
    if back != naive:
        raise InvalidInputError(
            f"{shown} does not exist in {zone} (the clocks skip it): give the time with "
            f"an offset ({' or '.join(offsets)})"
        )
    raise InvalidInputError(
        f"{shown} happens twice in {zone} (the clocks go back): give the time with an "
        f"offset, {shown}{offsets[1]} (the first) or {shown}{offsets[0]} (the second)"
    )


def _offset(moment: datetime) -> str:
    delta = moment.utcoffset() or timedelta(0)
    minutes = int(delta.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def check_period(date_from: date, date_to: date) -> None:
    """The days a timesheet may cover (InvalidInputError otherwise)."""
    if date_to < date_from:
        raise InvalidInputError(f"the last day {date_to} is before the first day {date_from}")
    if (date_to - date_from).days > 366:
        raise InvalidInputError("a timesheet covers at most 367 days")
    if date_from.year < 1900 or date_to.year > 9000:
        raise InvalidInputError("a timesheet's days are between the years 1900 and 9000")
