"""`facedb enrol --from-dir` on the shared CelebA folder (100 people, 5 photos each):
people and images per second, and the share of the time spent in the database.

The database share is the time inside FaceService.transaction() blocks (every read
and write of an enrolment happens in one) over the whole run; the time the SQL
statements themselves took (engine events) is reported beside it.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from benchmarks.common import FACES
from benchmarks.pg import bench_database
from facedb.config import Settings
from facedb.service import FaceService


class TimedService(FaceService):
    """FaceService that adds up the seconds spent inside its transactions."""

    transaction_s = 0.0

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        start = time.perf_counter()
        try:
            with super().transaction() as session:
                yield session
        finally:
            self.transaction_s += time.perf_counter() - start


def _people_folder(people: int) -> tempfile.TemporaryDirectory[str]:
    """A folder of links to the first ``people`` CelebA person folders."""
    folder = tempfile.TemporaryDirectory(prefix="facedb-bench-enrol-")
    for person in sorted((FACES / "celeba").iterdir())[:people]:
        if person.is_dir():
            (Path(folder.name) / person.name).symlink_to(person, target_is_directory=True)
    return folder


def run(quick: bool) -> dict[str, Any]:
    print("benchmarks: enrolment from folders", file=sys.stderr)
    people = 20 if quick else 100
    with bench_database() as database, _people_folder(people) as root:
        settings = Settings.load({"home": database.home, "device": "cpu"})
        service = TimedService(settings, database=database)
        service.pipeline.load()
        sql_s = [0.0]
        starts: list[float] = []

        def before(*args: Any) -> None:
            starts.append(time.perf_counter())

        def after(*args: Any) -> None:
            sql_s[0] += time.perf_counter() - starts.pop()

        event.listen(database.engine, "before_cursor_execute", before)
        event.listen(database.engine, "after_cursor_execute", after)
        t0 = time.perf_counter()
        outcomes = service.enrol_folders(Path(root))
        total_s = time.perf_counter() - t0
        event.remove(database.engine, "before_cursor_execute", before)
        event.remove(database.engine, "after_cursor_execute", after)
    images = sum(o.images for o in outcomes)
    return {
        "people": people,
        "enrolled": sum(1 for o in outcomes if o.status == "enrolled"),
        "skipped": [(o.name, o.reason) for o in outcomes if o.status == "skipped"],
        "images": images,
        "embeddings": sum(o.embeddings for o in outcomes),
        "total_s": total_s,
        "db_s": service.transaction_s,
        "sql_s": sql_s[0],
        "images_per_s": images / total_s,
        "people_per_s": people / total_s,
        "db_share": service.transaction_s / total_s,
    }
