"""1:N decisions at the gallery's size (issue 18): how small an hnsw.ef_search gives
facedb's decisions, at the threshold facedb uses for that gallery, identical to
exact search, and how long that query takes in PostgreSQL.

facedb does not accept a 1:N match at the 1:1 threshold: the threshold of a search
grows with the gallery (facedb/identification/policy.py, the FPIR target over the
gallery's faces, from the model's impostor tail and the gallery's own self-search),
and a best person must beat the second by the margin (decision.judge_search). An
approximate index only has to find the faces above that threshold, which are far from
the crowd of strangers. So each probe is decided twice, by
facedb.store.gallery.identify over the schema's HNSW index (the query verify and watch
run) and by exact search of the same k nearest faces (FAISS IndexFlatIP), both through
decision.judge_search; *agree* counts the same decision and, when accepted, the same
person. Also given at the 1:1 threshold (as section 2 measures), which facedb never
uses for galleries of this size.

One synthetic gallery per size (benchmarks/synth.py), loaded by COPY into a dedicated
embedded PostgreSQL, the schema's HNSW index built after the load, shared_buffers
large enough for table and index. The ef_search values take turns probe by probe.

    FACEDB_WEIGHTS=../shared/weights python -m benchmarks.matching_policy \\
        --sizes 100000,1000000 --probes 2000 --write docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from benchmarks import matching
from benchmarks.common import cpu_model, percentile, record_measured, write_section
from benchmarks.decisions import Decision, decide, exact_candidates, people_of, policy_threshold
from benchmarks.pg import bench_database, restart, server_version
from benchmarks.synth import Gallery, build_gallery, fit, real_embeddings
from benchmarks.targets import manifest_threshold
from facedb.config import Settings
from facedb.domain.people import Match
from facedb.store import gallery as gallery_store

HEADING = "## 1:N decisions at the gallery's size (issue 18)"
EF_VALUES = (20, 40, 64, 100, 200)  # identify reads at least NEAREST_K (20)
MEMORY_CANDIDATES = (64, 256)  # binary-code candidates re-ranked, in memory


def binary_codes_search(
    g: Gallery, probes: np.ndarray, candidates: int
) -> tuple[list[list[Match]], list[float]]:
    """In memory, not in PostgreSQL: an exact Hamming scan over 64-byte sign codes
    (FAISS IndexBinaryFlat, pgvector's binary_quantize bits), its ``candidates``
    nearest re-ranked on the float vectors, the NEAREST_K best grouped by person.
    Per probe results, and ms a probe (1 thread, one probe a call, re-rank included)."""
    faiss.omp_set_num_threads(1)
    index = faiss.IndexBinaryFlat(g.vectors.shape[1])
    index.add(np.packbits(g.vectors > 0, axis=1))
    k = gallery_store.NEAREST_K

    def one(probe: np.ndarray) -> list[Match]:
        _, rows = index.search(np.packbits(probe[None, :] > 0, axis=1), candidates)
        rows = rows[0][rows[0] >= 0]
        sims = g.vectors[rows] @ probe
        top = np.argsort(-sims)[:k]
        return people_of(g, sims[top], rows[top])

    found, times = [], []
    for probe in probes:
        t0 = time.perf_counter()
        found.append(one(probe))
        times.append((time.perf_counter() - t0) * 1000)
    return found, times


def identify_all(engine: Engine, probes: np.ndarray) -> dict[int, tuple[list[float], list[Any]]]:
    """Every ef_search on every probe through gallery.identify in its own transaction,
    the values taking turns (who goes first rotating)."""
    out: dict[int, tuple[list[float], list[Any]]] = {ef: ([], []) for ef in EF_VALUES}
    with Session(engine) as session:
        for probe in probes[:50]:  # warm the pages
            with session.begin():
                gallery_store.identify(session, probe[None, :], matching.MODEL, ef_search=200)
        for i, probe in enumerate(probes):
            for j in range(len(EF_VALUES)):
                ef = EF_VALUES[(i + j) % len(EF_VALUES)]
                t0 = time.perf_counter()
                with session.begin():
                    found = gallery_store.identify(
                        session, probe[None, :], matching.MODEL, ef_search=ef
                    )[0]
                out[ef][0].append((time.perf_counter() - t0) * 1000)
                out[ef][1].append(found)
    return out


def server_ms(engine: Engine, probes: np.ndarray, ef: int) -> float:
    """p50 of identify's statement inside the server (EXPLAIN ANALYZE, TIMING OFF)."""
    return percentile(matching._server_ms(engine, probes, ef), 50)


def agreement(found: list[Decision], exact: list[Decision], rows: slice) -> dict[str, Any]:
    pairs = list(zip(found[rows], exact[rows], strict=True))
    differ = sum(a != b for a, b in pairs)
    return {"probes": len(pairs), "differ": differ, "agree": 1 - differ / len(pairs)}


def run_size(size: int, probes: int) -> dict[str, Any]:
    real = real_embeddings()
    g = build_gallery(real, fit(real), size, probes)
    all_probes = np.concatenate([g.genuine_probes, g.impostor_probes]).astype(np.float32)
    n = len(g.genuine_probes)
    threshold, calibration = policy_threshold(g)
    one_to_one = manifest_threshold()
    margin = Settings.load({}).margin
    exact, faiss_ms = exact_candidates(g, all_probes)
    want = [decide(m, threshold, margin) for m in exact]
    memory = []
    for candidates in MEMORY_CANDIDATES:
        found, times = binary_codes_search(g, all_probes, candidates)
        got = [decide(m, threshold, margin) for m in found]
        memory.append(
            {
                "candidates": candidates,
                "p50_ms": percentile(times, 50),
                "p99_ms": percentile(times, 99),
                "genuine": agreement(got, want, slice(0, n)),
                "impostor": agreement(got, want, slice(n, None)),
                "all": agreement(got, want, slice(None)),
            }
        )
        print("    memory", json.dumps(memory[-1]), file=sys.stderr)
    entry: dict[str, Any] = {
        "size": size,
        "people": g.people,
        "threshold": threshold,
        "calibration": calibration,
        "margin": margin,
        "one_to_one": one_to_one,
        "faiss_flat_p50_ms": percentile(faiss_ms, 50),
        "memory": memory,
    }
    with bench_database() as first:
        entry["postgres"], entry["pgvector"] = server_version(first.engine)
        loaded = matching.load(first.engine, g, executemany_rows=1)
        entry.update(matching.build_index(first.engine, loaded["definition"], size))
        print(f"  {size}: index built in {entry['build_s']:.0f} s", file=sys.stderr)
        buffers = matching.shared_buffers_for(entry)
        database = restart(first, {"shared_buffers": buffers})
        entry["shared_buffers"] = buffers
        try:
            measured = identify_all(database.engine, all_probes)
            rows = []
            for ef in EF_VALUES:
                times, found = measured[ef]
                row: dict[str, Any] = {
                    "ef_search": ef,
                    "p50_ms": percentile(times, 50),
                    "p99_ms": percentile(times, 99),
                    "server_p50_ms": server_ms(database.engine, all_probes[:300], ef),
                }
                for name, t in (("policy", threshold), ("one_to_one", one_to_one)):
                    got = [decide(m, t, margin) for m in found]
                    want = [decide(m, t, margin) for m in exact]
                    row[name] = {
                        "all": agreement(got, want, slice(None)),
                        "genuine": agreement(got, want, slice(0, n)),
                        "impostor": agreement(got, want, slice(n, None)),
                        "exact_genuine_accepted": sum(
                            d == ("accepted", int(p))
                            for d, p in zip(want[:n], g.genuine_person, strict=True)
                        )
                        / n,
                        "exact_impostor_accepted": sum(d[0] == "accepted" for d in want[n:])
                        / (len(want) - n),
                    }
                print("   ", json.dumps(row), file=sys.stderr)
                rows.append(row)
            entry["queries"] = rows
        finally:
            restart(database, {"shared_buffers": None})
    return entry


def section(result: dict[str, Any]) -> str:
    sizes = result["sizes"]
    first = sizes[0]
    lines = [
        HEADING,
        "",
        f"`python -m benchmarks.matching_policy --sizes "
        f"{','.join(str(s['size']) for s in sizes)} --probes {result['probes']}` on "
        f"{result['date']}: {os.cpu_count()} cores ({cpu_model()}), PostgreSQL "
        f"{first['postgres']} with pgvector {first['pgvector']} (embedded), the schema's "
        "HNSW index (m 16, ef_construction 64) built after a COPY load, shared_buffers "
        f"holding table and index. Per size, {result['probes']} genuine probes (new faces "
        f"of gallery people) and {result['probes']} impostors; each is searched through "
        "`facedb.store.gallery.identify` (the query of verify and watch, one transaction "
        "a probe, client-side time) at each ef_search in turn, and by exact search "
        "(FAISS flat) of the same 20 nearest faces, and both are decided by "
        "`decision.judge_search` at the threshold facedb uses for that gallery (its FPIR "
        "target over the gallery's faces, from the model's impostor tail and the "
        "gallery's self-search; margin "
        f"{first['margin']:g}). *Differ*: probes whose decision (accepted, which person, "
        "ambiguous, unknown) is not exact search's. The *1:1 threshold* columns decide at "
        f"{first['one_to_one']:g} instead, as section 2 does: facedb never uses it for "
        "galleries of this size (at 100,000 faces it would accept nearly every stranger).",
        "",
        "| faces | threshold | ef_search | p50 ms | p99 ms | in server p50 ms | differ, "
        "genuine | differ, impostors | agree | exact: genuine accepted / impostors "
        "accepted | differ at the 1:1 threshold |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in sizes:
        for q in s["queries"]:
            p, o = q["policy"], q["one_to_one"]
            lines.append(
                f"| {s['size']:,} | {s['threshold']:.3f} | {q['ef_search']} | "
                f"{q['p50_ms']:.2f} | {q['p99_ms']:.2f} | {q['server_p50_ms']:.2f} | "
                f"{p['genuine']['differ']} of {p['genuine']['probes']} | "
                f"{p['impostor']['differ']} of {p['impostor']['probes']} | "
                f"{p['all']['agree']:.2%} | {p['exact_genuine_accepted']:.1%} / "
                f"{p['exact_impostor_accepted']:.2%} | {o['all']['differ']} of "
                f"{o['all']['probes']} |"
            )
    lines += [
        "",
        "The in-memory reference, outside PostgreSQL (one thread, one probe a call): exact "
        "search on the float vectors (FAISS flat), and an exact Hamming scan over 64-byte "
        "sign codes (FAISS IndexBinaryFlat on the bits pgvector's `binary_quantize` "
        "gives) whose nearest candidates are re-ranked on the float vectors, then grouped "
        "and decided as above:",
        "",
        "| faces | search | p50 ms | p99 ms | differ, genuine | differ, impostors | agree |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in sizes:
        lines.append(
            f"| {s['size']:,} | FAISS flat, float32 (exact) | {s['faiss_flat_p50_ms']:.2f} | "
            "– | 0 (exact) | 0 (exact) | 100% |"
        )
        for m in s["memory"]:
            lines.append(
                f"| {s['size']:,} | binary codes, {m['candidates']} candidates re-ranked | "
                f"{m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['genuine']['differ']} of "
                f"{m['genuine']['probes']} | {m['impostor']['differ']} of "
                f"{m['impostor']['probes']} | {m['all']['agree']:.2%} |"
            )
    lines += [
        "",
        "Builds: "
        + "; ".join(
            f"{s['size']:,} faces ({s['people']:,} people): index {s['build_s']:.0f} s, "
            f"{s['index_mb']:,.0f} MB, table {s['table_mb']:,.0f} MB, shared_buffers "
            f"{s['shared_buffers']}, FAISS flat {s['faiss_flat_p50_ms']:.1f} ms a probe"
            for s in sizes
        )
        + ".",
    ]
    lines += ["", _reading(sizes), "", _target(sizes)]
    return "\n".join(lines) + "\n"


def _reading(sizes: list[dict[str, Any]]) -> str:
    impostors = max(q["policy"]["impostor"]["differ"] for s in sizes for q in s["queries"])
    return (
        "Nearly every differing decision is a genuine probe's: impostors differ in at "
        f"most {impostors} of {sizes[0]['queries'][0]['policy']['impostor']['probes']} at "
        "any ef_search. The synthetic identities are isotropic (benchmarks/synth.py): a "
        "probe's nearest own face is at a cosine of about 0.74 (median; 0.42 for the "
        "lowest 5 %) while every other face is at 0.01 ± 0.07, so the graph walk has no "
        "slope toward the enrolled person until it happens on one of their neighbours, and "
        "more breadth (ef_search) is the only remedy; real embeddings lie closer to a "
        "low-dimensional set, so these agreements are lower bounds. A scan of compact "
        "codes has no such blind spot: a pair at 0.74 differs in about 120 of 512 sign "
        "bits (at 0.42, about 185), strangers in about 256."
    )


def _target(sizes: list[dict[str, Any]]) -> str:
    goal = {100_000: 2.0, 1_000_000: 10.0}
    parts, met = [], True
    for s in sizes:
        if s["size"] not in goal:
            continue
        good = [q for q in s["queries"] if q["policy"]["all"]["agree"] >= 0.999]
        fast = [q for q in good if q["p50_ms"] < goal[s["size"]]]
        best = max(s["queries"], key=lambda q: q["policy"]["all"]["agree"])
        met = met and bool(fast)
        memory = max(s["memory"], key=lambda m: m["all"]["agree"])
        parts.append(
            f"at {s['size']:,} faces, "
            + (
                f"ef_search {fast[0]['ef_search']}: {fast[0]['p50_ms']:.2f} ms"
                if fast
                else f"no ef_search reaches 99.9 % (best {best['policy']['all']['agree']:.2%}"
                f" at ef_search {best['ef_search']}, p50 {best['p50_ms']:.2f} ms)"
            )
            + f"; in memory, binary codes with {memory['candidates']} re-ranked: "
            f"{memory['p50_ms']:.2f} ms, {memory['all']['agree']:.2%}"
        )
    verdict = "**met**" if met else "**not met** in PostgreSQL"
    return (
        "Target, p50 under 2 ms at 100,000 faces and under 10 ms at 1,000,000 with the "
        "decision of exact search for at least 99.9 % of probes: "
        + "; ".join(parts)
        + f". {verdict}."
    )


def record_targets(result: dict[str, Any]) -> None:
    """Each size's closest row to the 1:N targets, for the Targets table."""
    for s in result["sizes"]:
        q = max(s["queries"], key=lambda q: (q["policy"]["all"]["agree"], -q["p50_ms"]))
        agree = q["policy"]["all"]
        where = f"decided as facedb decides, {agree['probes']:,} probes"
        ef = f"(ef_search {q['ef_search']})"
        record_measured(
            f"matching.decisions_agree.{s['size']}",
            agree["agree"],
            f"{agree['agree']:.2%}, {agree['differ']} differ {ef}",
            where,
        )
        record_measured(
            f"matching.p50_ms.{s['size']}", q["p50_ms"], f"{q['p50_ms']:.2f} ms {ef}", where
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="gallery sizes, comma-separated")
    parser.add_argument("--probes", type=int, default=2000, help="genuine (and impostor) probes")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--write", type=Path, help="write the section into this Markdown file")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "probes": args.probes,
        "date": date.today().isoformat(),
        "sizes": [run_size(int(s), args.probes) for s in args.sizes.split(",")],
    }
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    if args.write is not None:
        write_section(args.write, HEADING, section(result))
        record_targets(result)
        print(f"wrote the {HEADING[3:]!r} section of {args.write}", file=sys.stderr)
    print(section(result))


if __name__ == "__main__":
    main()
