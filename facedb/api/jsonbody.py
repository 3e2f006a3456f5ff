"""JSON request bodies: bounded in values and parsed in a worker thread.

The body's size is already bounded (limits.BodyLimitMiddleware), but what parsing
costs is not: 18 MB of tiny objects took 2-4 s of the event loop and ~450 MB. So a
body holding more than MAX_JSON_VALUES values (counted from its commas, brackets and
braces, without parsing) is refused with 413, and every body is parsed off the event
loop. Base64 images hold no such characters: ten of them in one body are 12 values.

Routers whose routes take a JSON body (a pydantic model) use ``route_class=JsonRoute``:
FastAPI then parses it here instead of on the event loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

# Values (objects, arrays and the items between commas) one JSON body may hold.
MAX_JSON_VALUES = 10_000


def too_many_values(body: bytes) -> bool:
    """An upper bound on the values of ``body`` above MAX_JSON_VALUES (commas inside
    strings count too: the bound is conservative for text, exact for base64)."""
    return body.count(b",") + body.count(b"[") + body.count(b"{") >= MAX_JSON_VALUES


def _parse(body: bytes) -> Any:
    if too_many_values(body):
        raise StarletteHTTPException(
            413, f"the JSON body holds more than {MAX_JSON_VALUES} values (the limit)"
        )
    return json.loads(body)


async def parse_json(body: bytes) -> Any:
    """``body`` parsed in a worker thread. Raises HTTPException 413 above
    MAX_JSON_VALUES, and what json.loads raises (ValueError, RecursionError)."""
    return await run_in_threadpool(_parse, body)


class _JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = await parse_json(await self.body())
        return self._json


class JsonRoute(APIRoute):
    """A route whose JSON body is parsed by parse_json (bounded, off the event loop)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(_JsonRequest(request.scope, request.receive))

        return handle
