"""Privacy and access: forgetting a person leaves no embedding of them anywhere (the
database and the kiosk's gallery cache), retention purges old rows, a reporter role
cannot read embeddings, and neither passwords nor embeddings reach logs or messages."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text
from sqlalchemy.exc import ProgrammingError

from facedb.cli.main import main
from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.errors import InvalidInputError, UnknownUserError
from facedb.offline import gallery_cache
from facedb.service import FaceService
from facedb.store import attendance, gallery, roles
from facedb.store.engine import make_engine
from facedb.store.gallery import NewEmbedding
from facedb.store.tables.core import Attendance, FaceEmbedding, User

MODEL = "w600k_mbf_int8"


def _unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return vector / np.linalg.norm(vector)


def _event(
    user_id: int | None, *, days_ago: float = 0.0, claimed: int | None = None
) -> AttendanceEvent:
    return AttendanceEvent(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC) - timedelta(days=days_ago),
        kind="identify" if claimed is None else "verify",
        decision="accepted",
        user_id=user_id,
        claimed_user_id=claimed,
        similarity=0.8,
        threshold=0.3,
        liveness=None,
        device="door",
        model=MODEL,
    )


@pytest.fixture
def people(settings: Settings, tmp_path: Path) -> Iterator[FaceService]:
    """Alice and Bob with three stored faces each, two attendance rows each, and this
    kiosk's gallery cache written from them."""
    service = FaceService(settings.replace(home=tmp_path / "kiosk"))
    with service.transaction() as session:
        for offset, name in enumerate(("Alice", "Bob")):
            user = gallery.create_user(session, name)
            gallery.add_embeddings(
                session,
                user.id,
                [NewEmbedding(_unit(10 * offset + i), 0.9, 0.8, f"{name}.jpg") for i in range(3)],
                MODEL,
            )
            attendance.log_event(session, _event(user.id))
            attendance.log_event(session, _event(None, claimed=user.id))
    service.refresh_cache()
    yield service
    service.close()


def _ids(service: FaceService) -> dict[str, int]:
    with service.transaction() as session:
        return {u.name: u.id for u in session.scalars(select(User))}


def _embeddings_of(service: FaceService, user_id: int) -> int:
    with service.transaction() as session:
        return int(
            session.execute(
                select(func.count()).where(FaceEmbedding.user_id == user_id)
            ).scalar_one()
        )


def _cached_vectors(home: Path) -> list[np.ndarray]:
    return [gallery_cache.read(p).embeddings for p in gallery_cache.cached_files(home)]


@pytest.mark.parametrize("policy", ["keep", "anonymise", "delete"])
def test_forget_leaves_no_embedding_of_the_person_anywhere(
    people: FaceService, policy: str
) -> None:
    ids = _ids(people)
    alice_vectors = np.stack([_unit(i) for i in range(3)])
    cache_before = _cached_vectors(people.settings.home)[0]
    assert np.isclose(cache_before @ alice_vectors.T, 1.0, atol=1e-5).any()

    result = people.forget_user("alice", policy)
    assert (result.name, result.embeddings, result.cache_files) == ("Alice", 3, 1)

    # Database: none of Alice's faces, Bob's untouched.
    assert _embeddings_of(people, ids["Alice"]) == 0
    assert _embeddings_of(people, ids["Bob"]) == 3
    with people.transaction() as session:
        stored = np.stack(
            [np.asarray(v, np.float32) for v in session.scalars(select(FaceEmbedding.embedding))]
        )
        rows = session.execute(select(Attendance.user_id, Attendance.claimed_user_id)).all()
        alice = session.get(User, ids["Alice"])
    assert not np.isclose(stored @ alice_vectors.T, 1.0, atol=1e-5).any()
    # Cache: no vector of Alice, no name of Alice; Bob still recognised offline.
    (cache,) = [gallery_cache.read(p) for p in gallery_cache.cached_files(people.settings.home)]
    assert not np.isclose(cache.embeddings @ alice_vectors.T, 1.0, atol=1e-5).any()
    assert [u.name for u in cache.users] == ["Bob"]
    assert cache.identify(_unit(10))[0].name == "Bob"

    mentions = sum(ids["Alice"] in r for r in rows)
    if policy == "keep":
        assert alice is not None and not alice.active
        assert mentions == 2 and len(rows) == 4
    elif policy == "anonymise":
        assert alice is None and mentions == 0 and len(rows) == 4
        assert result.attendance_rows == 2
    else:
        assert alice is None and mentions == 0 and len(rows) == 2
        assert result.attendance_rows == 2
    # Forgotten means gone: again is an unknown person (keep: a person with no face).
    again = pytest.raises(UnknownUserError) if policy != "keep" else contextlib.nullcontext()
    with again:
        assert people.forget_user("Alice", policy).embeddings == 0


def test_forget_cli_default_is_anonymise_and_bad_policy_is_refused(
    people: FaceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEDB_HOME", str(people.settings.home))
    runner = CliRunner()
    refused = runner.invoke(main, ["users", "forget", "Bob", "--attendance", "shred", "--yes"])
    assert refused.exit_code == 2
    result = runner.invoke(main, ["users", "forget", "Bob", "--yes", "--json"])
    assert result.exit_code == 0, result.output
    assert '"attendance": "anonymise"' in result.stdout
    assert _ids(people).keys() == {"Alice"}
    with pytest.raises(InvalidInputError):
        people.forget_user("Alice", "shred")


def test_remove_also_cleans_the_gallery_cache(people: FaceService) -> None:
    people.remove_user("Bob")
    (cache,) = people.cache_files()
    assert [u.name for u in cache.users] == ["Alice"]
    assert cache.embeddings.shape == (3, 512)


def test_attendance_purge_keeps_the_retention_period(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = FaceService(settings)
    with service.transaction() as session:
        for days in (0, 30, 364, 366, 400, 1000):
            attendance.log_event(session, _event(None, days_ago=days))
    runner = CliRunner()
    bad = runner.invoke(main, ["attendance", "purge", "--older-than", "soon", "--yes"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --older-than takes")
    huge = runner.invoke(main, ["attendance", "purge", "--older-than", "9" * 30 + "d", "--yes"])
    assert huge.exit_code == 2, huge.output
    result = runner.invoke(main, ["attendance", "purge", "--older-than", "365d", "--yes"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("deleted 3 attendance row(s)")
    with service.transaction() as session:
        ages = sorted(
            (datetime.now(UTC) - t).days for t in session.scalars(select(Attendance.occurred_at))
        )
    assert ages == [0, 30, 364]
    service.close()


@pytest.fixture
def reporter(database_url: str) -> Iterator[str]:
    role = f"facedb_reporter_{uuid.uuid4().hex[:8]}"
    yield role
    engine = make_engine(database_url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    engine.dispose()


def test_reporter_role_reads_attendance_but_never_embeddings(
    people: FaceService, database_url: str, reporter: str, caplog: pytest.LogCaptureFixture
) -> None:
    password = "correct horse battery staple"
    caplog.set_level(logging.DEBUG)
    runner = CliRunner()
    result = runner.invoke(
        main, ["db", "grant-reporter", reporter], env={"FACEDB_REPORTER_PASSWORD": password}
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"created role {reporter}")
    again = runner.invoke(main, ["db", "grant-reporter", reporter, "--password", password])
    assert again.exit_code == 0 and again.stdout.startswith(f"updated role {reporter}")
    assert password not in result.output + again.output + caplog.text

    engine = make_engine(database_url)
    with engine.connect() as conn:
        rolpassword = conn.execute(
            text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": reporter}
        ).scalar_one()
        assert rolpassword.startswith("SCRAM-SHA-256$") and password not in rolpassword
        conn.execute(text(f'SET ROLE "{reporter}"'))
        assert conn.execute(text("SELECT count(*) FROM attendance")).scalar() == 4
        conn.execute(text("SELECT * FROM attendance_daily")).all()
        names = conn.execute(text("SELECT id, name, external_id, active FROM users")).all()
        assert {n.name for n in names} == {"Alice", "Bob"}
    for forbidden in (
        "SELECT embedding FROM face_embeddings",
        "SELECT count(*) FROM face_embeddings",
        "SELECT meta FROM users",
        "SELECT * FROM users",
        "SELECT * FROM api_keys",
        "INSERT INTO attendance (event_id, occurred_at, kind, decision) "
        "VALUES (gen_random_uuid(), now(), 'verify', 'accepted')",
        "DELETE FROM attendance",
    ):
        with engine.connect() as conn:
            conn.execute(text(f'SET ROLE "{reporter}"'))
            with pytest.raises(ProgrammingError, match="permission denied"):
                conn.execute(text(forbidden))
    engine.dispose()


@pytest.mark.parametrize("role", ["postgres", "Bad-Name", "pg_monitor", "x" * 64, "a;drop"])
def test_grant_reporter_refuses_superusers_and_bad_names(database_url: str, role: str) -> None:
    engine = make_engine(database_url)
    with pytest.raises(InvalidInputError):
        roles.grant_reporter(engine, role, None)
    engine.dispose()


def test_no_embedding_or_password_in_logs_or_errors(
    people: FaceService, caplog: pytest.LogCaptureFixture
) -> None:
    """SQL logging at DEBUG (what `facedb -vv` turns on) and SQL error messages never
    carry statement parameters: embeddings and passwords travel as parameters."""
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    probe = _unit(0)
    try:
        with people.transaction() as session:
            gallery.identify(session, probe[None, :], MODEL)
            gallery.similarity_to_user(session, _ids(people)["Alice"], probe, MODEL)
            with pytest.raises(Exception) as caught:
                session.execute(
                    text("SELECT CAST(:v AS vector) + CAST('[1,2]' AS vector)"),
                    {"v": gallery.vector_literal(probe)},
                )
    except Exception:
        pass
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    values = [repr(float(v))[:9] for v in probe[:8]]
    assert "SELECT" in caplog.text  # SQL was logged...
    assert not [v for v in values if v in caplog.text]  # ...without the embedding's values
    assert not [v for v in values if v in str(caught.value)]
    assert "hidden due to hide_parameters" in str(caught.value)


def test_reporter_role_reads_every_view_and_function_the_docs_name(
    people: FaceService, database_url: str, reporter: str
) -> None:
    """docs/TIME_AND_ATTENDANCE.md and the README send psql users to timesheet(),
    timesheet_today, attendance_effective and attendance_daily: a reporter reads them
    all, and still not the notes of leave or corrections, nor the faces."""
    roles.grant_reporter(engine := make_engine(database_url), reporter, None)
    readable = (
        "SELECT * FROM timesheet('2026-11-01', '2026-11-30', 'Europe/Paris')",
        "SELECT * FROM timesheet(current_date - 7, current_date - 1)",
        "SELECT * FROM timesheet_today",
        "SELECT * FROM attendance_effective",
        "SELECT * FROM attendance_daily",
        "SELECT count(*) FROM attendance",
        "SELECT id, name, external_id, active FROM users",
    )
    for query in readable:
        with engine.connect() as conn:
            conn.execute(text(f'SET ROLE "{reporter}"'))
            conn.execute(text(query)).all()
    for forbidden in (
        "SELECT note FROM leave",
        "SELECT note FROM attendance_corrections",
        "SELECT * FROM face_embeddings",
        "SELECT * FROM evidence",
    ):
        with engine.connect() as conn:
            conn.execute(text(f'SET ROLE "{reporter}"'))
            with pytest.raises(ProgrammingError, match="permission denied"):
                conn.execute(text(forbidden))
    engine.dispose()
