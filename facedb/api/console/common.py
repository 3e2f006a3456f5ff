"""What the console's routes share: the use cases on the server's runtime, answers
that send the browser back to a page, and the console's dependencies."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request
from starlette.responses import RedirectResponse

from facedb.api.console import sessions
from facedb.api.console.sessions import Visitor
from facedb.api.state import ApiState, state_of
from facedb.timeattendance import TimeAttendance

# Dependencies of the console's routes (facedb.api.console.sessions).
Reader = Annotated[Visitor, Depends(sessions.signed_in)]
Admin = Annotated[Visitor, Depends(sessions.admin)]
Changer = Annotated[Visitor, Depends(sessions.changer)]


def state(request: Request) -> ApiState:
    return state_of(request)


def time_attendance(request: Request) -> TimeAttendance:
    """The time and attendance use cases on the server's database, in its zone."""
    found = state_of(request)
    return TimeAttendance(found.settings, None, found.service.database)


def back(path: str, message: str = "", **query: str) -> RedirectResponse:
    """303 to a console page (only /admin/...), with a message for its banner."""
    if not path.startswith("/admin/") or "//" in path or "\\" in path:
        path = "/admin/today"
    params = {k: v for k, v in query.items() if v}
    if message:
        params["msg"] = message
    return RedirectResponse(path + ("?" + urlencode(params) if params else ""), status_code=303)
