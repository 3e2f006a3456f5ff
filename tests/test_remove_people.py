"""`facedb users remove` takes several names, all or none, and afterwards the report,
the review candidates and the gallery calibration no longer count the removed people."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from facedb import policy
from facedb.cli.main import main
from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.domain.evidence import Candidate
from facedb.service import FaceService
from facedb.store import attendance, calibration, evidence, gallery
from facedb.store.evidence import NewEvidence
from facedb.store.gallery import NewEmbedding
from facedb.store.tables.core import User

MODEL = "w600k_mbf_int8"
# Enough faces for a gallery calibration (5,000 impostor pairs), before and after.
PEOPLE = ("Alice", "Bob", "Carol", "Dan", *(f"P{i:02d}" for i in range(26)))
FACES = 5


def _unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return vector / np.linalg.norm(vector)


def _accept(user_id: int | None) -> AttendanceEvent:
    return AttendanceEvent(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        kind="identify",
        decision="accepted" if user_id is not None else "unknown",
        user_id=user_id,
        claimed_user_id=None,
        similarity=0.8 if user_id is not None else 0.1,
        threshold=0.3,
        liveness=None,
        device="door",
        model=MODEL,
    )


@pytest.fixture
def office(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaceService]:
    """Thirty people with five faces and two accepted verifications each; an unknown
    attempt whose review candidates are Bob and Carol; a stored gallery calibration."""
    monkeypatch.setenv("FACEDB_HOME", str(tmp_path / "kiosk"))
    service = FaceService(settings.replace(home=tmp_path / "kiosk"))
    with service.transaction() as session:
        ids = {}
        for offset, name in enumerate(PEOPLE):
            user = gallery.create_user(session, name)
            ids[name] = user.id
            faces = [
                NewEmbedding(_unit(100 * offset + i), 0.9, 0.8, f"{name}.jpg") for i in range(FACES)
            ]
            gallery.add_embeddings(session, user.id, faces, MODEL)
            for _ in range(2):
                attendance.log_event(session, _accept(user.id))
        unknown = _accept(None)
        attendance.log_event(session, unknown)
        evidence.insert_evidence(
            session,
            NewEvidence(
                unknown.event_id,
                unknown.occurred_at,
                MODEL,
                None,
                b"\xff\xd8",
                True,
                None,
                None,
                None,
                ("unknown",),
                (Candidate(ids["Bob"], "Bob", 0.2), Candidate(ids["Carol"], "Carol", 0.15)),
            ),
        )
        policy.refresh_gallery_calibration(session, MODEL, force=True)
    yield service
    service.close()


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _names(service: FaceService) -> list[str]:
    with service.transaction() as session:
        return sorted(session.scalars(select(User.name)))


def test_an_unknown_name_removes_nobody(office: FaceService) -> None:
    code, output = _run("users", "remove", "Bob", "Nobody", "--yes")
    assert code == 7, output
    assert output.startswith("error: ") and len(output.strip().splitlines()) == 1
    assert _names(office) == sorted(PEOPLE)


def test_removed_people_leave_report_review_and_calibration(office: FaceService) -> None:
    today = date.today()
    before = office.report(today, today, "UTC")
    assert before.attempts["accepted"] == 2 * len(PEOPLE)
    with office.transaction() as session:
        calibrated = calibration.load_calibration(session, MODEL)
    assert calibrated is not None and calibrated.persons == len(PEOPLE)
    code, output = _run("users", "remove", "Bob", "Carol", "--yes", "--json")
    assert code == 0, output
    assert json.loads(output) == [
        {"name": "Bob", "faces": FACES},
        {"name": "Carol", "faces": FACES},
    ]
    assert "Bob" not in _names(office) and "Carol" not in _names(office)

    report = office.report(today, today, "UTC")
    # The people left's accepts, not the removed people's.
    assert report.attempts["accepted"] == 2 * (len(PEOPLE) - 2)
    assert {p.name for p in report.present} == set(PEOPLE) - {"Bob", "Carol"}
    assert report.attempts["unknown"] == 1

    with office.transaction() as session:
        (item,) = evidence.list_evidence(session, status="open")
        stored = calibration.load_calibration(session, MODEL)
    assert item.candidates == ()
    assert stored is not None
    assert (stored.persons, stored.faces) == (len(PEOPLE) - 2, FACES * (len(PEOPLE) - 2))
