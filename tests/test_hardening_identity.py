"""The offline cache and the spool are bound to the database they came from (issue 17,
item 10): a kiosk pointed at another, unreachable database does not decide on the old
database's cache, and events spooled for one database are never replayed into another."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from kiosk_worker import MemoPipeline
from sqlalchemy import text

from facedb.cli.main import main
from facedb.config import Settings
from facedb.errors import NoGalleryCacheError
from facedb.offline import gallery_cache, identity
from facedb.offline.gallery_cache import CachedUser, GalleryCache
from facedb.offline.spool import Spool
from facedb.service import FaceService
from facedb.store.engine import make_engine

PERSON = "7203"
ELSEWHERE = "postgresql://facedb:pw@127.0.0.1:9/facedb"


def _attendance(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = int(conn.execute(text("SELECT count(*) FROM attendance")).scalar_one())
    engine.dispose()
    return count


def test_another_databases_cache_and_spool_are_never_used(
    settings: Settings, faces_dir: Path, tmp_path: Path
) -> None:
    photos = sorted((faces_dir / "celeba" / PERSON).glob("*.jpg"))
    folder = tmp_path / "enrol"
    folder.mkdir()
    for photo in photos[:4]:
        shutil.copy(photo, folder / photo.name)
    # A home of its own: an earlier test's cache (of its own database) would not be
    # due for a refresh yet, and is rightly refused here.
    settings = settings.replace(cooldown=0.0, home=tmp_path / "home")
    pipeline = MemoPipeline(settings)
    here = FaceService(settings, pipeline=pipeline)
    here.enrol("Alice", str(folder), frames=10)
    assert here.verify(str(photos[4])).decision == "accepted"  # writes the cache
    (cache,) = here.cache_files()
    assert cache.database == identity.target(settings)

    # The same FACEDB_HOME, now configured for another database that is down.
    other = FaceService(settings.replace(database_url=ELSEWHERE), pipeline=pipeline)
    with pytest.raises(NoGalleryCacheError, match="another database"):
        other.verify(str(photos[4]))
    assert other.spool.status().pending == 1  # the attempt, spooled for that database
    other.close()
    assert "pw" not in (Spool(settings.home).recorded_database() or "")  # masked

    # Back on the first database: the other database's event is set aside, not sent.
    replayed = CliRunner().invoke(
        main, ["spool", "replay"], env={"FACEDB_HOME": str(settings.home)}
    )
    assert replayed.exit_code == 0, replayed.output
    assert replayed.stdout.startswith("sent 0 event(s)")
    assert "1 event(s) spooled for another database were set aside" in replayed.stderr
    assert _attendance(settings.database_url or "") == 1
    assert here.spool.status().pending == 0
    (aside,) = here.spool.directory.glob("other-database-*")
    assert (aside / "database").read_text().strip() == identity.target(
        settings.replace(database_url=ELSEWHERE)
    )
    here.close()


def test_cache_without_or_with_another_database_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((2, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    base = GalleryCache(
        model="m",
        written_at=datetime.now(UTC),
        calibrated_threshold=None,
        users=(CachedUser(1, "Alice", True),),
        owners=np.array([1, 1], np.int64),
        embeddings=vectors,
    )
    gallery_cache.write(tmp_path, base)  # an older facedb: no database recorded
    with pytest.raises(NoGalleryCacheError, match="not recorded"):
        gallery_cache.load(tmp_path, "m", 60, database="postgresql://a/db")
    gallery_cache.write(
        tmp_path, base.__class__(**{**base.__dict__, "database": "postgresql://a/db"})
    )
    assert gallery_cache.load(tmp_path, "m", 60, database="postgresql://a/db").users == base.users
    with pytest.raises(NoGalleryCacheError, match="another database"):
        gallery_cache.load(tmp_path, "m", 60, database="postgresql://b/db")
    # Forgetting a person keeps the cache bound to its database.
    gallery_cache.purge_user(tmp_path, 1)
    assert gallery_cache.load(tmp_path, "m", 60, database="postgresql://a/db").users == ()


def test_targets_ignore_passwords_and_name_the_embedded_home(tmp_path: Path) -> None:
    a = Settings(home=tmp_path, database_url="postgresql://u:one@h/db")
    b = Settings(home=tmp_path, database_url="postgresql://u:two@h/db")
    assert identity.target(a) == identity.target(b) and "one" not in identity.target(a)
    assert identity.target(Settings(home=tmp_path)).startswith("embedded:")
    assert identity.target(Settings(home=tmp_path)) != identity.target(
        Settings(home=tmp_path / "x")
    )
