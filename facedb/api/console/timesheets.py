"""Timesheets: a week or a month per site or group in one grid, a person's day with
its punches and their corrections, corrections (add a punch, void, restore) with a
required reason, locked periods, and the payroll CSV (the bytes of `facedb timesheet
--format csv`: the same use case)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from facedb import timezones
from facedb.api.console import render
from facedb.api.console.common import Changer, Reader, back, state, time_attendance
from facedb.api.docs import errors
from facedb.domain.names import NAME_MAX_LENGTH
from facedb.timeattendance import (
    REASON_CODES,
    PersonTotals,
    TimesheetDay,
    write_payroll_csv,
)
from facedb.timeattendance.pages import timesheet_page

router = APIRouter()
_NAME = Query(max_length=NAME_MAX_LENGTH)
_REASON = Form(pattern="^(" + "|".join(REASON_CODES) + ")$", description="Reason code")
_NOTE = Form(min_length=1, max_length=2000, description="Why, in words (required)")
_DAY = Form(max_length=10, description="YYYY-MM-DD")
# People per page of the grid (a month of 1,000 people is 31,000 cells: too many for a
# browser to lay out in a second).
GRID_PAGE = 100


@dataclass(frozen=True)
class GridRow:
    name: str
    cells: list[TimesheetDay | None]  # one per day of the period
    totals: PersonTotals


def grid(
    days: list[TimesheetDay], totals: list[PersonTotals], first: date, last: date
) -> list[GridRow]:
    """The timesheet as one row per person (with the use case's totals) and one
    cell per day."""
    span = (last - first).days + 1
    cells: dict[int, list[TimesheetDay | None]] = {}
    for d in days:
        cells.setdefault(d.user_id, [None] * span)[(d.work_day - first).days] = d
    return [GridRow(t.name, cells.get(t.user_id, [None] * span), t) for t in totals]


def period_of(period: str, anchor: str, zone: str) -> tuple[date, date]:
    """(first, last) day of a month ('YYYY-MM') or of the ISO week of a day."""
    if period == "week":
        day = timezones.parse_day(anchor or "today", zone)
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    if not anchor or anchor == "today":
        anchor = timezones.parse_day("today", zone).strftime("%Y-%m")
    return timezones.month_bounds(anchor)


@router.get(
    "/admin/timesheets",
    response_class=Response,
    responses=errors(401, 403, 404, 422),
    summary="Console: timesheets",
)
async def timesheets_page(
    request: Request,
    visitor: Reader,
    period: Annotated[str, Query(pattern="^(week|month)$")] = "month",
    at: Annotated[str, Query(max_length=20, description="YYYY-MM, or a day of the week")] = "",
    site: Annotated[str, _NAME] = "",
    group: Annotated[str, _NAME] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """A week or month of a site or group: worked time, late, absences, leave and
    holidays per person and day, GRID_PAGE people a page; locked periods (reporter,
    admin)."""
    found = state(request)
    ta = time_attendance(request)
    first, last = period_of(period, at, ta.zone)
    sheet = await found.run(
        lambda: timesheet_page(
            ta, first, last, site=site or None, group=group or None, page=page, size=GRID_PAGE
        )
    )
    sites = await found.run(ta.sites)
    groups = await found.run(ta.groups)
    periods = await found.run(ta.periods)
    return render.page(
        request,
        "timesheets.html",
        visitor,
        period=period,
        at=at or (first.strftime("%Y-%m") if period == "month" else first.isoformat()),
        month=first.strftime("%Y-%m"),
        site=site,
        group=group,
        first=first,
        last=last,
        dates=[first + timedelta(days=i) for i in range((last - first).days + 1)],
        rows=grid(sheet.days, sheet.totals, first, last),
        people=sheet.people,
        page=page,
        pages=sheet.pages,
        size=GRID_PAGE,
        sites=sites,
        groups=groups,
        periods=periods,
        reasons=REASON_CODES,
    )


@router.get(
    "/admin/timesheets/day",
    response_class=Response,
    responses=errors(401, 403, 404, 422),
    summary="Console: a person's day",
)
async def day_page(
    request: Request,
    visitor: Reader,
    person: Annotated[str, Query(min_length=1, max_length=NAME_MAX_LENGTH)],
    day: Annotated[str, Query(max_length=10)] = "today",
) -> Response:
    """A person's work day: the timesheet row, every punch with its corrections,
    and the forms to void, restore or add a punch (admin)."""
    found = state(request)
    ta = time_attendance(request)
    chosen = timezones.parse_day(day, ta.zone)
    days, _ = await found.run(lambda: ta.timesheet(chosen, chosen, person=person))
    zone = days[0].timezone if days else ta.zone
    start = datetime.combine(chosen, time(0), ZoneInfo(zone))
    end = start + timedelta(days=1)
    rows = await found.run(lambda: found.service.attendance(start, person, 1000))
    events = [r for r in rows if r.occurred_at < end and r.decision == "accepted"]
    histories = await found.run(lambda: [ta.history(str(e.event_id)) for e in events])
    added = (
        [
            c
            for c in await found.run(lambda: ta.corrections(start - timedelta(days=1)))
            if c.action == "add"
            and c.person == days[0].name
            and c.occurred_at is not None
            and start <= c.occurred_at < end
        ]
        if days
        else []
    )
    people = [u.name for u in await found.run(found.service.users)] if visitor.admin else []
    return render.page(
        request,
        "day.html",
        visitor,
        person=days[0].name if days else person,
        day=chosen,
        zone=zone,
        row=days[0] if days else None,
        histories=histories,
        added=added,
        people=people,
        reasons=REASON_CODES,
    )


def _day_back(person: str, day: str, message: str) -> Response:
    return back("/admin/timesheets/day", message, person=person, day=day)


@router.post(
    "/admin/timesheets/correct",
    response_class=Response,
    status_code=303,
    summary="Console: void, restore or reassign a punch",
    responses=errors(401, 403, 404, 422),
)
async def correct(
    request: Request,
    visitor: Changer,
    event: Annotated[str, Form(max_length=64)],
    action: Annotated[str, Form(pattern="^(void|restore|reassign)$")],
    reason: Annotated[str, _REASON],
    note: Annotated[str, _NOTE],
    person: Annotated[str, Form(max_length=NAME_MAX_LENGTH)],
    day: Annotated[str, _DAY],
    to: Annotated[str, Form(max_length=NAME_MAX_LENGTH, description="reassign: who")] = "",
) -> Response:
    """Voids, restores or reassigns (to ``to``) an event, with a reason code and a
    written reason; the signed-in key is recorded as who made the correction (409
    when the period is locked)."""
    ta = time_attendance(request)
    done = await state(request).run(
        lambda: ta.correct(
            event,
            action,
            reason=reason,
            note=note.strip(),
            by=visitor.key.name,
            person=(to.strip() or None) if action == "reassign" else None,
        )
    )
    return _day_back(person, day, f"correction {done.id}: {action} recorded")


@router.post(
    "/admin/timesheets/punch",
    response_class=Response,
    status_code=303,
    summary="Console: add a missed punch",
    responses=errors(401, 403, 404, 422),
)
async def add_punch(
    request: Request,
    visitor: Changer,
    person: Annotated[str, Form(min_length=1, max_length=NAME_MAX_LENGTH)],
    day: Annotated[str, _DAY],
    at: Annotated[str, Form(pattern=r"^\d{2}:\d{2}$", description="HH:MM, the person's zone")],
    reason: Annotated[str, _REASON],
    note: Annotated[str, _NOTE],
    direction: Annotated[str, Form(pattern="^(in|out|)$")] = "",
) -> Response:
    """Adds a punch the person missed, at a local time of the day."""
    ta = time_attendance(request)
    chosen = timezones.parse_day(day, ta.zone)
    when = datetime.combine(chosen, time.fromisoformat(at))
    done = await state(request).run(
        lambda: ta.add_punch(
            person,
            when,
            device=None,
            direction=direction or None,
            reason=reason,
            note=note.strip(),
            by=visitor.key.name,
        )
    )
    return _day_back(person, day, f"correction {done.id}: punch added at {at}")


@router.post(
    "/admin/timesheets/lock",
    response_class=Response,
    status_code=303,
    summary="Console: lock or unlock a period",
    responses=errors(401, 403, 409, 422),
)
async def lock(
    request: Request,
    visitor: Changer,
    first: Annotated[str, _DAY],
    last: Annotated[str, _DAY],
    action: Annotated[str, Form(pattern="^(lock|unlock)$")] = "lock",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Locks a pay period (no correction inside it until unlocked), or unlocks it
    with a reason; the signed-in key is recorded."""
    ta = time_attendance(request)
    day_from = timezones.parse_day(first, ta.zone)
    day_to = timezones.parse_day(last, ta.zone)
    if action == "lock":
        await state(request).run(lambda: ta.lock(day_from, day_to, visitor.key.name))
    else:
        await state(request).run(
            lambda: ta.unlock(day_from, day_to, visitor.key.name, reason.strip())
        )
    return back(
        "/admin/timesheets", f"{action}ed {day_from} to {day_to}", at=day_from.strftime("%Y-%m")
    )


@router.get(
    "/admin/timesheets/payroll.csv",
    response_class=Response,
    summary="Console: the payroll CSV",
    responses={200: {"content": {"text/csv": {}}}, **errors(401, 404, 422)},
)
async def payroll(
    request: Request,
    _: Reader,
    month: Annotated[str, Query(max_length=7, description="YYYY-MM")],
    site: Annotated[str, _NAME] = "",
    group: Annotated[str, _NAME] = "",
) -> Response:
    """The month's payroll CSV: the bytes of `facedb timesheet --month M --format csv`
    in the server's zone (reporter, admin)."""
    found = state(request)
    ta = time_attendance(request)
    first, last = timezones.month_bounds(month)
    out = io.BytesIO()
    await found.run(
        lambda: write_payroll_csv(
            found.settings,
            ta.zone,
            out,
            first,
            last,
            site=site or None,
            group=group or None,
            service=ta,
        )
    )
    name = f"payroll-{month}{'-' + site if site else ''}{'-' + group if group else ''}.csv"
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe}"'},
    )
