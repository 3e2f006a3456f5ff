"""API keys on requests: `Authorization: Bearer <key>` or `X-API-Key: <key>`.

No key or an unknown, revoked or expired key: 401. A key whose role may not do the action: 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from facedb import access
from facedb.api.errors import ApiError
from facedb.api.state import state_of
from facedb.domain.keys import ApiKeyInfo

_bearer = HTTPBearer(
    auto_error=False, description="A facedb API key (`facedb keys create`) as a bearer token."
)
_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="A facedb API key (`facedb keys create`)."
)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def require(action: str, *others: str) -> Callable[..., Awaitable[ApiKeyInfo]]:
    """A dependency: the request's key, which must allow ``action`` or one of the
    ``others`` (facedb.access; the route then checks which its request is)."""
    for name in (action, *others):
        if name not in access.ACTIONS:
            raise ValueError(f"unknown action {name!r}")

    async def check(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
        header: Annotated[str | None, Security(_header)],
    ) -> ApiKeyInfo:
        token = bearer.credentials if bearer is not None else header
        if not token:
            raise ApiError(
                401,
                "unauthorized",
                "an API key is needed: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
                _CHALLENGE,
            )
        state = state_of(request)
        key = await state.run(lambda: access.authenticate(state.service, token))
        if key is None:
            raise ApiError(401, "unauthorized", "unknown, revoked or expired API key", _CHALLENGE)
        actions = (action, *others)
        if not any(access.allows(key.role, a) for a in actions):
            allowed = " or ".join(
                r for r, may in access.PERMISSIONS.items() if any(a in may for a in actions)
            )
            raise ApiError(
                403,
                "forbidden",
                f"a {key.role} key may not use {request.method} {request.url.path}: "
                f"it needs {'an' if allowed[:1] in 'aeiou' else 'a'} {allowed} key",
            )
        return key

    return check
