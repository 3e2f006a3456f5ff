"""Routes over the records: people, the attendance log, reports, and health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from facedb import __version__, timezones
from facedb.api import docs
from facedb.api.auth import require
from facedb.api.jsonbody import JsonRoute
from facedb.api.schemas import (
    AttendanceOut,
    DatabaseHealth,
    ForgetOut,
    HealthOut,
    ModelHealth,
    RemovedOut,
    ReportOut,
    UserOut,
)
from facedb.api.state import state_of
from facedb.domain.keys import ApiKeyInfo
from facedb.domain.names import NAME_MAX_LENGTH
from facedb.errors import InvalidInputError

router = APIRouter(prefix="/v1", tags=["records"], route_class=JsonRoute)

# A report covers at most this many days.
MAX_REPORT_DAYS = 366


@router.get("/users", response_model=list[UserOut], responses=docs.errors(401, 403, 503))
async def list_users(
    request: Request, _: Annotated[ApiKeyInfo, Depends(require("users"))]
) -> list[UserOut]:
    """Everyone enrolled, with their number of stored faces (admin)."""
    state = state_of(request)
    return [UserOut.of(u) for u in await state.run(state.service.users)]


@router.delete(
    "/users/{name}", response_model=RemovedOut, responses=docs.errors(401, 403, 404, 422, 503)
)
async def remove_user(
    request: Request,
    name: str,
    _: Annotated[ApiKeyInfo, Depends(require("users"))],
) -> RemovedOut:
    """Remove a person and their stored faces (admin). Their attendance rows stay,
    unlinked, and are no longer counted as accepted in reports; the vectors leave the
    database's files (as `forget`)."""
    state = state_of(request)
    removed = await state.run(lambda: state.service.remove_user(name))
    return RemovedOut(name=name, embeddings_removed=removed)


@router.post(
    "/users/{name}/forget",
    response_model=ForgetOut,
    responses=docs.errors(401, 403, 404, 422, 503),
)
async def forget_user(
    request: Request,
    name: str,
    _: Annotated[ApiKeyInfo, Depends(require("users"))],
    attendance: Annotated[
        str,
        Query(
            pattern="^(keep|anonymise|delete)$",
            description="Their attendance rows: kept as theirs, unlinked, or deleted.",
        ),
    ] = "anonymise",
) -> ForgetOut:
    """Erase a person (admin), as `facedb users forget`: every stored face, their
    evidence, their name in outbox payloads and others' evidence; the files that
    held the vectors are rewritten (the request waits for it: seconds). Final: a
    kiosk that comes back online with their events or faces does not bring them back."""
    state = state_of(request)
    result = await state.run(lambda: state.service.forget_user(name, attendance, shred=True))
    return ForgetOut(
        name=result.name,
        embeddings_removed=result.embeddings,
        attendance=result.attendance,
        attendance_rows=result.attendance_rows,
        shredded=result.shred is not None and result.shred.complete,
    )


@router.get(
    "/attendance",
    response_model=list[AttendanceOut],
    responses=docs.errors(401, 403, 404, 422, 503),
)
async def attendance(
    request: Request,
    _: Annotated[ApiKeyInfo, Depends(require("attendance"))],
    since: Annotated[
        datetime | None, Query(description="Only events from then on (ISO 8601; no zone: UTC).")
    ] = None,
    user: Annotated[
        str | None, Query(max_length=NAME_MAX_LENGTH, description="Only this person's events.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[AttendanceOut]:
    """Attendance rows, newest first (reporter, admin)."""
    moment = _utc(since) if since is not None else None
    state = state_of(request)
    rows = await state.run(lambda: state.service.attendance(moment, user, limit))
    return [AttendanceOut.of(r) for r in rows]


def _utc(moment: datetime) -> datetime:
    """The moment in UTC (a naive one is read as UTC); PostgreSQL takes any."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInputError(f"since is out of range: {moment.isoformat()}") from None


@router.get("/report", response_model=ReportOut, responses=docs.errors(401, 403, 422, 503))
async def report(
    request: Request,
    _: Annotated[ApiKeyInfo, Depends(require("report"))],
    date: Annotated[str, Query(max_length=20, description="today, yesterday or YYYY-MM-DD")] = (
        "today"
    ),
    to: Annotated[
        str | None, Query(max_length=20, description="Last day of a period (default: date).")
    ] = None,
    tz: Annotated[
        str | None, Query(max_length=64, description="IANA time zone (default: the server's).")
    ] = None,
) -> ReportOut:
    """Who came (first and last seen), who is absent, and the attempts, per local
    day in `tz` (reporter, admin)."""
    zone = timezones.zone_or_local(tz)
    first = timezones.parse_day(date, zone)
    last = timezones.parse_day(to, zone) if to else first
    if last - first > timedelta(days=MAX_REPORT_DAYS):
        raise InvalidInputError(f"a report covers at most {MAX_REPORT_DAYS} days")
    state = state_of(request)
    return ReportOut.of(await state.run(lambda: state.service.report(first, last, zone)))


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
async def health(request: Request) -> JSONResponse:
    """Whether the database answers and the models are loaded, with the execution
    provider each model runs on. No key needed. "degraded: offline" (200) when the
    database is unreachable but kiosks are still answered (the models are loaded and
    a local copy of the API keys is usable: verifications are decided on the gallery
    cache and spooled); 503 "unavailable" when nothing can be answered."""
    state = state_of(request)
    found = await state.run(state.service.health)
    database = DatabaseHealth(ok=found.database_error is None, error=found.database_error)
    healthy = (database.ok or found.offline) and found.models_error is None
    body = HealthOut(
        status="ok"
        if database.ok and healthy
        else "degraded: offline"
        if healthy
        else "unavailable",
        version=__version__,
        device=state.settings.device_name,
        database=database,
        models=[ModelHealth(name=m.name, role=m.role, provider=m.provider) for m in found.models],
        models_error=found.models_error,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if healthy else 503)
