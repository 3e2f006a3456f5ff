"""Setup: sites, groups, devices, shifts and assignments, holidays, leave, API keys
(create, shown once; revoke), webhooks and MQTT, and health (admin)."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from facedb import access, timezones
from facedb.api.console import render
from facedb.api.console.common import Admin, Changer, back, state, time_attendance
from facedb.api.docs import errors
from facedb.domain.constants import API_KEY_ROLES
from facedb.domain.names import NAME_MAX_LENGTH
from facedb.events import hooks
from facedb.timeattendance import parse_weekdays
from facedb.usecases import doctor

router = APIRouter()
_NAME = Form(min_length=1, max_length=NAME_MAX_LENGTH)
_DAY = Form(max_length=10, description="YYYY-MM-DD")


@router.get(
    "/admin/setup",
    response_class=Response,
    responses=errors(401, 403, 404, 422),
    summary="Console: setup",
)
async def setup_page(request: Request, visitor: Admin) -> Response:
    """Sites, groups, devices, shifts, holidays, leave, keys, hooks and health."""
    found = state(request)
    ta = time_attendance(request)

    def gather() -> dict[str, Any]:
        return {
            "sites": ta.sites(),
            "groups": ta.groups(),
            "devices": ta.devices(),
            "shifts": ta.shifts(),
            "assignments": ta.assignments(),
            "holidays": ta.holidays(None, None),
            "leave": ta.leave(None, None),
            "keys": access.list_keys(found.service),
            "sinks": hooks.status(found.service),
            "health": found.service.health(),
        }

    return render.page(
        request, "setup.html", visitor, zone=ta.zone, roles=API_KEY_ROLES, **await found.run(gather)
    )


@router.get(
    "/admin/setup/doctor",
    response_class=Response,
    responses=errors(401, 403, 404, 422),
    summary="Console: facedb doctor",
)
async def doctor_page(request: Request, visitor: Admin) -> Response:
    """What `facedb doctor` reports on this server (takes a few seconds)."""
    found = state(request)
    checks = await found.run(lambda: doctor.run_checks(found.settings))
    return render.page(request, "doctor.html", visitor, checks=checks)


@router.post(
    "/admin/setup/sites",
    response_class=Response,
    status_code=303,
    summary="Console: add a site",
    responses=errors(401, 403, 409, 422),
)
async def add_site(
    request: Request,
    _: Changer,
    name: Annotated[str, _NAME],
    timezone: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A site with its time zone (default: the server's)."""
    ta = time_attendance(request)
    site = await state(request).run(lambda: ta.add_site(name, timezone.strip() or None))
    return back("/admin/setup", f"site {site.name} ({site.timezone}) added")


@router.post(
    "/admin/setup/groups",
    response_class=Response,
    status_code=303,
    summary="Console: add a group",
    responses=errors(401, 403, 409, 422),
)
async def add_group(
    request: Request,
    _: Changer,
    name: Annotated[str, _NAME],
    kind: Annotated[str, Form(pattern="^(department|team)$")] = "team",
) -> Response:
    """A department or a team (people join it on their page)."""
    ta = time_attendance(request)
    group = await state(request).run(lambda: ta.add_group(name, kind))
    return back("/admin/setup", f"group {group.name} added")


@router.post(
    "/admin/setup/shifts",
    response_class=Response,
    status_code=303,
    summary="Console: add a shift",
    responses=errors(401, 403, 409, 422),
)
async def add_shift(
    request: Request,
    _: Changer,
    name: Annotated[str, _NAME],
    start: Annotated[str, Form(pattern=r"^\d{2}:\d{2}$", description="HH:MM")],
    end: Annotated[
        str, Form(pattern=r"^\d{2}:\d{2}$", description="HH:MM (before start: next day)")
    ],
    weekdays: Annotated[
        str, Form(max_length=40, description="mon-fri, sat-sun, all...")
    ] = "mon-fri",
    break_minutes: Annotated[int, Form(ge=0, le=1440)] = 0,
    grace_minutes: Annotated[int, Form(ge=0, le=1440)] = 0,
) -> Response:
    """A shift: start and end times, its days, break and grace minutes."""
    ta = time_attendance(request)
    days = parse_weekdays(weekdays)
    shift = await state(request).run(
        lambda: ta.add_shift(
            name,
            time.fromisoformat(start),
            time.fromisoformat(end),
            days,
            break_minutes,
            grace_minutes,
        )
    )
    return back("/admin/setup", f"shift {shift.name} added")


@router.post(
    "/admin/setup/assignments",
    response_class=Response,
    status_code=303,
    summary="Console: assign a shift to a person or a group",
    responses=errors(401, 403, 404, 422),
)
async def assign_shift(
    request: Request,
    _: Changer,
    shift: Annotated[str, _NAME],
    first: Annotated[str, _DAY],
    person: Annotated[str, Form(max_length=NAME_MAX_LENGTH)] = "",
    group: Annotated[str, Form(max_length=NAME_MAX_LENGTH)] = "",
    last: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """The shift of a person or of a group's members from a day (to a day)."""
    ta = time_attendance(request)
    valid_from = timezones.parse_day(first, ta.zone)
    valid_to = timezones.parse_day(last, ta.zone) if last else None
    await state(request).run(
        lambda: ta.assign_shift(
            shift,
            person=person or None,
            group=group or None,
            valid_from=valid_from,
            valid_to=valid_to,
        )
    )
    return back("/admin/setup", f"shift {shift} assigned")


@router.post(
    "/admin/setup/holidays",
    response_class=Response,
    status_code=303,
    summary="Console: add a holiday",
    responses=errors(401, 403, 409, 422),
)
async def add_holiday(
    request: Request,
    _: Changer,
    day: Annotated[str, _DAY],
    name: Annotated[str, _NAME],
    site: Annotated[str, Form(max_length=NAME_MAX_LENGTH)] = "",
) -> Response:
    """A public holiday, for one site or every site."""
    ta = time_attendance(request)
    chosen = timezones.parse_day(day, ta.zone)
    await state(request).run(lambda: ta.add_holiday(chosen, name, site or None))
    return back("/admin/setup", f"holiday {chosen} added")


@router.post(
    "/admin/setup/leave",
    response_class=Response,
    status_code=303,
    summary="Console: record leave",
    responses=errors(401, 403, 404, 422),
)
async def add_leave(
    request: Request,
    visitor: Changer,
    person: Annotated[str, _NAME],
    kind: Annotated[str, Form(min_length=1, max_length=40)],
    first: Annotated[str, _DAY],
    last: Annotated[str, _DAY],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Whole days of leave for a person; the signed-in key is recorded."""
    ta = time_attendance(request)
    day_from = timezones.parse_day(first, ta.zone)
    day_to = timezones.parse_day(last, ta.zone)
    await state(request).run(
        lambda: ta.add_leave(
            person, kind, day_from, day_to, None, note.strip() or None, visitor.key.name
        )
    )
    return back("/admin/setup", f"leave recorded for {person}")


@router.post(
    "/admin/setup/keys",
    response_class=Response,
    status_code=201,
    summary="Console: create an API key",
    responses=errors(401, 403, 409, 422),
)
async def create_key(
    request: Request,
    visitor: Changer,
    name: Annotated[str, _NAME],
    role: Annotated[str, Form(pattern="^(" + "|".join(API_KEY_ROLES) + ")$")],
) -> Response:
    """A new key; its token is shown on this page once and never again."""
    found = state(request)
    new = await found.run(lambda: access.create_key(found.service, name, role))
    return render.page(request, "key.html", visitor, http_status=201, new=new)


@router.post(
    "/admin/setup/keys/{name}/revoke",
    response_class=Response,
    status_code=303,
    summary="Console: revoke an API key",
    responses=errors(401, 403, 404),
)
async def revoke_key(request: Request, name: str, _: Changer) -> Response:
    """Revokes a key at once (its sessions end too)."""
    found = state(request)
    revoked = await found.run(lambda: access.revoke_key(found.service, name))
    return back("/admin/setup", f"key {revoked.name} revoked")
