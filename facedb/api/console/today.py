"""Today: per site, who is present (first and last seen, late), absent, on leave;
the day's counts as `facedb report` and `facedb timesheet` give them (the same use
cases); the latest decisions, polled by the page (static/console.js)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from starlette.responses import JSONResponse, Response

from facedb import timezones
from facedb.api.console import render
from facedb.api.console.common import Reader, state, time_attendance
from facedb.api.console.sessions import Visitor
from facedb.api.docs import errors
from facedb.review.service import Review
from facedb.timeattendance import TimesheetDay

router = APIRouter()
# Decisions shown in the live list.
LATEST = 25


@dataclass(frozen=True)
class SiteDay:
    site: str
    present: list[TimesheetDay]
    late: list[TimesheetDay]
    absent: list[TimesheetDay]
    leave: list[TimesheetDay]


def by_site(days: list[TimesheetDay]) -> list[SiteDay]:
    """The day's timesheet rows per site (people with no site under "no site")."""
    sites: dict[str, list[TimesheetDay]] = {}
    for d in days:
        sites.setdefault(d.site or "no site", []).append(d)
    return [
        SiteDay(
            site,
            [d for d in rows if d.punches > 0],
            [d for d in rows if d.late_minutes > 0],
            [d for d in rows if d.absent],
            [d for d in rows if d.leave is not None],
        )
        for site, rows in sorted(sites.items())
    ]


async def _latest(request: Request, zone: str, visitor: Visitor) -> list[dict[str, Any]]:
    """The latest decisions; for an admin, with the face kept for review, if any."""
    found = state(request)
    rows = await found.run(lambda: found.service.attendance(None, None, LATEST))
    faces: set[uuid.UUID] = set()
    if visitor.admin and rows:
        review = Review(found.service)
        oldest = min(r.occurred_at for r in rows)
        kept = await found.run(lambda: review.queue(status="all", since=oldest, limit=LATEST * 4))
        faces = {e.event_id for e in kept}
    return [
        {
            "event_id": str(r.event_id),
            "time": render.clock(r.occurred_at, zone, "%H:%M:%S"),
            "day": render.clock(r.occurred_at, zone, "%Y-%m-%d"),
            "decision": r.decision,
            "name": r.name or r.claimed_name or "",
            "similarity": render.number(r.similarity),
            "device": r.device or "",
            "face": f"/admin/review/{r.event_id}/face.jpg" if r.event_id in faces else "",
        }
        for r in rows
    ]


@router.get(
    "/admin/today",
    response_class=Response,
    responses=errors(401, 403, 404, 422),
    summary="Console: today's attendance",
)
async def today_page(
    request: Request,
    visitor: Reader,
    day: Annotated[str, Query(max_length=20, description="today or YYYY-MM-DD")] = "today",
) -> Response:
    """Per site: present, late, absent, on leave; the day's report counts; the
    latest decisions (reporter, admin)."""
    found = state(request)
    ta = time_attendance(request)
    chosen: date = timezones.parse_day(day, ta.zone)
    report = await found.run(lambda: found.service.report(chosen, chosen, ta.zone))
    days, _ = await found.run(lambda: ta.timesheet(chosen, chosen))
    return render.page(
        request,
        "today.html",
        visitor,
        day=chosen,
        zone=ta.zone,
        report=report,
        sites=by_site(days),
        latest=await _latest(request, ta.zone, visitor),
    )


@router.get(
    "/admin/today/latest",
    summary="Console: the latest decisions",
    responses=errors(401),
)
async def latest(request: Request, visitor: Reader) -> JSONResponse:
    """The latest decisions, newest first, for the Today page's live list."""
    return JSONResponse(
        jsonable_encoder(
            {"events": await _latest(request, time_attendance(request).zone, visitor)}
        ),
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
