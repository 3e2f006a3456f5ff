"""Section 2's longer notes: how the synthetic gallery is made, FAISS's own HNSW on
the same vectors, and what a 1M-face gallery would take."""

from __future__ import annotations

import math
import statistics
from typing import Any

from benchmarks.common import percentile
from benchmarks.render.common import table


def synth_text(m: dict[str, Any]) -> str:
    s = m["synth"]
    d = s["distributions"]
    rows = []
    for key in ("real_genuine", "synthetic_genuine", "real_impostor", "synthetic_impostor"):
        v = d[key]
        rows.append(
            [
                key.replace("_", " "),
                len(v),
                f"{statistics.mean(v):.3f}",
                f"{statistics.pstdev(v):.3f}",
                f"{percentile(v, 5):.3f}",
                f"{percentile(v, 95):.3f}",
            ]
        )
    return (
        f"**Vectors.** The gallery holds the real embeddings of ../shared/faces "
        f"({s['real_faces']} faces, embedded once by facedb and cached in "
        "benchmarks/cache, gitignored) and synthetic people of five faces each "
        "(facedb keeps up to five). Synthetic identity centres are "
        "c = normalise(a·m + √(1−a²)·u), m the mean direction of the real embeddings; a face "
        "is normalise(c + t·n), t log-normal. "
        + (
            "u and n are isotropic random unit vectors (`--synth isotropic`): the worst case "
            "for an approximate index, and impostors spread less than real ones. "
            if s.get("isotropic")
            else "u and n are random unit vectors shaped like the real embeddings: u with the "
            "covariance of all real faces, n with the covariance of the named faces around "
            f"their person's mean (both shrunk {int(s.get('shrink', 0.2) * 100)}% towards "
            "isotropic). Real embeddings use about half the dimensions that isotropic noise "
            "does (participation ratio of their covariance's eigenvalues "
            f"{s.get('participation_real', float('nan')):.0f} against "
            f"{s.get('participation_isotropic', float('nan')):.0f} for as many isotropic "
            "vectors), which is what makes an approximate index work; "
            "isotropic noise (`--synth isotropic`) is a much harder case than real faces. "
        )
        + "t's median and spread are fitted to the mean and spread of the real "
        "genuine similarities (CelebA and the other named people), a to the real impostor "
        f"mean (fitted: a = {s['a']:.3f}, median t = {s['t_median']:.2f}, σ(log t) = "
        f"{s['t_sigma']:.2f}). Probes are new faces of gallery people (genuine) and faces of "
        "people not in the gallery (impostor), half each.\n\n"
        + table(["similarities", "pairs", "mean", "std", "5%", "95%"], rows)
    )


def faiss_hnsw(m: dict[str, Any]) -> str:
    rows = [
        [
            f"{size['size']:,}",
            q["ef_search"],
            f"{q['p50_ms']:.2f}",
            f"{q['genuine_recall_at_1']:.3f}",
            f"{q['impostor_recall_at_1']:.3f}",
            f"{q['recall_at_10']:.3f}",
            f"{q['build_s']:.0f}",
        ]
        for size in m["sizes"]
        for q in size.get("faiss_hnsw", [])
    ]
    if not rows:
        return ""
    return (
        "**Is it pgvector or the data?** The same vectors in FAISS's own HNSW "
        "(IndexHNSWFlat, M = 16, efConstruction = 64, the parameters of facedb's index; "
        "built on 2 threads, queried on 1, in process):\n\n"
        + table(
            [
                "faces",
                "efSearch",
                "p50 ms",
                "recall@1 genuine",
                "recall@1 impostor",
                "recall@10 all",
                "build s",
            ],
            rows,
        )
        + "\n\nThe recall at each ef_search is about the same as pgvector's: it is a property "
        "of the data and of the graph's parameters, not of pgvector. Face embeddings of "
        "different people are nearly orthogonal (impostor similarity 0.02 ± 0.07), so "
        "from the graph's entry point almost every node is at about the same distance from "
        "the probe and the greedy search has little to follow until it reaches the right "
        "person; a larger ef_search (or M) is what buys recall. The time per query is not "
        "the same: pgvector visits the same nodes through PostgreSQL's buffer manager, one "
        "8 kB page per 512-d vector, several times slower than FAISS's in-memory arrays."
    )


def million(last: dict[str, Any]) -> str:
    """What a 1M-face gallery would take, extrapolated from the largest size run."""
    factor = 1_000_000 / last["size"]
    build_min = last["build_s"] * factor * math.log(1_000_000) / math.log(last["size"]) / 60
    data_gb = (last["index_mb"] + last["table_mb"]) * factor / 1024
    copy_s = 1_000_000 / last["copy_rows_per_s"]
    return (
        "**1M faces** is not in the default run. Extrapolated from the "
        f"{last['size']:,}-face run (build time ∝ n log n): COPY about {copy_s:.0f} s, "
        f"the HNSW build about {build_min:.0f} min on this shared 2-core machine with "
        f"maintenance_work_mem ≈ {int(6e-6 * 1_000_000) + 1} GB (so that the graph is built in "
        f"memory), and about {data_gb:.1f} GB of table and index, which fit in the 24 GB of "
        "memory. It runs with `python -m benchmarks.run --full --only matching "
        "--gallery-sizes 1000000`; query time grows roughly with log n at a fixed "
        "ef_search, while recall at a fixed ef_search falls slightly, so a 1M gallery needs "
        "the next ef_search step up for the same recall."
    )
