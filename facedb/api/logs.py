"""Server logs without secrets: the kiosk page takes its key as ?key=..., and
uvicorn's access log would otherwise write that key in clear."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

_KEY_IN_QUERY = re.compile(r"([?&]key=)[^&#\s]*", re.IGNORECASE)


def redact_keys(text: str) -> str:
    """The text with the value of every ``key=`` query parameter replaced by ***."""
    return _KEY_IN_QUERY.sub(r"\1***", text)


class RedactKeysFilter(logging.Filter):
    """Rewrites the arguments of a log record (uvicorn's access log passes the path
    and query as one) so that no API key reaches a log file."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_keys(a) if isinstance(a, str) else a for a in record.args)
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration, with keys redacted from the access log."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_keys"] = {"()": RedactKeysFilter}
    config["handlers"]["access"]["filters"] = ["redact_keys"]
    return config
