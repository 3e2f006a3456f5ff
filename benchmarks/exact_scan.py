"""What stage two of the 1:N search costs (facedb/store/search.py): the exact scan of
every face of the model, timed inside PostgreSQL (EXPLAIN ANALYZE, TIMING OFF) and at
the client, and the scan of the faces' binary codes with CANDIDATES re-ranked (client
time, and how many decisions differ from the exact scan's, decided as facedb decides),
on a realistic synthetic gallery loaded by COPY. These scans need no HNSW index, so
none is built: a gallery of 100,000 faces loads in seconds.

    python -m benchmarks.exact_scan --sizes 10000,100000 --probes 40
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from benchmarks import matching
from benchmarks.common import cpu_model, percentile
from benchmarks.pg import bench_database, restart, server_version
from benchmarks.synth import build_gallery, fit, real_embeddings
from benchmarks.two_stage import decide, threshold_for
from facedb.config import Settings
from facedb.store import gallery as gallery_store
from facedb.store.search import scan_codes


def _server_ms(engine: Engine, probes: np.ndarray) -> list[float]:
    """The exact query's execution time inside the server, per probe."""
    query = gallery_store.EXACT_QUERY  # the SQL stage two runs
    out = []
    with engine.connect() as conn:
        for probe in probes:
            plan = conn.execute(
                text(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {query}"),
                {
                    "probes": [gallery_store.vector_literal(probe)],
                    "model": matching.MODEL,
                    "k": gallery_store.NEAREST_K,
                    "scope": None,
                },
            ).scalar_one()
            out.append(float(plan[0]["Execution Time"]))
    return out


CANDIDATES = (100, 1000)


def _client_ms(
    engine: Engine, probes: np.ndarray, candidates: int = 0
) -> tuple[list[float], list[Any]]:
    out, found = [], []
    with Session(engine) as session:
        for probe in probes:
            t0 = time.perf_counter()
            with session.begin():
                if candidates:
                    found.append(scan_codes(session, probe, matching.MODEL, candidates))
                else:
                    found.append(
                        gallery_store.identify(session, probe, matching.MODEL, exact=True)[0]
                    )
            out.append((time.perf_counter() - t0) * 1000)
    return out, found


def run_size(size: int, probes: int) -> dict[str, Any]:
    real = real_embeddings()
    g = build_gallery(real, fit(real), size, probes)
    queries = np.concatenate([g.genuine_probes, g.impostor_probes]).astype(np.float32)
    with bench_database() as first:
        entry: dict[str, Any] = {"size": size}
        entry["postgres"], entry["pgvector"] = server_version(first.engine)
        matching.load(first.engine, g, executemany_rows=1)  # leaves no HNSW index
        with first.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE face_embeddings"))
            entry["table_mb"] = (
                conn.execute(text("SELECT pg_total_relation_size('face_embeddings')")).scalar_one()
                / 2**20
            )
        buffers = f"{max(1, int(entry['table_mb'] * 1.25 / 1024) + 1)}GB"
        database = restart(first, {"shared_buffers": buffers})
        entry["shared_buffers"] = buffers
        try:
            _client_ms(database.engine, queries[:10])  # warm the pages
            _client_ms(database.engine, queries[:10], CANDIDATES[0])
            server = _server_ms(database.engine, queries)
            client, truth = _client_ms(database.engine, queries)
            threshold, margin = threshold_for(g), Settings.load({}).margin
            want = [decide(m, threshold, margin) for m in truth]
            for candidates in CANDIDATES:
                times, found = _client_ms(database.engine, queries, candidates)
                got = [decide(m, threshold, margin) for m in found]
                entry[f"codes_{candidates}"] = {
                    "client_p50_ms": percentile(times, 50),
                    "client_p99_ms": percentile(times, 99),
                    "differ": sum(a != b for a, b in zip(got, want, strict=True)),
                }
        finally:
            restart(database, {"shared_buffers": None})
    entry.update(
        {
            "server_p50_ms": percentile(server, 50),
            "server_p99_ms": percentile(server, 99),
            "client_p50_ms": percentile(client, 50),
            "client_p99_ms": percentile(client, 99),
            "probes": len(queries),
        }
    )
    print(json.dumps(entry), file=sys.stderr)
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--probes", type=int, default=40, help="genuine (and impostor) probes")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores ({cpu_model()})", file=sys.stderr)
    rows = [run_size(int(s), args.probes) for s in args.sizes.split(",")]
    print("| faces | stage two | in server p50 / p99 ms | client p50 / p99 ms | differ |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['size']:,} | float scan ({r['table_mb']:.0f} MB) | {r['server_p50_ms']:.1f} / "
            f"{r['server_p99_ms']:.1f} | {r['client_p50_ms']:.1f} / {r['client_p99_ms']:.1f} "
            f"| 0 of {r['probes']} (exact) |"
        )
        for c in CANDIDATES:
            m = r[f"codes_{c}"]
            print(
                f"| {r['size']:,} | binary codes, {c} re-ranked | – | "
                f"{m['client_p50_ms']:.1f} / {m['client_p99_ms']:.1f} | "
                f"{m['differ']} of {r['probes']} |"
            )


if __name__ == "__main__":
    main()
