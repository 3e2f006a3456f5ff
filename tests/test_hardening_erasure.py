"""Erasure that reaches the disk (issue 17, item 6): after ``users forget`` the person's
float32 vectors are in no file of the server's data directory, WAL included, while
the other people's vectors still are (the search is real)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import text

from facedb import access
from facedb.api.app import create_app
from facedb.cli.main import main
from facedb.config import Settings
from facedb.service import FaceService
from facedb.store import embedded, gallery
from facedb.store.engine import database_name, make_engine
from facedb.store.erasure import shred
from facedb.store.gallery import NewEmbedding

MODEL = "w600k_mbf_int8"


def _vectors(seed: int, count: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    raw = rng.standard_normal((count, 512)).astype(np.float32)
    unit: np.ndarray = (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)
    return unit


def _needles(vectors: np.ndarray) -> list[bytes]:
    """64 bytes from the middle of each vector as pgvector stores it (float32, little
    endian): in the heap, its TOAST chunks, the HNSW index and the WAL alike."""
    return [v.astype("<f4").tobytes()[1024:1088] for v in vectors]


def _files_holding(root: Path, needles: list[bytes]) -> dict[str, int]:
    """relative path -> how many of the needles the file holds."""
    found: dict[str, int] = {}
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        hits = sum(1 for needle in needles if needle in data)
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


def _enrol(service: FaceService, name: str, vectors: np.ndarray) -> None:
    with service.transaction() as session:
        user = gallery.create_user(session, name)
        faces = [NewEmbedding(v, 0.9, 0.9, "test") for v in vectors]
        gallery.add_embeddings(session, user.id, faces, MODEL)


def _checkpoint(url: str) -> None:
    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CHECKPOINT"))
    engine.dispose()


def test_forget_removes_the_vector_bytes_from_data_files_and_wal(
    settings: Settings, pg_home: Path
) -> None:
    pgdata = embedded.pgdata_dir(pg_home)
    victim, other = _vectors(1701, 4), _vectors(1702, 4)
    service = FaceService(settings)
    _enrol(service, "Victim", victim)
    _enrol(service, "Other", other)
    # A few searches and an ANALYZE, as a live gallery has (statistics sample vectors).
    with service.transaction() as session:
        session.execute(text("ANALYZE face_embeddings"))
    _checkpoint(settings.database_url or "")
    before = _files_holding(pgdata, _needles(victim))
    assert any(p.startswith("base/") for p in before), before  # heap / TOAST / index
    assert any(p.startswith("pg_wal/") for p in before), before

    result = CliRunner().invoke(main, ["users", "forget", "Victim", "--yes", "--json"])
    assert result.exit_code == 0, result.output
    assert '"wal_switched": true' in result.stdout, result.stdout

    assert _files_holding(pgdata, _needles(victim)) == {}
    still = _files_holding(pgdata, _needles(other))
    assert sum(still.values()) >= 4 and any(p.startswith("base/") for p in still), still
    # The other person is still found by the rebuilt HNSW index.
    with service.transaction() as session:
        (matches,) = gallery.identify(session, other[0], MODEL, top=1)
    assert matches and matches[0].name == "Other" and matches[0].similarity > 0.99
    service.close()


def test_shred_reports_what_a_non_superuser_could_not_do(
    settings: Settings, template_url: str
) -> None:
    admin = make_engine(template_url.replace("/facedb?", "/postgres?"))
    role = f"owner_{int(time.time() * 1000) % 10**8}"
    database = database_name(settings.database_url or "")
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER'))
    owner = make_engine(settings.database_url or "")
    with owner.begin() as conn:
        conn.execute(text(f'ALTER TABLE face_embeddings OWNER TO "{role}"'))
        conn.execute(text(f'ALTER TABLE face_codes OWNER TO "{role}"'))
        conn.execute(text(f'ALTER TABLE evidence OWNER TO "{role}"'))
        conn.execute(text(f'ALTER TABLE non_matches OWNER TO "{role}"'))
        conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"'))
    owner.dispose()
    limited = make_engine((settings.database_url or "").replace("postgres@", f"{role}@"))
    try:
        report = shred(limited)
        assert report.rewritten == ("face_embeddings", "face_codes", "evidence", "non_matches")
        assert not report.wal_switched and not report.complete
        assert any("not a superuser" in note for note in report.notes)
    finally:
        limited.dispose()
        fix = make_engine(settings.database_url or "")
        with fix.begin() as conn:
            conn.execute(text("ALTER TABLE face_embeddings OWNER TO postgres"))
            conn.execute(text("ALTER TABLE face_codes OWNER TO postgres"))
            conn.execute(text("ALTER TABLE evidence OWNER TO postgres"))
            conn.execute(text("ALTER TABLE non_matches OWNER TO postgres"))
            conn.execute(text(f'REVOKE ALL ON DATABASE "{database}" FROM "{role}"'))
        fix.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def test_removal_and_the_api_erasure_leave_no_vector_on_disk(
    settings: Settings, pg_home: Path
) -> None:
    """Issue 29, 20: `DELETE /v1/users/{name}` and `users remove` left the vectors in
    the table files and the WAL after a checkpoint, and the API had no erasure."""
    pgdata = embedded.pgdata_dir(pg_home)
    people = {name: _vectors(1800 + i, 3) for i, name in enumerate(["Del", "Rem", "Forg", "Kept"])}
    app = create_app(settings)
    service = app.state.facedb.service
    for name, vectors in people.items():
        _enrol(service, name, vectors)
    token = access.create_key(service, "office", "admin").token
    headers = {"Authorization": f"Bearer {token}"}
    _checkpoint(settings.database_url or "")
    assert all(_files_holding(pgdata, _needles(v)) for v in people.values())

    with TestClient(app) as client:
        removed = client.delete("/v1/users/Del", headers=headers)
        assert removed.status_code == 200, removed.text
        forgotten = client.post("/v1/users/Forg/forget?attendance=delete", headers=headers)
        assert forgotten.status_code == 200, forgotten.text
        assert forgotten.json()["embeddings_removed"] == 3 and forgotten.json()["shredded"]
        bad = client.post("/v1/users/Kept/forget?attendance=shred", headers=headers)
        assert bad.status_code == 422
        assert client.post("/v1/users/Nobody/forget", headers=headers).status_code == 404
    result = CliRunner().invoke(main, ["users", "remove", "Rem", "--yes"])
    assert result.exit_code == 0, result.output
    _checkpoint(settings.database_url or "")

    for name in ("Del", "Rem", "Forg"):
        assert _files_holding(pgdata, _needles(people[name])) == {}, name
    assert sum(_files_holding(pgdata, _needles(people["Kept"])).values()) >= 3
    assert [u.name for u in service.users()] == ["Kept"]
    service.close()
