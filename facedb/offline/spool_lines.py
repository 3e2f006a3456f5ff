"""The spool's line format: one attendance event as one line of ASCII JSON.

A line carries ``"v": FORMAT_VERSION``; a line that is not a complete event of this
version (torn by a crash, or written by another version) reads as None, and the spool
keeps it aside (facedb/offline/spool.py).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from facedb.domain.attendance import AttendanceEvent

FORMAT_VERSION = 1


def event_to_line(event: AttendanceEvent) -> bytes:
    record: dict[str, Any] = {"v": FORMAT_VERSION, **asdict(event)}
    record["event_id"] = str(event.event_id)
    record["occurred_at"] = event.occurred_at.isoformat()
    return (json.dumps(record, separators=(",", ":"), ensure_ascii=True) + "\n").encode("ascii")


# The event's fields as a spool line holds them: (name, type, required). "str" is never
# None; "int" and "float" may be. Fields that are not required are absent from lines
# spooled by earlier versions (the decision policy's record).
_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("kind", "str", True),
    ("decision", "str", True),
    ("device", "str", True),
    ("model", "str", True),
    ("user_id", "int", True),
    ("claimed_user_id", "int", True),
    ("similarity", "float", True),
    ("threshold", "float", True),
    ("liveness", "float", True),
    ("threshold_source", "str?", False),
    ("scope", "str?", False),
    ("gallery_persons", "int", False),
    ("gallery_faces", "int", False),
    ("fpir_target", "float", False),
    ("runner_up", "float", False),
    ("search_stage", "str?", False),
)


def _field(record: dict[str, Any], name: str, kind: str, required: bool) -> Any:
    """The value of one field, checked against its type (ValueError if it is not)."""
    value = record[name] if required else record.get(name)
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError(name)
        return value
    if value is None:
        return None
    if kind == "str?" and isinstance(value, str):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, int | float):
        return float(value)
    raise ValueError(name)


def event_from_line(line: bytes) -> AttendanceEvent | None:
    """The event of one complete spool line, or None when the line is not one."""
    try:
        record = json.loads(line)
        if not isinstance(record, dict) or record.get("v") != FORMAT_VERSION:
            return None
        occurred_at = datetime.fromisoformat(record["occurred_at"])
        if occurred_at.tzinfo is None:
            return None
        values: dict[str, Any] = {
            "event_id": uuid.UUID(record["event_id"]),
            "occurred_at": occurred_at,
            "offline": bool(record.get("offline", True)),
        }
        for name, kind, required in _FIELDS:
            values[name] = _field(record, name, kind, required)
        return AttendanceEvent(**values)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def read_events(path: Path) -> tuple[list[AttendanceEvent], list[bytes]]:
    """The events of a spool file, and its lines that are not events."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:  # replayed by another process meanwhile
        return [], []
    events: list[AttendanceEvent] = []
    bad: list[bytes] = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        event = event_from_line(line)
        if event is None:
            bad.append(line)
        else:
            events.append(event)
    return events, bad
