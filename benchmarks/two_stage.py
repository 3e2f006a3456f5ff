"""The two-stage 1:N search of facedb (facedb/store/search.py, issue 34), in
PostgreSQL, side by side with exact search, on a realistic and on an isotropic
synthetic gallery (benchmarks/synth.py: identity centres and within-person spread
fitted to the shared CelebA embeddings; the isotropic one is the index's worst case).

Each probe is decided as facedb decides (the threshold facedb uses for the gallery's
size, the margin) three ways: by the two-stage search (`two_stage`, one transaction a
probe, client-side time), by stage one alone (the HNSW index), and by exact search in
memory (numpy, the same 20 nearest faces grouped by person). *Differ*: the decision
(accepted, which person, ambiguous, unknown) is not exact search's.

    python -m benchmarks.two_stage --size 10000 --probes 300 --json benchmarks/results/two_stage.json
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

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from benchmarks import matching
from benchmarks.common import cpu_model, percentile, write_section
from benchmarks.pg import bench_database, restart, server_version
from benchmarks.synth import (
    Gallery,
    build_gallery,
    distributions,
    fit,
    participation_ratio,
    real_embeddings,
)
from facedb.config import Settings
from facedb.decision import judge_search
from facedb.domain.people import Match
from facedb.store import gallery as gallery_store
from facedb.store.search import STAGE_EXACT, two_stage

Decision = tuple[str, int]
HEADING = "## Two-stage 1:N search (issue 34)"


def people_of(g: Gallery, sims: np.ndarray, rows: np.ndarray) -> list[Match]:
    best: dict[int, float] = {}
    for sim, row in zip(sims, rows, strict=True):
        person = int(g.person[row])
        best[person] = max(best.get(person, -1.0), float(sim))
    ranked = sorted(best.items(), key=lambda p: -p[1])
    return [Match(p, f"person-{p}", s) for p, s in ranked]


def exact(g: Gallery, probes: np.ndarray) -> tuple[list[list[Match]], list[float]]:
    """Exact search in memory (numpy, one probe a call): per probe the people of its
    NEAREST_K nearest faces, and ms a probe."""
    k = gallery_store.NEAREST_K
    out, times = [], []
    for probe in probes:
        t0 = time.perf_counter()
        sims = g.vectors @ probe
        rows = np.argpartition(-sims, k)[:k]
        rows = rows[np.argsort(-sims[rows])]
        times.append((time.perf_counter() - t0) * 1000)
        out.append(people_of(g, sims[rows], rows))
    return out, times


def decide(matches: list[Match], threshold: float, margin: float) -> Decision:
    verdict = judge_search(matches, threshold, margin)
    return verdict.decision, verdict.person.user_id if verdict.person is not None else -1


def threshold_for(g: Gallery) -> float:
    """facedb's 1:N threshold for this gallery (benchmarks/decisions.py makes it as
    facedb.policy does); imported here so that faiss is only needed for that."""
    from benchmarks.decisions import policy_threshold

    return policy_threshold(g)[0]


def run_probes(
    engine: Engine,
    probes: np.ndarray,
    threshold: float,
    margin: float,
    clear: float,
    ef_search: int,
) -> dict[str, Any]:
    # matching.load numbers the users from 1 in the gallery's order: user id = person id.
    two, alone, stages, times, alone_times = [], [], [], [], []
    with Session(engine) as session:
        for probe in probes[:30]:  # warm the pages
            with session.begin():
                gallery_store.identify(session, probe, matching.MODEL, ef_search=ef_search)
        for probe in probes:
            t0 = time.perf_counter()
            with session.begin():
                found = two_stage(
                    session,
                    probe,
                    matching.MODEL,
                    threshold=threshold,
                    margin=margin,
                    clear=clear,
                    ef_search=ef_search,
                )
            times.append((time.perf_counter() - t0) * 1000)
            two.append(decide(found.matches, threshold, margin))
            stages.append(found.stage)
            t0 = time.perf_counter()
            with session.begin():
                index = gallery_store.identify(session, probe, matching.MODEL, ef_search=ef_search)
            alone_times.append((time.perf_counter() - t0) * 1000)
            alone.append(decide(index[0], threshold, margin))
    return {
        "two": two,
        "alone": alone,
        "stages": stages,
        "times": times,
        "alone_times": alone_times,
    }


def _stats(
    got: list[Decision], want: list[Decision], times: list[float], rows: slice
) -> dict[str, Any]:
    pairs = list(zip(got[rows], want[rows], strict=True))
    differ = sum(a != b for a, b in pairs)
    t = times[rows]
    return {
        "probes": len(pairs),
        "differ": differ,
        "agree": 1 - differ / len(pairs),
        "p50_ms": percentile(t, 50),
        "p99_ms": percentile(t, 99),
    }


def match_to_real(kind: str) -> dict[str, float]:
    """How the synthetic faces compare with the shared real ones: genuine and impostor
    similarities (mean, sd) and the effective dimensions the faces spread over."""
    real = real_embeddings()
    model = fit(real, isotropic=kind == "isotropic")
    d = {k: np.asarray(v) for k, v in distributions(real, model).items()}
    g = build_gallery(real, model, 4000, 10)
    synthetic = g.vectors[g.person > g.person[0] + len({w for w in real.identity if w})]
    return {
        **{f"{k}_mean": float(v.mean()) for k, v in d.items()},
        **{f"{k}_sd": float(v.std()) for k, v in d.items()},
        "real_dimensions": participation_ratio(real.vectors),
        "synthetic_dimensions": participation_ratio(synthetic[:800]),
    }


def run_gallery(kind: str, size: int, probes: int) -> dict[str, Any]:
    real = real_embeddings()
    g = build_gallery(real, fit(real, isotropic=kind == "isotropic"), size, probes)
    all_probes = np.concatenate([g.genuine_probes, g.impostor_probes]).astype(np.float32)
    n = len(g.genuine_probes)
    settings = Settings.load({})
    threshold, margin = threshold_for(g), settings.margin
    truth, exact_ms = exact(g, all_probes)
    want = [decide(m, threshold, margin) for m in truth]
    entry: dict[str, Any] = {
        "kind": kind,
        "size": size,
        "people": g.people,
        "threshold": threshold,
        "margin": margin,
        "clear": settings.search_clear,
        "ef_search": settings.ef_search,
        "numpy_exact_p50_ms": percentile(exact_ms, 50),
        "exact_genuine_accepted": sum(d[0] == "accepted" for d in want[:n]) / n,
        "exact_impostor_accepted": sum(d[0] == "accepted" for d in want[n:]) / (len(want) - n),
        "match": match_to_real(kind),
    }
    with bench_database() as first:
        entry["postgres"], entry["pgvector"] = server_version(first.engine)
        loaded = matching.load(first.engine, g, executemany_rows=1)
        entry.update(matching.build_index(first.engine, loaded["definition"], size))
        buffers = matching.shared_buffers_for(entry)
        database = restart(first, {"shared_buffers": buffers})
        entry["shared_buffers"] = buffers
        try:
            out = run_probes(
                database.engine,
                all_probes,
                threshold,
                margin,
                settings.search_clear,
                settings.ef_search,
            )
        finally:
            restart(database, {"shared_buffers": None})
    exact_rows = [i for i, s in enumerate(out["stages"]) if s == STAGE_EXACT]
    entry["two_stage"] = {
        "genuine": _stats(out["two"], want, out["times"], slice(0, n)),
        "impostor": _stats(out["two"], want, out["times"], slice(n, None)),
        "stage_two_share": len(exact_rows) / len(all_probes),
        "stage_two_differ": sum(out["two"][i] != want[i] for i in exact_rows),
        "stage_two_probes": len(exact_rows),
    }
    entry["index_alone"] = {
        "genuine": _stats(out["alone"], want, out["alone_times"], slice(0, n)),
        "impostor": _stats(out["alone"], want, out["alone_times"], slice(n, None)),
    }
    print(json.dumps(entry), file=sys.stderr)
    return entry


def table(result: dict[str, Any]) -> str:
    lines = [
        HEADING,
        "",
        f"`python -m benchmarks.two_stage --size {result['size']} --probes "
        f"{result['probes']}` on {result['date']}: {os.cpu_count()} cores ({cpu_model()}), "
        "embedded PostgreSQL, shared_buffers holding table and index.",
        "",
        "| gallery | faces | threshold | search | p50 ms genuine | p99 ms genuine | p50 ms "
        "impostor | p99 ms impostor | differ genuine | differ impostor | stage two |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in result["galleries"]:
        for name, s in (("two-stage", e["two_stage"]), ("index alone", e["index_alone"])):
            share = (
                f"{s['stage_two_share']:.1%} ({s['stage_two_differ']} of "
                f"{s['stage_two_probes']} differ)"
                if "stage_two_share" in s
                else "–"
            )
            lines.append(
                f"| {e['kind']} | {e['size']:,} | {e['threshold']:.3f} | {name} | "
                f"{s['genuine']['p50_ms']:.2f} | {s['genuine']['p99_ms']:.2f} | "
                f"{s['impostor']['p50_ms']:.2f} | {s['impostor']['p99_ms']:.2f} | "
                f"{s['genuine']['differ']} of {s['genuine']['probes']} | "
                f"{s['impostor']['differ']} of {s['impostor']['probes']} | {share} |"
            )
    lines += [
        "",
        "The galleries against the shared real faces (benchmarks/synth.py): similarities "
        "of two faces of one person (genuine) and of two people (impostor), mean ± sd, "
        "and the effective dimensions the faces spread over (participation ratio of "
        "their covariance).",
        "",
        "| gallery | genuine real | genuine synthetic | impostor real | impostor synthetic "
        "| dimensions real | dimensions synthetic |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in result["galleries"]:
        m = e["match"]
        lines.append(
            f"| {e['kind']} | {m['real_genuine_mean']:.3f} ± {m['real_genuine_sd']:.3f} | "
            f"{m['synthetic_genuine_mean']:.3f} ± {m['synthetic_genuine_sd']:.3f} | "
            f"{m['real_impostor_mean']:.3f} ± {m['real_impostor_sd']:.3f} | "
            f"{m['synthetic_impostor_mean']:.3f} ± {m['synthetic_impostor_sd']:.3f} | "
            f"{m['real_dimensions']:.0f} | {m['synthetic_dimensions']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, help="faces in each gallery")
    parser.add_argument("--probes", type=int, default=300, help="genuine (and impostor) probes")
    parser.add_argument("--galleries", default="realistic,isotropic")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--write", type=Path, help="write the section into this Markdown file")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "size": args.size,
        "probes": args.probes,
        "date": date.today().isoformat(),
        "galleries": [run_gallery(k, args.size, args.probes) for k in args.galleries.split(",")],
    }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    if args.write is not None:
        write_section(args.write, HEADING, table(result))
    print(table(result))


if __name__ == "__main__":
    main()
