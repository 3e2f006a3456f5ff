"""Signed-in visitors of the console: a session opened by an admin or reporter key,
kept in this server's memory and named by a random id in an HttpOnly, SameSite=Strict
cookie; every change also carries the session's CSRF token (a form field or the
X-CSRF-Token header).

The key itself stays on the server: each request checks it again (facedb.access), so
a revoked key ends its sessions at once. Sessions live in one process: behind several
workers, a visitor signs in again when another worker answers.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request

from facedb import access
from facedb.api.errors import ApiError
from facedb.api.state import state_of
from facedb.domain.keys import ApiKeyInfo

COOKIE = "facedb_console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
# A session ends after this long without a request.
IDLE_SECONDS = 8 * 3600
CONSOLE_ROLES = ("admin", "reporter")


@dataclass(frozen=True)
class Visitor:
    """Who is signed in: their key (never its token) and the session's CSRF token."""

    key: ApiKeyInfo
    csrf: str

    @property
    def admin(self) -> bool:
        return access.allows(self.key.role, "users")


@dataclass
class _Session:
    token: str
    csrf: str
    seen: float


class Sessions:
    """The open sessions of this process, by their random id."""

    def __init__(self) -> None:
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def open(self, token: str) -> tuple[str, str]:
        """A new session for a checked key token: (session id, CSRF token)."""
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._lock:
            self._drop_idle()
            self._sessions[session_id] = _Session(token, csrf, time.monotonic())
        return session_id, csrf

    def find(self, session_id: str) -> _Session | None:
        with self._lock:
            found = self._sessions.get(session_id)
            if found is None or time.monotonic() - found.seen > IDLE_SECONDS:
                self._sessions.pop(session_id, None)
                return None
            found.seen = time.monotonic()
            return found

    def close(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def _drop_idle(self) -> None:
        now = time.monotonic()
        for sid in [s for s, v in self._sessions.items() if now - v.seen > IDLE_SECONDS]:
            del self._sessions[sid]


def sessions_of(request: Request) -> Sessions:
    found = getattr(request.app.state, "console_sessions", None)
    if not isinstance(found, Sessions):
        raise RuntimeError("the console is not installed (facedb.api.console.install)")
    return found


async def key_of_token(request: Request, token: str) -> ApiKeyInfo | None:
    """The live key of a token, if it may sign in to the console."""
    state = state_of(request)
    key = await state.run(lambda: access.authenticate(state.service, token))
    return key if key is not None and key.role in CONSOLE_ROLES else None


async def visitor(request: Request) -> Visitor | None:
    """The signed-in visitor of a request, or None."""
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    found = sessions_of(request).find(session_id)
    if found is None:
        return None
    key = await key_of_token(request, found.token)
    if key is None:
        sessions_of(request).close(session_id)
        return None
    return Visitor(key, found.csrf)


async def signed_in(request: Request) -> Visitor:
    """A dependency: the visitor, else 401 (pages redirect to the sign-in page)."""
    found = await visitor(request)
    if found is None:
        raise ApiError(401, "unauthorized", "sign in to the console first (/admin/login)")
    return found


async def admin(request: Request) -> Visitor:
    """A dependency: a signed-in admin, else 401/403."""
    found = await signed_in(request)
    if not found.admin:
        raise ApiError(403, "forbidden", f"a {found.key.role} may not use this page")
    return found


def same_origin(request: Request) -> None:
    """Refuses (403) a request whose Origin header names another site: browsers send
    it with every POST, so a form on another site cannot sign in or change anything
    here even before the CSRF token is checked. ("null", which the console's own
    pages send under Referrer-Policy: no-referrer, names no site.)"""
    origin = request.headers.get("origin")
    if origin not in (None, "null") and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise ApiError(403, "csrf", "a request from another site is refused")


async def changer(request: Request) -> Visitor:
    """A dependency of every change: a signed-in admin whose request carries the
    session's CSRF token, else 401/403."""
    same_origin(request)
    found = await signed_in(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not sent or not hmac.compare_digest(sent, found.csrf):
        raise ApiError(403, "csrf", "missing or wrong CSRF token: reload the page and try again")
    if not found.admin:
        raise ApiError(403, "forbidden", f"a {found.key.role} may not change anything")
    return found
