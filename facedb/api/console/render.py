"""The console's pages: Jinja2 templates (facedb/api/console/templates, escaped
automatically) rendered with the kiosk pages' strict browser headers, and the HTML
form of an error for a browser."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from facedb.api.console.sessions import CSRF_FIELD, Visitor
from facedb.api.pages import PAGE_HEADERS

TEMPLATES = Path(__file__).resolve().parent / "templates"
HEADERS = {**PAGE_HEADERS, "Cache-Control": "no-store"}  # pages name people
# The pages of the menu: (path, title, admin only).
MENU = (
    ("/admin/today", "Today", False),
    ("/admin/people", "People", True),
    ("/admin/timesheets", "Timesheets", False),
    ("/admin/review", "Review", True),
    ("/admin/setup", "Setup", True),
)


def clock(moment: datetime | None, zone: str | None = None, fmt: str = "%H:%M") -> str:
    if moment is None:
        return ""
    return (moment.astimezone(ZoneInfo(zone)) if zone else moment).strftime(fmt)


def hours(minutes: int | None) -> str:
    if not minutes:
        return ""
    return f"{minutes // 60}:{minutes % 60:02d}"


def number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html",), default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(clock=clock, hours=hours, number=number)


def page(
    request: Request,
    template: str,
    visitor: Visitor | None,
    http_status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page of the console for this visitor (None: signed out)."""
    menu = [
        (path, title)
        for path, title, admin in MENU
        if visitor is not None and (visitor.admin or not admin)
    ]
    html = _env.get_template(template).render(
        visitor=visitor,
        csrf=visitor.csrf if visitor else "",
        csrf_field=CSRF_FIELD,
        menu=menu,
        path=request.url.path,
        message=request.query_params.get("msg", "")[:300],
        **context,
    )
    return HTMLResponse(html, status_code=http_status, headers=HEADERS)


def error_page(request: Request, status: int, code: str, message: str) -> HTMLResponse:
    """An error as a browser sees it: the page, with the error's HTTP status."""
    return page(request, "error.html", None, http_status=status, code=code, error=message)
