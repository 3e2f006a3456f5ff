"""Sign-in and sign-out: an admin or reporter key opens a session (cookie)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from facedb.access import MAX_TOKEN_LENGTH
from facedb.api.console import render, sessions
from facedb.api.console.common import Reader, back
from facedb.api.console.sessions import COOKIE, IDLE_SECONDS
from facedb.api.docs import errors

router = APIRouter()


@router.get("/admin", include_in_schema=False)
async def home() -> RedirectResponse:
    return RedirectResponse("/admin/today", status_code=303)


@router.get("/admin/login", response_class=Response, summary="Console: the sign-in page")
async def login_page(request: Request) -> Response:
    """The sign-in page (an admin or reporter key)."""
    return render.page(request, "login.html", await sessions.visitor(request))


@router.post(
    "/admin/login",
    response_class=Response,
    status_code=303,
    summary="Console: sign in",
    responses=errors(401, 422),
)
async def login(
    request: Request, key: Annotated[str, Form(max_length=MAX_TOKEN_LENGTH)]
) -> Response:
    """Opens a session for an admin or reporter key: an HttpOnly, SameSite=Strict
    cookie; the key stays on the server. A wrong key: 401 with the page again."""
    sessions.same_origin(request)
    found = await sessions.key_of_token(request, key)
    if found is None:
        return render.page(
            request,
            "login.html",
            None,
            http_status=401,
            error="unknown or revoked key, or not an admin or reporter key",
        )
    session_id, _ = sessions.sessions_of(request).open(key.strip())
    answer = back("/admin/today")
    answer.set_cookie(
        COOKIE,
        session_id,
        max_age=IDLE_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/admin",
    )
    return answer


@router.post(
    "/admin/logout",
    response_class=Response,
    status_code=303,
    summary="Console: sign out",
    responses=errors(401, 403),
)
async def logout(request: Request, visitor: Reader) -> Response:
    """Ends the session (the form carries the session's CSRF token)."""
    sent = (await request.form()).get(sessions.CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, visitor.csrf):
        return render.error_page(request, 403, "csrf", "missing or wrong CSRF token")
    sessions.sessions_of(request).close(request.cookies.get(COOKIE, ""))
    answer = back("/admin/login", "signed out")
    answer.delete_cookie(COOKIE, path="/admin")
    return answer
