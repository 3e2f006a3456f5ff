"""Webhook deliveries: one signed HTTP POST of one event's JSON.

Headers of every delivery (README "Events and monitoring"):

    Content-Type: application/json
    X-Facedb-Event-Id: <event id>            receivers deduplicate by it
    X-Facedb-Timestamp: <unix seconds>       when this attempt was signed
    X-Facedb-Delivery-Attempt: <1, 2, ...>
    X-Facedb-Signature: sha256=<hex>         with a secret: HMAC-SHA256(secret,
                                             "<timestamp>.<body>")

A 2xx answer acknowledges; anything else (another status, a redirect, a refused
connection, a timeout) is a failed attempt, retried later. Redirects are not followed.
The connection goes only where events/addresses.py allows, checked at every attempt.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from facedb import __version__
from facedb.errors import InvalidInputError
from facedb.events import addresses

SIGNATURE_HEADER = "X-Facedb-Signature"
TIMESTAMP_HEADER = "X-Facedb-Timestamp"
EVENT_ID_HEADER = "X-Facedb-Event-Id"
ATTEMPT_HEADER = "X-Facedb-Delivery-Attempt"
URL_MAX_LENGTH = 2000
# Enough of the receiver's answer to say why it failed.
ERROR_BODY_BYTES = 200


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str  # "HTTP 200", "HTTP 503: busy", "connection refused", ...


def check_url(url: str, *, allow_private: bool = False) -> str:
    """The URL, if it is an http(s) URL with a host that addresses.check_host allows;
    else InvalidInputError."""
    if len(url) > URL_MAX_LENGTH or not url.isprintable() or any(c.isspace() for c in url):
        raise InvalidInputError("a webhook URL is printable, without spaces, 2000 chars at most")
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # a port out of range raises ValueError
    except ValueError:  # "http://[::1", "http://host:99999"
        valid = False
    if not valid:
        raise InvalidInputError(
            f"a webhook URL is http:// or https:// with a host and a valid port, not {url!r}"
        )
    if "@" in parts.netloc:  # urllib would not send it, and hooks list would show it
        raise InvalidInputError("a webhook URL has no user:password@ (deliveries are signed)")
    addresses.check_host(parts.hostname or "", allow_private=allow_private)
    return url


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Facedb-Signature value: sha256= and the hex HMAC of "<timestamp>.<body>"."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str, timestamp: str, body: bytes, header: str, *, tolerance: float = 300.0
) -> bool:
    """What a receiver checks: the signature, and a timestamp within ``tolerance`` s
    of now (a replayed old request is refused)."""
    try:
        age = abs(time.time() - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(signature(secret, timestamp, body), header)


def headers(event_id: str, body: bytes, secret: str | None, attempt: int) -> dict[str, str]:
    timestamp = str(int(time.time()))
    result = {
        "Content-Type": "application/json",
        "User-Agent": f"facedb/{__version__}",
        EVENT_ID_HEADER: event_id,
        TIMESTAMP_HEADER: timestamp,
        ATTEMPT_HEADER: str(attempt),
    }
    if secret:
        result[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return result


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is an answer, not an acknowledgement


def _checked(
    connection: type[http.client.HTTPConnection], allow_private: bool
) -> Callable[..., http.client.HTTPConnection]:
    """``connection`` whose socket goes only to an address allowed by addresses.py."""

    def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
        made = connection(*args, **kwargs)
        made._create_connection = functools.partial(  # type: ignore[attr-defined]
            addresses.connect_checked, allow_private=allow_private
        )
        return made

    return make


class _CheckedHTTP(urllib.request.HTTPHandler):
    def __init__(self, allow_private: bool) -> None:
        super().__init__()
        self.allow_private = allow_private

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_checked(http.client.HTTPConnection, self.allow_private), req)


class _CheckedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, allow_private: bool) -> None:
        super().__init__()
        self.allow_private = allow_private

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = _checked(http.client.HTTPSConnection, self.allow_private)
        return self.do_open(connection, req, context=self._context)  # type: ignore[attr-defined]


_openers = {
    allow: urllib.request.build_opener(_NoRedirect, _CheckedHTTP(allow), _CheckedHTTPS(allow))
    for allow in (False, True)
}


def post(
    url: str,
    payload: dict[str, Any],
    *,
    secret: str | None,
    attempt: int,
    timeout: float,
    allow_private: bool = False,
) -> Outcome:
    """One attempt; never raises for what the network or the receiver does. The
    connection goes only to an address events/addresses.py allows (private ones with
    ``allow_private``), checked on the address connected to."""
    body = encode(payload)
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers=headers(str(payload.get("event_id", "")), body, secret, attempt),
    )
    try:
        with _openers[allow_private].open(request, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        snippet = exc.read(ERROR_BODY_BYTES).decode("utf-8", "replace").strip()
        return Outcome(False, f"HTTP {exc.code}" + (f": {snippet}" if snippet else ""))
    except urllib.error.URLError as exc:
        return Outcome(False, f"cannot reach the receiver: {exc.reason}")
    except (OSError, ValueError) as exc:  # timeouts, resets, a malformed answer
        return Outcome(False, f"cannot reach the receiver: {exc or type(exc).__name__}")
    return Outcome(200 <= status < 300, f"HTTP {status}")
