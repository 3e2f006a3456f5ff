"""1:N matching in PostgreSQL at 10k-1M faces, through facedb's own query path.

For each gallery size, on a dedicated embedded server: bulk load (COPY, then
executemany for comparison) with the HNSW index dropped, CREATE INDEX after the load
(maintenance_work_mem set for that session), then probes through
facedb.store.gallery.identify for several hnsw.ef_search values: latency p50/p99 and
agreement with exact search. FAISS IndexFlatIP is the exact in-memory reference.
"""

from __future__ import annotations

import math
import struct
import sys
import time
from typing import Any

import faiss
import numpy as np
from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session

from benchmarks.common import percentile
from benchmarks.decisions import Decision, decide, exact_candidates, policy_threshold
from benchmarks.pg import bench_database, copy_in, restart, server_version, setting
from benchmarks.synth import Gallery, RealEmbeddings, SynthModel, build_gallery
from benchmarks.targets import manifest_threshold
from facedb.config import Settings
from facedb.domain.people import Match
from facedb.store import gallery as gallery_store
from facedb.store.tables.core import FaceEmbedding

MODEL = "w600k_mbf_int8"
INDEX = "face_embeddings_embedding_hnsw_idx"


def maintenance_work_mem(size: int) -> str:
    """Enough for pgvector to build the whole HNSW graph in memory (about 4 kB a
    512-d face with m = 16): past it the build goes on disk, many times slower."""
    return "2GB" if size <= 300_000 else f"{int(size * 6e-6) + 1}GB"


COPY_CHUNK = 50_000
K = 10


def sizes(quick: bool) -> list[int]:
    return [10_000] if quick else [10_000, 100_000]


def ef_values(quick: bool) -> list[int]:
    return [40, 100] if quick else [20, 40, 64, 100, 200]


# -- loading -------------------------------------------------------------------------


def _copy_users(engine: Engine, people: int) -> None:
    names = "".join(f"person-{i:07d}\n" for i in range(1, people + 1)).encode()
    copy_in(engine, "COPY users (name) FROM STDIN", names)


def embeddings_copy_binary(person: np.ndarray, vectors: np.ndarray, model: str) -> bytes:
    """PostgreSQL binary COPY of (user_id, embedding, model) rows; pgvector's binary
    form is int16 dim, int16 unused, dim big-endian float4."""
    tag = model.encode()
    dim = vectors.shape[1]
    row = np.dtype(
        [
            ("fields", ">i2"),
            ("len_user", ">i4"),
            ("user", ">i8"),
            ("len_vec", ">i4"),
            ("dim", ">i2"),
            ("unused", ">i2"),
            ("vec", ">f4", (dim,)),
            ("len_model", ">i4"),
            ("model", f"S{len(tag)}"),
        ]
    )
    rows = np.zeros(len(person), dtype=row)
    rows["fields"], rows["len_user"], rows["user"] = 3, 8, person
    rows["len_vec"], rows["dim"], rows["vec"] = 4 + 4 * dim, dim, vectors
    rows["len_model"], rows["model"] = len(tag), tag
    header = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
    return header + rows.tobytes() + struct.pack(">h", -1)


def _copy_embeddings(engine: Engine, g: Gallery, start: int, stop: int) -> None:
    statement = "COPY face_embeddings (user_id, embedding, model) FROM STDIN (FORMAT binary)"
    for lo in range(start, stop, COPY_CHUNK):
        hi = min(lo + COPY_CHUNK, stop)
        copy_in(engine, statement, embeddings_copy_binary(g.person[lo:hi], g.vectors[lo:hi], MODEL))


def _executemany(engine: Engine, g: Gallery, start: int, stop: int) -> None:
    """SQLAlchemy's bulk insert (psycopg2 executemany with insertmanyvalues batches)."""
    rows = [
        {"user_id": int(g.person[i]), "embedding": g.vectors[i], "model": MODEL}
        for i in range(start, stop)
    ]
    with Session(engine) as session, session.begin():
        session.execute(insert(FaceEmbedding), rows)


def _execute(engine: Engine, *statements: str) -> None:
    with engine.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
        conn.commit()


def _reset(engine: Engine) -> str:
    """Empties the tables, drops the HNSW index; returns its definition."""
    with engine.connect() as conn:
        definition = conn.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"), {"name": INDEX}
        ).scalar_one()
    _execute(
        engine,
        "TRUNCATE face_embeddings, attendance, users RESTART IDENTITY CASCADE",
        f"DROP INDEX {INDEX}",
    )
    return str(definition)


def load(engine: Engine, g: Gallery, executemany_rows: int) -> dict[str, Any]:
    """Bulk load with no HNSW index; returns the rates and the index definition."""
    definition = _reset(engine)
    _copy_users(engine, g.people)
    n = len(g.vectors)
    t0 = time.perf_counter()
    _copy_embeddings(engine, g, 0, n - executemany_rows)
    copy_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _executemany(engine, g, n - executemany_rows, n)
    many_s = time.perf_counter() - t0
    return {
        "definition": definition,
        "copy_rows_per_s": (n - executemany_rows) / copy_s,
        "executemany_rows_per_s": executemany_rows / many_s,
        "executemany_rows": executemany_rows,
    }


def build_index(engine: Engine, definition: str, size: int) -> dict[str, Any]:
    """CREATE INDEX after the bulk load, with the memory it needs to build in RAM."""
    memory = maintenance_work_mem(size)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"SET maintenance_work_mem = '{memory}'"))
        conn.execute(text("SET max_parallel_maintenance_workers = 1"))
        t0 = time.perf_counter()
        conn.execute(text(definition))
        build_s = time.perf_counter() - t0
        conn.execute(text("VACUUM ANALYZE face_embeddings"))
        index_bytes = conn.execute(text(f"SELECT pg_relation_size('{INDEX}')")).scalar_one()
        table_bytes = conn.execute(
            text(
                "SELECT pg_total_relation_size('face_embeddings') - pg_indexes_size('face_embeddings')"
            )
        ).scalar_one()
    return {
        "build_s": build_s,
        "index_mb": index_bytes / 2**20,
        "table_mb": table_bytes / 2**20,
        "maintenance_work_mem": memory,
    }


def insert_with_index(engine: Engine, g: Gallery, rows: int) -> float:
    """Rows per second of executemany into the indexed table (enrolment's path);
    the rows are deleted afterwards."""
    before = len(g.vectors)
    t0 = time.perf_counter()
    _executemany(engine, g, before - rows, before)
    rate = rows / (time.perf_counter() - t0)
    _execute(engine, f"DELETE FROM face_embeddings WHERE id > {before}")
    return rate


# -- queries -------------------------------------------------------------------------


def _identify_ms(
    engine: Engine, probes: np.ndarray, ef: int
) -> tuple[list[float], list[list[Match]]]:
    """Per probe: milliseconds of one facedb 1:N transaction, and the people it found."""
    times: list[float] = []
    found: list[list[Match]] = []
    for probe in probes:
        t0 = time.perf_counter()
        with Session(engine) as session, session.begin():
            matches = gallery_store.identify(session, probe[None, :], MODEL, ef_search=ef)
        times.append((time.perf_counter() - t0) * 1000)
        found.append(matches[0] if matches else [])
    return times, found


def _server_ms(engine: Engine, probes: np.ndarray, ef: int) -> list[float]:
    """Per probe: planning + execution time of identify's statement inside the server
    (EXPLAIN ANALYZE with TIMING OFF), i.e. without round trips and client work."""
    sql = text("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + gallery_store.IDENTIFY_QUERY)
    times = []
    with Session(engine) as session, session.begin():
        session.execute(text(f"SET LOCAL hnsw.ef_search = {max(ef, gallery_store.NEAREST_K)}"))
        session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        for probe in probes:
            params = {
                "probes": [gallery_store.vector_literal(probe)],
                "model": MODEL,
                "k": 20,
                "scope": None,
            }
            plan = session.execute(sql, params).scalar_one()[0]
            times.append(float(plan["Planning Time"]) + float(plan["Execution Time"]))
    return times


def _round_trip_ms(engine: Engine, probes: int) -> list[float]:
    """A transaction with the same statements count as identify's but no work."""
    times = []
    for _ in range(probes):
        t0 = time.perf_counter()
        with Session(engine) as session, session.begin():
            for _ in range(3):
                session.execute(text("SELECT 1"))
        times.append((time.perf_counter() - t0) * 1000)
    return times


_NEAREST = text(
    "SELECT id FROM face_embeddings WHERE model = :model "
    "ORDER BY embedding <=> CAST(:probe AS vector) LIMIT :k"
)


def _nearest_ids(engine: Engine, probes: np.ndarray, ef: int) -> np.ndarray:
    """The k nearest embedding ids by the index scan that identify runs (same settings)."""
    found = np.zeros((len(probes), K), dtype=np.int64)
    with Session(engine) as session, session.begin():
        session.execute(text(f"SET LOCAL hnsw.ef_search = {max(ef, gallery_store.NEAREST_K)}"))
        session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        for i, probe in enumerate(probes):
            literal = gallery_store.vector_literal(probe)
            ids = session.execute(_NEAREST, {"model": MODEL, "probe": literal, "k": K}).scalars()
            row = list(ids)
            found[i, : len(row)] = row
    return found


def _exact_sql_ms(engine: Engine, probes: np.ndarray) -> list[float]:
    """The same query with the index disabled (a sequential scan), for scale."""
    times = []
    for probe in probes:
        t0 = time.perf_counter()
        with Session(engine) as session, session.begin():
            session.execute(text("SET LOCAL enable_indexscan = off"))
            session.execute(
                _NEAREST, {"model": MODEL, "probe": gallery_store.vector_literal(probe), "k": K}
            ).all()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def explain_identify(engine: Engine, probe: np.ndarray, ef: int) -> list[str]:
    sql = "EXPLAIN (ANALYZE, COSTS OFF) " + gallery_store.IDENTIFY_QUERY
    with Session(engine) as session, session.begin():
        session.execute(text(f"SET LOCAL hnsw.ef_search = {ef}"))
        session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        params = {
            "probes": [gallery_store.vector_literal(probe)],
            "model": MODEL,
            "k": 20,
            "scope": None,
        }
        return [str(r[0]) for r in session.execute(text(sql), params)]


def faiss_reference(g: Gallery, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Exact top-k ids (1-based, as stored), top-1 similarity, and per-probe ms of
    IndexFlatIP on 1 thread."""
    faiss.omp_set_num_threads(1)
    index = faiss.IndexFlatIP(g.vectors.shape[1])
    index.add(g.vectors)
    similarity, ids = index.search(probes, K)
    times = []
    for probe in probes:
        t0 = time.perf_counter()
        index.search(probe[None, :], K)
        times.append((time.perf_counter() - t0) * 1000)
    return ids + 1, similarity[:, 0], times


def faiss_hnsw(g: Gallery, efs: list[int]) -> list[dict[str, float]]:
    """The same graph parameters in FAISS (IndexHNSWFlat, M 16, efConstruction 64): is
    the recall a property of the data or of pgvector? Queries on 1 thread."""
    probes = np.concatenate([g.genuine_probes, g.impostor_probes]).astype(np.float32)
    exact, _, _ = faiss_reference(g, probes)
    n = len(g.genuine_probes)
    faiss.omp_set_num_threads(2)
    index = faiss.IndexHNSWFlat(g.vectors.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 64
    t0 = time.perf_counter()
    index.add(g.vectors)
    build_s = time.perf_counter() - t0
    faiss.omp_set_num_threads(1)
    rows = []
    for ef in efs:
        index.hnsw.efSearch = ef
        times = []
        found = np.zeros((len(probes), K), dtype=np.int64)
        for i, probe in enumerate(probes):
            t0 = time.perf_counter()
            _, ids = index.search(probe[None, :], K)
            times.append((time.perf_counter() - t0) * 1000)
            found[i] = ids[0] + 1
        rows.append(
            {
                "ef_search": ef,
                "build_s": build_s,
                "p50_ms": percentile(times, 50),
                "genuine_recall_at_1": _recall(found[:n], exact[:n], 1),
                "impostor_recall_at_1": _recall(found[n:], exact[n:], 1),
                "recall_at_10": _recall(found, exact, 10),
            }
        )
    return rows


def _recall(found: np.ndarray, exact: np.ndarray, k: int) -> float:
    hits = [len(set(found[i, :k]) & set(exact[i, :k])) for i in range(len(found))]
    return float(np.mean(hits)) / k


def _decisions_agree(found: list[list[Match]], exact: list[Decision], threshold: float) -> float:
    """Share of probes given exact search's decision, both decided as facedb decides
    (benchmarks/decisions.py): the same person accepted, both ambiguous or both unknown."""
    margin = Settings.load({}).margin
    same = sum(decide(m, threshold, margin) == want for m, want in zip(found, exact, strict=True))
    return same / len(found)


def query_size(engine: Engine, g: Gallery, efs: list[int]) -> dict[str, Any]:
    probes = np.concatenate([g.genuine_probes, g.impostor_probes]).astype(np.float32)
    exact_ids, _, faiss_ms = faiss_reference(g, probes)
    exact_person = g.person[exact_ids[:, 0] - 1]
    threshold, _ = policy_threshold(g)
    margin = Settings.load({}).margin
    exact = [decide(m, threshold, margin) for m in exact_candidates(g, probes)[0]]
    _identify_ms(engine, probes, efs[-1])  # warm the cache: index and table pages
    rows = []
    for ef in efs:
        times, found = _identify_ms(engine, probes, ef)
        server = _server_ms(engine, probes, ef)
        nearest = _nearest_ids(engine, probes, ef)
        n = len(g.genuine_probes)
        people = np.asarray([m[0].user_id if m else -1 for m in found])
        rows.append(
            {
                "ef_search": ef,
                "p50_ms": percentile(times, 50),
                "p99_ms": percentile(times, 99),
                "server_p50_ms": percentile(server, 50),
                "server_p99_ms": percentile(server, 99),
                "person_top1": float(np.mean(people == exact_person)),
                "recall_at_1": _recall(nearest, exact_ids, 1),
                "recall_at_10": _recall(nearest, exact_ids, 10),
                "genuine_recall_at_1": _recall(nearest[:n], exact_ids[:n], 1),
                "genuine_recall_at_10": _recall(nearest[:n], exact_ids[:n], 10),
                "impostor_recall_at_1": _recall(nearest[n:], exact_ids[n:], 1),
                "impostor_recall_at_10": _recall(nearest[n:], exact_ids[n:], 10),
                "decisions_agree": _decisions_agree(found, exact, threshold),
                "genuine_found": float(np.mean(people[:n] == g.genuine_person)),
            }
        )
        print(f"    ef_search {ef}: p50 {rows[-1]['p50_ms']:.2f} ms", file=sys.stderr)
    exact_sql = _exact_sql_ms(engine, probes[:10])
    return {
        "probes": len(probes),
        "policy_threshold": threshold,
        "round_trip_p50_ms": percentile(_round_trip_ms(engine, len(probes)), 50),
        "queries": rows,
        "faiss_p50_ms": percentile(faiss_ms, 50),
        "faiss_p99_ms": percentile(faiss_ms, 99),
        "seqscan_p50_ms": percentile(exact_sql, 50),
        "explain": explain_identify(engine, probes[0], 100),
    }


def shared_buffers_for(entry: dict[str, Any]) -> str:
    """Enough shared_buffers to hold the table and its index, in GB (at least 1)."""
    needed = 1.25 * (entry["index_mb"] + entry["table_mb"]) / 1024
    return f"{max(1, math.ceil(needed))}GB"


def run(
    real: RealEmbeddings, model: SynthModel, quick: bool, gallery_sizes: list[int] | None
) -> dict[str, Any]:
    """Every size on one embedded server; queries with its default shared_buffers, then
    again after a restart with shared_buffers that hold the table and the index."""
    print("benchmarks: 1:N matching in PostgreSQL", file=sys.stderr)
    results: dict[str, Any] = {
        "sizes": [],
        "isotropic": model.isotropic,
        "threshold": manifest_threshold(),
    }
    probes = 100 if quick else 2000  # genuine and impostor: 99.9 % is 1 in 1,000
    with bench_database() as first:
        database = first
        results["postgres"], results["pgvector"] = server_version(database.engine)
        results["shared_buffers"] = setting(database.engine, "shared_buffers")
        for size in gallery_sizes or sizes(quick):
            print(f"  gallery of {size} faces", file=sys.stderr)
            g = build_gallery(real, model, size, probes // 2)
            engine = database.engine
            loaded = load(engine, g, executemany_rows=min(5_000, size // 10))
            index = build_index(engine, loaded.pop("definition"), size)
            with_index = insert_with_index(engine, g, rows=min(1_000, size // 20))
            entry = {"size": size, "people": g.people, **loaded, **index}
            entry["insert_with_index_rows_per_s"] = with_index
            entry.update(query_size(engine, g, ef_values(quick)))
            database = restart(database, {"shared_buffers": shared_buffers_for(entry)})
            entry["tuned"] = query_size(database.engine, g, ef_values(quick))
            entry["tuned"]["shared_buffers"] = setting(database.engine, "shared_buffers")
            database = restart(database, {"shared_buffers": None})
            if size <= 300_000:  # minutes to build beyond, and the curve is known by then
                entry["faiss_hnsw"] = faiss_hnsw(g, ef_values(quick))
            results["sizes"].append(entry)
    return results
