"""GET /v1/timesheet: the payroll timesheet (docs/TIME_AND_ATTENDANCE.md) for the
reporter and admin roles, as JSON or as the payroll CSV."""

from __future__ import annotations

import io
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from facedb import timezones
from facedb.api import docs
from facedb.api.auth import require
from facedb.api.jsonbody import JsonRoute
from facedb.api.state import state_of
from facedb.domain.keys import ApiKeyInfo
from facedb.domain.names import NAME_MAX_LENGTH
from facedb.timeattendance import TimeAttendance, payroll_json, write_payroll_csv

router = APIRouter(prefix="/v1", tags=["records"], route_class=JsonRoute)

_NAME = Query(max_length=NAME_MAX_LENGTH)


@router.get(
    "/timesheet",
    responses={
        200: {
            "description": "`{columns, days, totals}` (JSON) or the payroll CSV",
            "content": {"text/csv": {}},
        },
        **docs.errors(401, 403, 404, 422, 503),
    },
)
async def timesheet(
    request: Request,
    _: Annotated[ApiKeyInfo, Depends(require("report"))],
    date_from: Annotated[
        str, Query(alias="from", max_length=20, description="First day: YYYY-MM-DD or today.")
    ] = "today",
    to: Annotated[
        str | None, Query(max_length=20, description="Last day (default: the first).")
    ] = None,
    site: Annotated[str | None, _NAME] = None,
    group: Annotated[str | None, _NAME] = None,
    person: Annotated[str | None, _NAME] = None,
    tz: Annotated[
        str | None,
        Query(
            max_length=64, description="Default zone (people with no site; default: the server's)."
        ),
    ] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    """One row per person and work day (scheduled start and end, first in, last out,
    worked, late, early leave, missing clock-out, absent, leave, holiday, overtime)
    and per-person totals (reporter, admin)."""
    state = state_of(request)
    service = TimeAttendance(state.settings, tz, state.service.database)
    first: date = timezones.parse_day(date_from, service.zone)
    last: date = timezones.parse_day(to, service.zone) if to else first
    if format == "csv":
        out = io.BytesIO()
        await state.run(
            lambda: write_payroll_csv(
                state.settings,
                service.zone,
                out,
                first,
                last,
                site=site,
                group=group,
                person=person,
                service=service,
            )
        )
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8")
    days, people = await state.run(
        lambda: service.timesheet(first, last, site=site, group=group, person=person)
    )
    return JSONResponse(jsonable_encoder(payroll_json(days, people)))
