"""docs/BENCHMARKS.md's renderer (benchmarks/render/): rendered from a results fixture
shaped like benchmarks/results/full.json, with the numbers of the committed document's
run (25 Nov 2026), its verdicts follow the targets of benchmarks/targets.py."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import pytest

# benchmarks/ is a folder of the checkout, not part of the installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.render.document import BEGIN, END, document, render
from benchmarks.targets import BY_KEY, TARGETS, manifest_threshold


def _impl(wall_s: list[float], faces: int, detect_s: float) -> dict[str, Any]:
    stages = {"decode": 0.8, "detect": detect_s, "align": 0.2, "embed": faces * 0.016}
    return {"wall_s": wall_s, "stages_s": [stages, stages], "faces": faces, "onnxruntime": "1.31.1"}


def _config(label: str, ours: list[float], theirs: list[float], **extra: Any) -> dict[str, Any]:
    return {
        "label": label,
        "images": 320,
        "reps": 2,
        "chunk": 8,
        "chunk_ratios": [1.47, 1.52, 1.60],
        "facedb": _impl(ours, 405, 27.0),
        "insightface": _impl(theirs, 405, 30.2),
        **extra,
    }


def _queries(rows: list[tuple[int, float, float, float]]) -> list[dict[str, Any]]:
    """(ef_search, p50 ms, genuine recall@1, decisions agree) per row."""
    return [
        {
            "ef_search": ef,
            "p50_ms": p50,
            "p99_ms": p50 * 2,
            "server_p50_ms": p50 - 1.4,
            "genuine_recall_at_1": recall,
            "impostor_recall_at_1": recall * 0.8,
            "recall_at_10": recall * 0.8,
            "decisions_agree": agree,
        }
        for ef, p50, recall, agree in rows
    ]


def _size(size: int, default: list[Any], tuned: list[Any], buffers: str) -> dict[str, Any]:
    plan = ["Index Scan using face_embeddings_embedding_hnsw_idx on face_embeddings e"]
    return {
        "size": size,
        "people": size // 5 + 4,
        "probes": 300,
        "copy_rows_per_s": 31_102.0,
        "executemany_rows_per_s": 2_134.0,
        "insert_with_index_rows_per_s": 247.0,
        "build_s": 54.9 * size / 100_000,
        "index_mb": 260.0 * size / 100_000,
        "table_mb": 274.0 * size / 100_000,
        "seqscan_p50_ms": 312.8,
        "round_trip_p50_ms": 0.42,
        "faiss_p50_ms": 10.6,
        "queries": _queries(default),
        "explain": plan,
        "tuned": {
            "queries": _queries(tuned),
            "shared_buffers": buffers,
            "faiss_p50_ms": 10.6,
            "explain": plan,
        },
    }


def results() -> dict[str, Any]:
    """Every section run, with the committed document's headline numbers."""
    sims = [0.1 * i for i in range(-2, 9)]
    whole = {
        "wall_s": [5.44, 4.43, 10.0],
        "cpu_s": [4.18, 4.17, 4.37],
        "one_image_s": [2.04],
        "marginal_ms_per_image": 148.0,
        "images_per_s": 4.42,
        "faces": 34,
    }
    return {
        "mode": "full",
        "seconds": 1980.0,
        "machine": {
            "cores": 2,
            "cpu": "AMD EPYC",
            "memory_gib": 23.5,
            "python": "3.11.7",
            "onnxruntime": "1.31.1",
            "ort_providers": ["CPUExecutionProvider"],
            "load_average_start": [0.6, 0.9, 1.9],
            "load_average_end": [3.6, 3.9, 3.6],
            "date": "2026-11-25 16:40 UTC",
        },
        "vision": {
            "peer": {"insightface": "2.1", "onnxruntime": "1.31.1", "error": None},
            "configs": [
                _config(
                    "1 thread, batch 1",
                    [34.45, 35.76],
                    [53.4, 55.4],
                    agreement={
                        "matched": 403,
                        "unmatched": 0,
                        "cos_min": 0.9920,
                        "cos_p1": 0.9948,
                        "cos_median": 0.99798,
                        "below_0_99": 0,
                    },
                ),
                _config("2 threads, batch 1", [38.9, 39.0], [57.0, 59.6]),
            ],
            "rewrite": {
                "faces": 62,
                "max_abs_diff": 0.0,
                "cos_min": 1.0,
                "ms_original": [52.4, 54.0, 57.8],
                "ms_rewritten": [15.6, 16.0, 16.7],
            },
            "trim": {
                "images": 120,
                "faces_differing": 0,
                "max_keypoint_shift_px": 0.09,
                "ms_square": 91.0,
                "ms_trimmed": 81.7,
            },
            "batch_effect": {
                "faces": 62,
                "cos_min": 0.9459,
                "cos_p5": 0.9769,
                "cos_median": 0.9857,
                "ms_per_face_batch1": [15.3, 15.5, 16.3],
                "ms_per_face_batch8": [17.7, 18.1, 19.8],
            },
            "ops": {"detector 640x640": [["Conv", 0.9], ["MaxPool", 0.02]]},
            "profile": [["<onnxruntime.run>", 0.93], ["<imdecode>", 0.03]],
            "seconds": 600.0,
        },
        "whole": {
            "images": 24,
            "reps": 3,
            "threads": 1,
            "insightface": "2.1",
            "results": {
                "facedb": {
                    **whole,
                    "speedup_cpu": 1.60,
                    "speedup_whole": 1.96,
                    "speedup_marginal": 2.26,
                },
                "facedb letterbox 640": {
                    **whole,
                    "speedup_cpu": 1.96,
                    "speedup_whole": 1.94,
                    "speedup_marginal": 2.69,
                },
                "insightface": {
                    **whole,
                    "speedup_cpu": 1.0,
                    "speedup_whole": 1.0,
                    "speedup_marginal": 1.0,
                },
            },
            "seconds": 120.0,
        },
        "matching": {
            "postgres": "18.6",
            "pgvector": "0.8.6",
            "shared_buffers": "128MB",
            "threshold": 0.30,
            "synth": {
                "real_faces": 771,
                "a": 0.173,
                "t_median": 0.80,
                "t_sigma": 0.60,
                "isotropic": False,
                "shrink": 0.2,
                "participation_real": 133.0,
                "participation_isotropic": 308.0,
                "distributions": {
                    "real_genuine": [s + 0.5 for s in sims],
                    "synthetic_genuine": [s + 0.5 for s in sims],
                    "real_impostor": sims,
                    "synthetic_impostor": sims,
                },
            },
            "sizes": [
                _size(
                    100_000,
                    [
                        (20, 4.12, 0.787, 0.780),
                        (100, 9.74, 0.953, 0.923),
                        (200, 18.43, 0.993, 0.977),
                    ],
                    [
                        (20, 2.94, 0.787, 0.780),
                        (100, 5.91, 0.953, 0.923),
                        (200, 10.49, 0.993, 0.977),
                    ],
                    "1GB",
                ),
                _size(
                    1_000_000,
                    [(20, 6.29, 0.413, 0.320), (200, 32.40, 0.840, 0.720)],
                    [(20, 4.24, 0.413, 0.320), (200, 12.92, 0.840, 0.720)],
                    "7GB",
                ),
            ],
            "seconds": 1500.0,
        },
        "reports": {
            "rows": 1_000_000,
            "people": 1_000,
            "rows_in_day": 2_740,
            "fill_s": 17.0,
            "day_p50_ms": 11.5,
            "day_p99_ms": 14.8,
            "month_p50_ms": 334.5,
            "month_p99_ms": 437.0,
            "plans": [["Index Scan using attendance_occurred_at_idx on attendance"]],
            "seconds": 60.0,
        },
        "enrolment": {
            "people": 100,
            "images": 500,
            "embeddings": 284,
            "total_s": 40.8,
            "images_per_s": 12.25,
            "people_per_s": 2.45,
            "db_s": 1.30,
            "sql_s": 0.57,
            "db_share": 0.032,
            "skipped": [["7377", "no face passed the quality gate"]],
            "seconds": 45.0,
        },
    }


def _targets(text: str) -> dict[str, str]:
    """The Targets table as {target: verdict}."""
    table = text.split("## Targets\n\n", 1)[1].split("\n\n", 1)[0]
    rows = [line.strip("|").split(" | ") for line in table.splitlines()[2:]]
    return {row[0].strip(): row[-1].strip() for row in rows}


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "docs" / "BENCHMARKS.md"


def test_every_target_has_one_row_and_the_verdicts_of_the_committed_run(out: Path) -> None:
    out.parent.mkdir()
    verdicts = _targets(document(results(), out))
    assert verdicts["pipeline in one process, models loaded once, ≥ 1.5× insightface (1 thread, batch 1)"] == "**met**"  # fmt: skip
    assert verdicts["`facedb detect --embeddings`, whole process, ≥ 2.5× insightface (24 images)"] == "**not met**"  # fmt: skip
    assert verdicts["1:N p50 < 2 ms at 100,000 faces (shared_buffers 1GB)"] == "**not met**"
    assert verdicts["recall@1 ≥ 0.99 at 100,000 faces (shared_buffers 1GB)"] == "**met**"
    assert verdicts["1:N p50 < 10 ms at 1,000,000 faces (shared_buffers 7GB)"] == "**not met**"
    assert verdicts["report of one day < 100 ms (1,000,000 rows)"] == "**met**"
    assert verdicts["enrolment: database share < 10% (100 people)"] == "**met**"
    # Targets that `make bench` does not measure are listed, without a verdict.
    assert verdicts["`facedb timesheet` for a month of 1,000 people < 1 s"] == ""
    for target in TARGETS:
        assert any(label.startswith(target.label()) for label in verdicts), target.key
    assert (out.parent / "bench_pipeline.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("path", "key", "inside", "outside"),
    [
        # The report's day p50 against "< 100 ms", 10 % either side of the bound.
        (("reports", "day_p50_ms"), "report of one day < 100 ms (1,000,000 rows)", 90.0, 110.0),
        (("enrolment", "db_share"), "enrolment: database share < 10% (100 people)", 0.09, 0.11),
        (
            ("whole", "results", "facedb", "speedup_cpu"),
            "`facedb detect --embeddings`, whole process, ≥ 2.5× insightface (24 images)",
            2.75,
            2.25,
        ),
    ],
)
def test_a_verdict_flips_when_the_measurement_crosses_its_target(
    out: Path, path: tuple[str, ...], key: str, inside: float, outside: float
) -> None:
    out.parent.mkdir()
    verdicts = []
    for value in (inside, outside):
        data = results()
        data["whole"]["results"]["facedb"]["speedup_whole"] = 3.0
        node = data
        for name in path[:-1]:
            node = node[name]
        node[path[-1]] = value
        verdicts.append(_targets(document(data, out))[key])
    assert verdicts == ["**met**", "**not met**"]


def test_a_quick_run_is_held_to_the_bench_quick_target(out: Path) -> None:
    out.parent.mkdir()
    data = results()
    data["mode"] = "quick"
    label = "`make bench-quick` < 5 min"
    for name, seconds in (("vision", 100.0), ("matching", 100.0)):
        data[name]["seconds"] = seconds
    for name in ("whole", "reports", "enrolment"):
        data[name]["seconds"] = 20.0
    assert _targets(document(data, out))[label] == "**met**"  # 4.0 min
    data["matching"]["seconds"] = 200.0
    assert _targets(document(data, out))[label] == "**not met**"  # 5.7 min
    del data["enrolment"]
    assert _targets(document(data, out))[label] == ""


def test_the_matching_gap_follows_the_1n_target(out: Path) -> None:
    out.parent.mkdir()
    text = document(results(), out)
    assert "**1:N at 100,000 faces: p50 < 2 ms with exact search's decisions for ≥ 99.9% of probes is not met.**" in text  # fmt: skip
    fast = results()
    tuned = fast["matching"]["sizes"][0]["tuned"]["queries"]
    tuned[-1]["p50_ms"] = BY_KEY["matching.p50_ms.100000"].value * 0.8
    assert "is not met.**" in document(fast, out)  # fast, but not the same decisions
    tuned[-1]["decisions_agree"] = 0.9995
    text = document(fast, out)
    assert "1:N at 100,000 faces" not in text
    assert _targets(text)["1:N p50 < 2 ms at 100,000 faces (shared_buffers 1GB)"] == "**met**"


def test_the_threshold_is_the_one_measured_and_the_manifest_is_named(out: Path) -> None:
    out.parent.mkdir()
    data = results()
    now = manifest_threshold()
    assert now == pytest.approx(0.25)
    assert "weights/manifest.toml now gives 0.25" in document(data, out)
    data["matching"]["threshold"] = now
    text = document(data, out)
    assert f"at the default threshold {now:.2f} (weights/manifest.toml)" in text


def test_render_replaces_only_the_generated_block(out: Path) -> None:
    out.parent.mkdir()
    old = "<!-- begin: generated by benchmarks/run.py (edit benchmarks/markdown.py, not this) -->"
    out.write_text(f"# Benchmarks\n\n{old}\n\nstale\n\n{END}\n\n## Live watch\n\nkept\n")
    render(copy.deepcopy(results()), out)
    text = out.read_text()
    assert text.count(BEGIN) == 1 and "stale" not in text and old not in text
    assert re.search(r"## Live watch\n\nkept\n$", text)
