"""Secrets out of output: one function masks the secrets of a URL wherever facedb
prints, logs or raises one (database URLs, camera streams, webhook and MQTT URLs).

A URL may carry a secret in its user-info (``postgresql://user:pw@host/db``) or in its
query string (libpq's ``?password=``, ``sslpassword=``, a stream's ``?token=``). Both
become ``***``; the rest of the URL stays as written so that a person can tell which
server it is.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

MASK = "***"
# Query keys whose value is a secret (compared in lower case, ignoring - and _).
SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "sslpassword",
        "secret",
        "token",
        "accesstoken",
        "apikey",
        "key",
        "auth",
        "authorization",
        "signature",
        "sig",
        "clientsecret",
    }
)
# Up to the last "@" before the path: a password may hold an unencoded "@" (ffmpeg
# takes the last one for a camera URL), and all of it is masked.
_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)([^/?#]*)@")
# libpq keyword=value connection strings: "host=h password=secret dbname=d".
_KEYWORD_VALUE = re.compile(r"""(?i)\b(password|sslpassword)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)""")


def is_secret_key(key: str) -> bool:
    return key.lower().replace("-", "").replace("_", "") in SECRET_KEYS


def mask_url(url: str, *, hide_user: bool = False) -> str:
    """``url`` with its password (user-info and query) replaced by ``***``.

    ``hide_user``: replace the whole user-info (user name too) by ``***``.
    A string that is not a URL is searched for libpq ``password=...`` pairs.
    """
    if "://" not in url:
        return _KEYWORD_VALUE.sub(lambda m: f"{m.group(1)}={MASK}", url)
    match = _USERINFO.match(url)
    if match:
        userinfo = match.group(2)
        if hide_user:
            shown = MASK
        elif ":" in userinfo:
            shown = userinfo.split(":", 1)[0] + ":" + MASK
        else:
            shown = userinfo
        url = match.group(1) + shown + "@" + url[match.end() :]
    try:
        parts = urlsplit(url)
    except ValueError:
        return _KEYWORD_VALUE.sub(lambda m: f"{m.group(1)}={MASK}", url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(is_secret_key(key) for key, _ in pairs):
        return url
    query = "&".join(
        f"{quote(key, safe='')}={MASK if is_secret_key(key) else quote(value, safe='')}"
        for key, value in pairs
    )
    return urlunsplit(parts._replace(query=query))


def mask_text(text: str) -> str:
    """Every URL found in a free-form message masked (a driver's error text, a log line)."""
    return re.sub(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+", lambda m: mask_url(m.group(0)), text)


def redact_url(url: str) -> str:
    """``url`` with its whole user-info (user name too) and secret query values masked:
    how camera streams and model downloads show in logs and messages."""
    return mask_url(url, hide_user=True)
