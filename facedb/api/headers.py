"""Browser headers on what the API answers, and the interactive docs served from the
package (no CDN).

- ``/v1/*`` and ``/openapi.json``: ``X-Content-Type-Options: nosniff``, a CSP that
  lets nothing load or frame (``default-src 'none'; frame-ancestors 'none'``),
  ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store`` (answers name
  people). The kiosk's pages have their own (facedb/api/pages.py).
- ``/docs``: Swagger UI from the files of the ``fastapi-offline`` package, served at
  ``/docs-assets`` by this server, under a CSP that allows this server's scripts and
  the page's one inline script by its hash, nothing from elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
ASSETS = "/docs-assets"
_API_PREFIXES = ("/v1/", "/openapi.json")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


class ApiHeadersMiddleware:
    """Adds API_HEADERS to every answer under /v1/ and to /openapi.json."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(_API_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in API_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


def assets_dir() -> Path | None:
    """Swagger UI's files in the installed fastapi-offline package, if any."""
    try:
        folder = Path(str(resources.files("fastapi_offline"))) / "static"
    except ModuleNotFoundError:
        return None
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def install_docs(app: FastAPI, title: str) -> None:
    """/docs from local files (the app must be made with docs_url=None). Without the
    files, /docs is not served (never from a CDN)."""
    folder = assets_dir()
    if folder is None:
        return
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{title} - API docs",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon.png",
    )
    html = bytes(page.body).decode("utf-8")
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    headers = {
        "Content-Security-Policy": (
            f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }

    async def docs() -> HTMLResponse:
        return HTMLResponse(html, headers=headers)

    app.add_api_route("/docs", docs, include_in_schema=False)
    app.mount(ASSETS, StaticFiles(directory=folder), name="docs-assets")
