"""Helpers of the admin console's tests (tests/test_console*.py): signing in with a
TestClient and reading the CSRF token of a page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
HTML = {"Accept": "text/html"}


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, token: str) -> str:
    """Signs the client in; the session's CSRF token."""
    answer = client.post("/admin/login", data={"key": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    page = client.get("/admin/today", headers=HTML)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)
