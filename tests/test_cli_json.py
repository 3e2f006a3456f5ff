"""Every command that prints data takes --json and prints JSON a machine can parse,
on a database with people, sites, shifts, leave, corrections, reviews and hooks; and
the tables a person reads fit 80 columns without splitting a word or printing
Python's True/False."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from click.testing import CliRunner, Result

from facedb.cli.main import main
from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.domain.evidence import Candidate
from facedb.service import FaceService
from facedb.store.attendance import log_event
from facedb.store.evidence import NewEvidence, insert_evidence
from facedb.store.gallery import create_user


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, (args, result.output)
    return result


@pytest.fixture
def office(settings: Settings) -> Iterator[dict[str, str]]:
    """People in two sites, a shift, leave, a holiday, events of today, a correction,
    a doubtful face kept for review, a webhook and an API key."""
    service = FaceService(settings)
    now = datetime.now(UTC)
    ids = {}
    with service.transaction() as s:
        for name in ("Alice Martin", "Bob Stone", "Chloé Dubois-Delacroix-Montmorency"):
            ids[name] = create_user(s, name, None, {"team": "kitchen"}).id
    ok("sites", "add", "Paris", "--tz", "Europe/Paris")
    ok("sites", "add", "New York", "--tz", "America/New_York")
    ok("sites", "assign", "Paris", "Alice Martin", "Chloé Dubois-Delacroix-Montmorency")
    ok("sites", "assign", "New York", "Bob Stone")
    ok("groups", "add", "Kitchen")
    ok("groups", "assign", "Kitchen", "Alice Martin", "Bob Stone")
    ok("devices", "add", "door-in", "--site", "Paris", "--role", "in")
    ok("shifts", "add", "day", "09:00", "17:00", "--days", "mon-fri", "--break", "60")
    ok("shifts", "assign", "day", "--group", "Kitchen", "--from", "2026-01-01")
    ok("holidays", "add", "2026-12-25", "Christmas")
    ok("leave", "add", "Bob Stone", "vacation", "--from", "2026-12-21", "--by", "hr")
    event_id = uuid.uuid4()
    unknown_id = uuid.uuid4()
    with service.transaction() as s:
        for i, (who, decision, eid) in enumerate(
            (
                ("Alice Martin", "accepted", event_id),
                ("Bob Stone", "accepted", uuid.uuid4()),
                (None, "unknown", unknown_id),
            )
        ):
            log_event(
                s,
                AttendanceEvent(
                    eid,
                    now - timedelta(minutes=30 - i),
                    "identify",
                    decision,
                    ids[who] if who else None,
                    None,
                    0.61234,
                    0.3,
                    0.9,
                    "door-in",
                    "w600k_mbf_int8",
                ),
            )
        vector = np.random.default_rng(1).standard_normal(512).astype(np.float32)
        insert_evidence(
            s,
            NewEvidence(
                event_id=unknown_id,
                occurred_at=now - timedelta(minutes=28),
                model="w600k_mbf_int8",
                embedding=vector / np.linalg.norm(vector),
                thumbnail=b"\xff\xd8jpeg\xff\xd9",
                quality_ok=True,
                quality=0.8,
                det_score=0.9,
                liveness=None,
                reasons=(),
                candidates=(Candidate(ids["Alice Martin"], "Alice Martin", 0.21),),
            ),
        )
    ok("correct", "add", "Alice Martin", "--at", (now - timedelta(minutes=5)).isoformat(),
       "--direction", "out", "--reason", "missed_punch", "--by", "hr")  # fmt: skip
    ok("hooks", "add", "http://127.0.0.1:9/hook")
    ok("keys", "create", "--name", "front-desk", "--role", "reporter")
    yield {"event": str(event_id)[:8], "unknown": str(unknown_id)[:8]}
    service.close()


# Commands that print data, with the arguments they need ({event}: a short event id).
DATA_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("report", "--date", "today"),
    ("attendance", "list"),
    ("attendance", "history", "{event}"),
    ("users", "list"),
    ("users", "show", "Alice Martin"),
    ("db", "status"),
    ("keys", "list"),
    ("cache", "status"),
    ("spool", "status"),
    ("sites", "list"),
    ("groups", "list"),
    ("groups", "show", "Alice Martin"),
    ("devices", "list"),
    ("shifts", "list"),
    ("shifts", "assignments"),
    ("holidays", "list"),
    ("leave", "list"),
    ("timesheet", "--week", "this"),
    ("timesheet", "--month", "2026-12"),
    ("correct", "list"),
    ("correct", "history", "{event}"),
    ("period", "list"),
    ("hooks", "list"),
    ("hooks", "status"),
    ("review", "list"),
    ("review", "show", "{unknown}"),
)


# Commands that change something and print what they did.
CHANGE_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("attendance", "purge", "--older-than", "3650d", "--yes"),
    ("hooks", "replay"),
    ("users", "rename", "Bob Stone", "Robert Stone"),
)


def test_every_data_command_prints_json(office: dict[str, str]) -> None:
    for command in (*DATA_COMMANDS, *CHANGE_COMMANDS):
        args = [a.format(**office) for a in command]
        result = run(*args, "--json")
        assert result.exit_code == 0, (args, result.output)
        assert "Traceback" not in result.output
        json.loads(result.stdout)  # the whole of stdout is one JSON document


# Tables a person reads at 80 columns, with the words their cells must keep whole.
TABLES: tuple[tuple[str, ...], ...] = (
    ("attendance", "list"),
    ("review", "list"),
    ("users", "list"),
    ("timesheet", "--week", "this"),
    ("devices", "list"),
    ("report", "--date", "today"),
)


def test_tables_fit_80_columns_without_splitting_words(
    office: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    for command in TABLES:
        result = ok(*command)
        lines = result.stdout.splitlines()
        assert lines, command
        assert max(len(line) for line in lines) <= 80, (command, result.stdout)
        assert not re.search(r"\b(True|False)\b", result.stdout), (command, result.stdout)
        # A word split across lines leaves a cell ending in letters and the same cell
        # of the next line starting with letters; compare the words each line's cells
        # hold with the words the data has.
        for word in ("decision", "accepted", "unknown", "Martin", "Alice", "Stone"):
            pieces = [word[:k] for k in range(2, len(word))]
            for line in lines:
                for cell in line.split("│") + line.split("┃"):
                    text = cell.strip()
                    if text in pieces:
                        pytest.fail(f"{word!r} split in {command}: {text!r}\n{result.stdout}")
