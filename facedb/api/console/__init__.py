"""The admin console at /admin (docs/CONSOLE.md): server-rendered pages (Jinja2, a
little JavaScript) over the same use cases as the CLI and the /v1 API, for admin
and, read-only, reporter keys signed in to a session.

    install(app)   the console's routes (in the OpenAPI schema, tag "console"), its
                   static files at /admin/static, its sessions, and errors as pages
                   for a browser on /admin
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from facedb import errors
from facedb.api.console import people, render, review, setup, signin, timesheets, today
from facedb.api.console.sessions import Sessions
from facedb.api.errors import ApiError
from facedb.api.pages import PAGE_HEADERS

STATIC = Path(__file__).resolve().parent / "static"
Handler = Callable[[Request, Exception], Awaitable[Response]]


class _Assets(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(PAGE_HEADERS)
        return response


def router() -> APIRouter:
    """Every route of the console."""
    combined = APIRouter(tags=["console"])
    for part in (signin, today, people, timesheets, review, setup):
        combined.include_router(part.router)
    return combined


def install(app: FastAPI) -> None:
    """Adds the console to the app (after facedb.api.errors.install)."""
    app.state.console_sessions = Sessions()
    app.include_router(router())
    app.mount("/admin/static", _Assets(directory=STATIC), name="console-static")
    for kind in (errors.FacedbError, ApiError, RequestValidationError, StarletteHTTPException):
        _as_page(app, kind)


def _wants_page(request: Request) -> bool:
    return request.url.path.startswith("/admin") and "text/html" in request.headers.get(
        "accept", ""
    )


def _as_page(app: FastAPI, kind: type[Exception]) -> None:
    """The error answers of a browser on /admin as pages (same status); a sign-in
    needed on a page: the sign-in page. Other requests keep the JSON error form."""
    original = cast(Handler, app.exception_handlers[kind])

    async def handler(request: Request, exc: Exception) -> Response:
        answer = await original(request, exc)
        if not _wants_page(request):
            return answer
        if answer.status_code == 401 and request.method == "GET":
            return RedirectResponse("/admin/login", status_code=303)
        error = json.loads(bytes(answer.body)).get("error", {})
        return render.error_page(
            request, answer.status_code, str(error.get("code")), str(error.get("message"))
        )

    app.add_exception_handler(kind, handler)
