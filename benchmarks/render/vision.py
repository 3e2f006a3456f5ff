"""Section 1: facedb's pipeline against insightface's, one process each, models loaded."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import percentile, spread
from benchmarks.render.common import Measured, table, verdict
from benchmarks.render.vision_evidence import evidence
from benchmarks.targets import BY_KEY

STAGES = ("decode", "detect", "align", "embed")


def ratios(config: dict[str, Any]) -> list[float]:
    """insightface wall time / facedb wall time, per repetition (paired)."""
    ours, theirs = config["facedb"]["wall_s"], config["insightface"]["wall_s"]
    return [t / o for o, t in zip(ours, theirs, strict=False)]


def images_per_s(config: dict[str, Any], impl: str) -> list[float]:
    return [config["images"] / w for w in config[impl]["wall_s"]]


def stage_ms(config: dict[str, Any], impl: str) -> dict[str, float]:
    """Median over repetitions of ms per image (embed: per face), and 'other'."""
    runs = config[impl]["stages_s"]
    faces = max(config[impl]["faces"], 1)
    out = {}
    for stage in STAGES:
        per = faces if stage == "embed" else config["images"]
        out[stage] = statistics.median(r[stage] for r in runs) * 1000 / per
    walls = config[impl]["wall_s"]
    other = [w - sum(r.values()) for w, r in zip(walls, runs, strict=True)]
    out["other"] = statistics.median(other) * 1000 / config["images"]
    return out


def headline(vision: dict[str, Any]) -> dict[str, Any] | None:
    configs = [c for c in vision.get("configs", []) if "insightface" in c]
    return configs[0] if configs else None


def _chunk_ratios(config: dict[str, Any]) -> str:
    values = config.get("chunk_ratios", [])
    if not values:
        return "–"
    q1, q2, q3 = (percentile(values, q) for q in (25, 50, 75))
    return f"{q2:.2f} ({q1:.2f}–{q3:.2f})"


def _vision_tables(vision: dict[str, Any]) -> list[str]:
    rows = []
    for c in vision["configs"]:
        peer = "insightface" in c
        rows.append(
            [
                c["label"],
                c["images"],
                c["facedb"]["faces"],
                spread(images_per_s(c, "facedb")).fmt(2),
                spread(images_per_s(c, "insightface")).fmt(2) if peer else "–",
                f"**{spread(ratios(c)).fmt(2)}×**" if peer else "–",
                _chunk_ratios(c) if peer else "–",
                c["reps"],
            ]
        )
    out = [
        table(
            [
                "configuration",
                "images",
                "faces",
                "facedb images/s",
                "insightface images/s",
                "speed-up",
                f"speed-up per {vision['configs'][0].get('chunk', 8)} images: median (IQR)",
                "passes",
            ],
            rows,
        )
    ]
    stage_rows = []
    for c in vision["configs"]:
        for impl in ("facedb", "insightface"):
            if impl in c:
                ms = stage_ms(c, impl)
                stage_rows.append(
                    [c["label"], impl, *(f"{ms[st]:.1f}" for st in (*STAGES, "other"))]
                )
    out.append(
        "Milliseconds per stage (median of the passes; embed is per face, the other stages "
        "per image; *other* is the rest of the loop: facedb's quality gate, insightface's "
        "normalisation; with batch 8, detect and align are still per image):\n\n"
        + table(
            ["configuration", "implementation", "decode", "detect", "align", "embed/face", "other"],
            stage_rows,
        )
    )
    return out


def _agreement(vision: dict[str, Any]) -> str:
    h = headline(vision)
    if h is None or "agreement" not in h:
        return "No comparison of embeddings (insightface did not run)."
    a, target = h["agreement"], BY_KEY["vision.cosine_min"]
    unmatched = f" ({', '.join(a.get('unmatched_faces', []))})" if a["unmatched"] else ""
    return (
        f"Faces matched between the two by box (IoU ≥ 0.5): {a['matched']}, unmatched: "
        f"{a['unmatched']}{unmatched}. Cosine of the matched faces' embeddings: minimum "
        f"{a['cos_min']:.4f}, 1st percentile {a['cos_p1']:.4f}, median {a['cos_median']:.5f}; "
        f"{a['below_0_99']} below 0.99 (target: every matched face {target.bound()}, "
        f"{verdict(target, a['cos_min'])}). The int8 embedder amplifies sub-pixel "
        "differences: with the same detector input, key points that differ by less than "
        "0.01 px (insightface's skimage similarity transform against facedb's numpy "
        "Umeyama) already move its embeddings by up to 0.004 in cosine, so 0.99 rather "
        "than 0.9999 is the bar for two correct implementations of this model."
    )


def section(vision: dict[str, Any], images: Path) -> str:
    peer = vision.get("peer", {})
    parts = ["## 1. Vision pipeline: facedb against insightface 2.1"]
    if peer.get("error"):
        parts.append(
            f"insightface {peer['insightface']} could not be installed in "
            f"benchmarks/.venv-insightface, so only facedb was measured:\n\n```\n{peer['error']}\n```"
        )
    parts.append(
        f"Both run the same files of ../shared/weights (SCRFD-2.5G with key points, det size "
        f"640, threshold 0.5, NMS 0.4; w600k_mbf_int8) on the same images of ../shared/faces "
        f"(all that both decode, the multi-face ones spread through the list, without the five "
        f"photos above 20 MP), each in its own process: facedb with its own onnxruntime "
        f"{vision['configs'][0]['facedb']['onnxruntime']}, insightface {peer.get('insightface', '?')} "
        f"in its own virtualenv with the CPU onnxruntime {peer.get('onnxruntime', '?')} "
        "(benchmarks/peer_insightface.py builds `insightface.model_zoo.get_model(path)` "
        "objects, no ~/.insightface model pack). Both use the CPU execution provider. End to "
        "end is decode + detect + align + embed of every face (facedb: `read_image` + "
        "`FacePipeline.analyse`, which also runs the quality gate; insightface: `cv2.imread`, "
        "`SCRFD.detect`, `norm_crop`, `ArcFaceONNX.get_feat`). *Batch 1*: one image at a time, "
        "each face embedded on its own (as FaceAnalysis.get does); *batch 8*: 8 images "
        "detected, then all their faces embedded in one call (insightface: one get_feat; "
        "facedb: one `analyse`, whose embedder runs the int8 model face by face, see 3 below). "
        "Threads are onnxruntime intra-op threads (facedb: Settings.threads; insightface: "
        "SessionOptions passed to get_model). Each implementation is one process that loads "
        "its models once; the two take turns every 8 images (who goes first alternates), so "
        "that a change of load on this shared machine hits both alike. *Speed-up* is "
        "insightface's time over facedb's for a whole pass over the images (median of the "
        "passes, range in brackets); the next column gives the spread over the 8-image turns."
    )
    parts += _vision_tables(vision)
    if any(c.get("det_size", 640) != 640 for c in vision["configs"]):
        parts.append(
            "The *auto scale* and *det size 480* rows are not like for like: facedb's "
            "detector gets a smaller input while insightface keeps 640. Auto scale "
            "(`--det-size 0`, facedb's default since 2 Dec 2026) is the input that shows "
            "the quality gate's "
            "minimum face (64 px) at 48 px, never more than the 640 letterbox; `--det-size "
            "480` is a fixed 480 letterbox, which misses faces below about 20 px in a "
            "640-px frame."
        )
    parts.append(f"![images per second]({images.name})")
    parts.append(_agreement(vision))
    parts.append(
        "### Why facedb is faster\n\nThe same models do the same arithmetic; facedb "
        "changes how it is run, in three measured steps (1 thread):"
    )
    parts += evidence(vision)
    return "\n\n".join(parts)


def measurements(vision: dict[str, Any]) -> list[Measured]:
    h = headline(vision)
    if h is None:
        return []
    r = spread(ratios(h))
    out = [
        Measured(
            "vision.speedup",
            r.median,
            f"{r.median:.2f}× ({r.low:.2f}–{r.high:.2f})",
            h["label"],
        )
    ]
    a = h.get("agreement")
    if a:
        out.append(
            Measured(
                "vision.cosine_min",
                a["cos_min"],
                f"min {a['cos_min']:.4f}, {a['below_0_99']} of {a['matched']} below",
            )
        )
    return out
