"""Structured logs: one JSON object a line (FACEDB_LOG_FORMAT=json), for log
collectors (Loki, Elasticsearch, journald's JSON readers)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; any other attribute came from ``extra=`` and is kept.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message", ...extra fields, "exception"}."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key != "color_message":
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def configure(config: dict[str, Any], log_format: str) -> dict[str, Any]:
    """A logging dictConfig (uvicorn's) as it is for log_format "text"; for "json",
    with every formatter made JSON."""
    if log_format == "json":
        for name in config.get("formatters", {}):
            config["formatters"][name] = {"()": JsonFormatter}
    return config
