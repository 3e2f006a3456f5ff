"""The kiosk's static pages (facedb/api/static), served with strict browser headers:
scripts and connections to this server only, no framing, no referrer."""

from __future__ import annotations

from pathlib import Path

from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent / "static"

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=()",
    "Cache-Control": "no-cache",
}


class KioskPages(StaticFiles):
    """StaticFiles of the kiosk with PAGE_HEADERS on every page."""

    def __init__(self) -> None:
        super().__init__(directory=STATIC_DIR, html=True)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(PAGE_HEADERS)
        return response
