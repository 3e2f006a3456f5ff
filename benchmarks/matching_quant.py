"""1:N in PostgreSQL with compact codes (issue 18): float32 HNSW (the schema of
migration 0001), a halfvec expression index, and binary codes (pgvector's
``binary_quantize`` with a ``bit_hamming_ops`` HNSW index) whose candidates are
re-ranked on the full vectors. One gallery, one embedded server, all indexes built
side by side; every probe goes through the same statement shape as
facedb.store.gallery.identify (LATERAL per probe, best score per active person).

Agreement is against exact search (FAISS IndexFlatIP): the same accept/unknown
decision at the threshold, and the same person when accepted.

    FACEDB_WEIGHTS=../shared/weights python -m benchmarks.matching_quant --size 100000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from benchmarks import matching
from benchmarks.common import percentile
from benchmarks.pg import bench_database, restart, server_version
from benchmarks.synth import build_gallery, fit, real_embeddings
from facedb.store import gallery as gallery_store

THRESHOLDS = (0.30, 0.37)
INDEXES = {
    "float": (
        "CREATE INDEX bench_float ON face_embeddings USING hnsw "
        "(embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
    ),
    "halfvec": (
        "CREATE INDEX bench_half ON face_embeddings USING hnsw "
        "((embedding::halfvec(512)) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)"
    ),
    "binary": (
        "CREATE INDEX bench_bits ON face_embeddings USING hnsw "
        "((binary_quantize(embedding)::bit(512)) bit_hamming_ops) "
        "WITH (m = 16, ef_construction = 64)"
    ),
}
INDEX_NAMES = {"float": "bench_float", "halfvec": "bench_half", "binary": "bench_bits"}

_HEAD = """
SELECT p.idx, u.id, u.name, 1 - min(n.distance) AS similarity
FROM unnest(CAST(:probes AS vector[])) WITH ORDINALITY AS p(probe, idx)
CROSS JOIN LATERAL ({inner}) AS n
JOIN users u ON u.id = n.user_id AND u.active
GROUP BY p.idx, u.id, u.name
ORDER BY p.idx, similarity DESC
"""
INNER = {
    "float": """
        SELECT e.user_id, e.embedding <=> p.probe AS distance
        FROM face_embeddings e WHERE e.model = :model
        ORDER BY e.embedding <=> p.probe LIMIT :k""",
    "halfvec": """
        SELECT c.user_id, c.embedding <=> p.probe AS distance FROM (
            SELECT e.user_id, e.embedding FROM face_embeddings e WHERE e.model = :model
            ORDER BY e.embedding::halfvec(512) <=> p.probe::halfvec(512) LIMIT :candidates
        ) AS c ORDER BY distance LIMIT :k""",
    "binary": """
        SELECT c.user_id, c.embedding <=> p.probe AS distance FROM (
            SELECT e.user_id, e.embedding FROM face_embeddings e WHERE e.model = :model
            ORDER BY binary_quantize(e.embedding)::bit(512) <~> binary_quantize(p.probe)
            LIMIT :candidates
        ) AS c ORDER BY distance LIMIT :k""",
}
# (kind, hnsw.ef_search, candidates read from the index before the exact re-rank)
VARIANTS = (
    ("float", 100, 20),
    ("float", 200, 20),
    ("halfvec", 100, 20),
    ("halfvec", 200, 20),
    ("binary", 100, 40),
    ("binary", 100, 100),
    ("binary", 200, 200),
)


def build(engine: Engine, kind: str, size: int) -> dict[str, float]:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"SET maintenance_work_mem = '{matching.maintenance_work_mem(size)}'"))
        conn.execute(text("SET max_parallel_maintenance_workers = 1"))
        t0 = time.perf_counter()
        conn.execute(text(INDEXES[kind]))
        build_s = time.perf_counter() - t0
        size_b = conn.execute(text(f"SELECT pg_relation_size('{INDEX_NAMES[kind]}')")).scalar_one()
    print(f"  {kind} index: {build_s:.1f} s, {size_b / 2**20:.0f} MB", file=sys.stderr)
    return {"build_s": build_s, "index_mb": size_b / 2**20}


def query(
    session: Session, probe: np.ndarray, kind: str, ef: int, candidates: int
) -> tuple[float, tuple[int, float]]:
    """Milliseconds of one identify-shaped transaction, and its (top person, similarity)."""
    sql = text(_HEAD.format(inner=INNER[kind]))
    t0 = time.perf_counter()
    with session.begin():
        session.execute(text(f"SET LOCAL hnsw.ef_search = {ef}"))
        session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        rows = session.execute(
            sql,
            {
                "probes": [gallery_store.vector_literal(probe)],
                "model": matching.MODEL,
                "k": gallery_store.NEAREST_K,
                "candidates": candidates,
            },
        ).all()
    elapsed = (time.perf_counter() - t0) * 1000
    return elapsed, ((int(rows[0][1]), float(rows[0][3])) if rows else (-1, -1.0))


def query_all(
    engine: Engine, probes: np.ndarray
) -> list[tuple[list[float], list[tuple[int, float]]]]:
    """Every variant on every probe, the variants taking turns probe by probe (who goes
    first rotating), so that a change of load on this shared machine hits all alike."""
    out: list[tuple[list[float], list[tuple[int, float]]]] = [([], []) for _ in VARIANTS]
    with Session(engine) as session:
        for probe in probes[:30]:  # warm the pages of every index
            for kind, ef, candidates in VARIANTS:
                query(session, probe, kind, ef, candidates)
        for i, probe in enumerate(probes):
            for j in range(len(VARIANTS)):
                v = (i + j) % len(VARIANTS)
                ms, top = query(session, probe, *VARIANTS[v])
                out[v][0].append(ms)
                out[v][1].append(top)
    return out


def agree(tops: list[tuple[int, float]], person: np.ndarray, sim: np.ndarray, t: float) -> float:
    same = 0
    for (who, s), want, want_s in zip(tops, person, sim, strict=True):
        accepted, want_accepted = s >= t, want_s >= t
        same += accepted == want_accepted and (not accepted or who == want)
    return same / len(tops)


def run(size: int, probes: int, shared_buffers: str) -> dict[str, Any]:
    real = real_embeddings()
    model = fit(real)
    g = build_gallery(real, model, size, probes // 2)
    all_probes = np.concatenate([g.genuine_probes, g.impostor_probes]).astype(np.float32)
    exact_ids, exact_sim, faiss_ms = matching.faiss_reference(g, all_probes)
    exact_person = g.person[exact_ids[:, 0] - 1]
    n = len(g.genuine_probes)
    out: dict[str, Any] = {
        "size": size,
        "probes": len(all_probes),
        "shared_buffers": shared_buffers,
    }
    out["faiss_flat_p50_ms"] = percentile(faiss_ms, 50)
    with bench_database() as first:
        out["postgres"], out["pgvector"] = server_version(first.engine)
        matching.load(first.engine, g, executemany_rows=1)
        out["indexes"] = {kind: build(first.engine, kind, size) for kind in INDEXES}
        with first.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE face_embeddings"))
        database = restart(first, {"shared_buffers": shared_buffers})
        try:
            rows = []
            measured = query_all(database.engine, all_probes)
            for (kind, ef, candidates), (times, tops) in zip(VARIANTS, measured, strict=True):
                people = np.asarray([who for who, _ in tops])
                row = {
                    "kind": kind,
                    "ef_search": ef,
                    "candidates": candidates,
                    "p50_ms": percentile(times, 50),
                    "p99_ms": percentile(times, 99),
                    "genuine_person_top1": float(np.mean(people[:n] == exact_person[:n])),
                    "impostor_person_top1": float(np.mean(people[n:] == exact_person[n:])),
                }
                for t in THRESHOLDS:
                    row[f"decisions_agree_{t:.2f}"] = agree(tops, exact_person, exact_sim, t)
                print("   ", json.dumps(row), file=sys.stderr)
                rows.append(row)
            out["queries"] = rows
        finally:
            database = restart(database, {"shared_buffers": None})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--shared-buffers", default="1GB")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.size, args.probes, args.shared_buffers)
    text_out = json.dumps(result, indent=2)
    if args.json is not None:
        args.json.write_text(text_out, encoding="utf-8")
    print(text_out)


if __name__ == "__main__":
    main()
