"""Synthetic galleries for the benchmarks at scale (benchmarks/synth.py), loaded and
indexed in an embedded PostgreSQL; with ``keep``, built once and kept in a folder for
later runs (a gallery of 1,000,000 faces takes the best part of an hour to index on 2
cores): ``<kind>-<size>.npz`` (faces and probes), ``<kind>-<size>/`` (the database's
home) and ``<kind>-<size>.json`` (the build's figures)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, text

from benchmarks import matching
from benchmarks.pg import bench_database
from benchmarks.synth import Gallery, build_gallery, fit, real_embeddings
from facedb.config import Settings
from facedb.store import embedded
from facedb.store.engine import Database, open_database


def kept_gallery(kind: str, size: int, probes: int, keep: Path | None) -> Gallery:
    """The synthetic gallery, from ``keep`` when an earlier run saved it there."""
    saved = None if keep is None else keep / f"{kind}-{size}.npz"
    if saved is not None and saved.exists():
        d = np.load(saved)
        return Gallery(d["vectors"], d["person"], int(d["people"]), d["gp"], d["gperson"], d["ip"])
    real = real_embeddings()
    g = build_gallery(real, fit(real, isotropic=kind == "isotropic"), size, probes)
    if saved is not None:
        saved.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            saved,
            vectors=g.vectors,
            person=g.person,
            people=g.people,
            gp=g.genuine_probes,
            gperson=g.genuine_person,
            ip=g.impostor_probes,
        )
    return g


@contextmanager
def gallery_database(
    kind: str, size: int, g: Gallery, keep: Path | None
) -> Iterator[tuple[Database, dict[str, Any]]]:
    """The gallery loaded and indexed in an embedded PostgreSQL, with the build's
    figures; under ``keep`` it is built once and reused by later runs (a build of
    1,000,000 faces takes the best part of an hour on 2 cores)."""
    if keep is None:
        with bench_database() as first:
            loaded = matching.load(first.engine, g, executemany_rows=1)
            yield first, matching.build_index(first.engine, loaded["definition"], size)
        return
    home, figures = keep / f"{kind}-{size}", keep / f"{kind}-{size}.json"
    database = open_database(Settings(home=home))
    try:
        if not figures.exists():
            loaded = matching.load(database.engine, g, executemany_rows=1)
            built = matching.build_index(database.engine, loaded["definition"], size)
            figures.write_text(json.dumps(built), encoding="utf-8")
        yield database, json.loads(figures.read_text(encoding="utf-8"))
    finally:
        database.engine.dispose()
        with embedded.home_lock(home):
            embedded.stop(home)


def prewarm(engine: Engine) -> float:
    """Reads the gallery's table, index and codes into shared_buffers (pg_prewarm), as
    a server that has been answering for a while holds them: without it the first
    searches of each region of the graph read their pages from the OS, and the
    figures say more about the restart than about the search. Seconds taken."""
    t0 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_prewarm"))
        toast = conn.execute(
            text("SELECT CAST(reltoastrelid AS regclass)::text FROM pg_class WHERE relname = :t"),
            {"t": "face_embeddings"},
        ).scalar_one()
        for relation in (
            "face_embeddings",
            "face_embeddings_pkey",
            toast,  # the vectors themselves: 2 kB each, stored out of line
            f"{toast}_index",
            matching.INDEX,
            "face_codes",
            "face_codes_pkey",
        ):
            conn.execute(text("SELECT pg_prewarm(:r)"), {"r": relation})
    return time.perf_counter() - t0
