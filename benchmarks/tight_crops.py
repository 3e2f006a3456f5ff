"""Tight crops, pre-aligned crops and small faces in very large photos: how many faces
are found with and without the pipeline's retries (vision/crops.py, vision/tiles.py),
and whether their embeddings are still the person's. The numbers of docs/IMPORT.md.

    FACEDB_WEIGHTS=../shared/weights python -m benchmarks.tight_crops --identities 50
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from facedb.config import Settings
from facedb.media.images import read_image
from facedb.vision.align import align_face
from facedb.vision.crops import crop_around
from facedb.vision.pipeline import FacePipeline
from facedb.vision.types import AnalysedFace

DEFAULT_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"
EXPANSIONS = (1.0, 1.1, 1.2)


def _best(faces: Sequence[AnalysedFace]) -> AnalysedFace | None:
    return max(faces, key=lambda f: f.face.area) if faces else None


def _vec(face: AnalysedFace) -> np.ndarray:
    if face.embedding is None:
        raise ValueError("face without an embedding")
    return face.embedding


def _summary(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p10 = ordered[int(0.1 * (len(ordered) - 1))]
    return f"median {statistics.median(values):.3f}, p10 {p10:.3f}, min {ordered[0]:.3f}"


def celeba(pipeline: FacePipeline, faces: Path, identities: int, threshold: float) -> None:
    folders = sorted(p for p in (faces / "celeba").iterdir() if p.is_dir())[:identities]
    people: dict[str, tuple[np.ndarray, AnalysedFace, list[np.ndarray]]] = {}
    for folder in folders:
        images = [read_image(p) for p in sorted(folder.glob("*.jpg"))]
        found = [_best(f) for f in pipeline.analyse(images)]
        first = found[0]
        if first is None or not first.quality.accepted:
            continue
        others = [_vec(f) for f in found[1:] if f is not None and f.quality.accepted]
        if others:
            people[folder.name] = (images[0], first, others)
    names = sorted(people)
    gallery = np.stack([v for n in names for v in people[n][2]])
    owner = [n for n in names for _ in people[n][2]]

    def identified(vector: np.ndarray) -> str:
        return owner[int(np.argmax(gallery @ vector))]

    def own_best(name: str, vector: np.ndarray) -> float:
        return max(float(v @ vector) for v in people[name][2])

    full_ok = sum(identified(_vec(people[n][1])) == n for n in names)
    full_match = sum(own_best(n, _vec(people[n][1])) >= threshold for n in names)
    print(f"\nCelebA: {len(names)} people (first photo = one good face, others = the gallery)")
    print(
        f"full photo: rank-1 {full_ok}/{len(names)}, "
        f"matches own other photos >= {threshold}: {full_match}/{len(names)}"
    )
    print("| crop | found as is | found with retry | quality ok | cosine to full photo "
          "| rank-1 among all | >= threshold vs own photos | ms/crop with retry |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    kinds: list[tuple[str, list[np.ndarray]]] = [
        (f"box x{e}", [crop_around(people[n][0], people[n][1].face.box, e) for n in names])
        for e in EXPANSIONS
    ]
    kinds.append(
        ("ArcFace 112x112", [align_face(people[n][0], people[n][1].face.landmarks) for n in names])
    )
    for label, crops in kinds:
        plain = sum(bool(pipeline.detect(c)) for c in crops)
        started = time.perf_counter()
        found = [_best(f) for f in pipeline.analyse(crops)]
        ms = (time.perf_counter() - started) * 1000 / len(crops)
        pairs = [(n, f) for n, f in zip(names, found, strict=True) if f is not None]
        cosines = [float(_vec(f) @ _vec(people[n][1])) for n, f in pairs]
        print(
            f"| {label} | {plain}/{len(names)} | {len(pairs)}/{len(names)} "
            f"| {sum(f.quality.accepted for _, f in pairs)}/{len(pairs)} | {_summary(cosines)} "
            f"| {sum(identified(_vec(f)) == n for n, f in pairs)}/{len(names)} "
            f"| {sum(own_best(n, _vec(f)) >= threshold for n, f in pairs)}/{len(names)} "
            f"| {ms:.0f} |"
        )
    aligned = [_best(f) for f in pipeline.analyse(kinds[-1][1], aligned=True)]
    cosines = [
        float(_vec(f) @ _vec(people[n][1])) for n, f in zip(names, aligned, strict=True) if f
    ]
    print(
        f"ArcFace 112x112 with --aligned (no detection): cosine to full photo {_summary(cosines)}"
    )


def openface(pipeline: FacePipeline, faces: Path) -> None:
    print("\nopenface examples-aligned (96x96, openface's own template)")
    print("| crop | found as is | found with retry | cosine to full photo | with --aligned |")
    print("|---|---|---|---|---|")
    for path in sorted((faces / "openface" / "examples-aligned").glob("*.png")):
        crop = read_image(path)
        full = _best(
            pipeline.analyse([read_image(faces / "openface/examples" / f"{path.stem}.jpg")])[0]
        )
        if full is None:
            continue
        plain = len(pipeline.detect(crop))
        found = _best(pipeline.analyse([crop])[0])
        aligned = _best(pipeline.analyse([crop], aligned=True)[0])
        cos = f"{float(_vec(found) @ _vec(full)):.3f}" if found else "-"
        cos_aligned = f"{float(_vec(aligned) @ _vec(full)):.3f}" if aligned else "-"
        print(f"| {path.name} | {plain} | {1 if found else 0} | {cos} | {cos_aligned} |")


def large(pipeline: FacePipeline, faces: Path, identities: int) -> None:
    print("\nLarge photos: compreface 001_A-006_A (one face each)")
    print("| photo | size | faces | face px | at the detector | det score | time ms |")
    print("|---|---|---|---|---|---|---|")
    det = max(pipeline.detector.input_size)
    for path in sorted((faces / "compreface" / "sample_images").glob("00?_A.jpg")):
        image = read_image(path)
        started = time.perf_counter()
        found = [f for f in pipeline.analyse([image])[0] if f.quality.accepted]
        ms = (time.perf_counter() - started) * 1000
        scale = det / max(image.shape[:2])
        for f in found:
            print(
                f"| {path.name} | {image.shape[1]}x{image.shape[0]} | {len(found)} "
                f"| {f.face.size_px} | {f.face.size_px * scale:.0f} | {f.face.score:.2f} | {ms:.0f} |"
            )
    print("\nA face pasted into a 4912x7360 photo with no other face")
    background = cv2.resize(read_image(faces / "compreface/sample_images/017_0.jpg"), (4912, 7360))
    folders = sorted(p for p in (faces / "celeba").iterdir() if p.is_dir())[:identities]
    print(
        "| face px | found in one pass | found with tiles | cosine to the original | ms with tiles |"
    )
    print("|---|---|---|---|---|")
    for target in (80, 120, 160, 240):
        plain = tiled = 0
        cosines: list[float] = []
        times: list[float] = []
        for folder in folders:
            photo = read_image(sorted(folder.glob("*.jpg"))[0])
            reference = _best(pipeline.analyse([photo])[0])
            if reference is None:
                continue
            scale = target / reference.face.size_px
            small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            canvas = background.copy()
            canvas[3000 : 3000 + small.shape[0], 2000 : 2000 + small.shape[1]] = small
            plain += bool(pipeline.detect(canvas))
            started = time.perf_counter()
            hit = _best(pipeline.analyse([canvas])[0])
            times.append((time.perf_counter() - started) * 1000)
            if hit is not None:
                tiled += 1
                cosines.append(float(_vec(hit) @ _vec(reference)))
        print(
            f"| {target} | {plain}/{len(folders)} | {tiled}/{len(folders)} | {_summary(cosines)} "
            f"| {statistics.median(times):.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="shared faces folder")
    parser.add_argument("--identities", type=int, default=50, help="CelebA people to use")
    parser.add_argument(
        "--large-identities", type=int, default=10, help="faces pasted into a 36 MP photo"
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    args = parser.parse_args()
    pipeline = FacePipeline(Settings.load({"device": args.device}))
    threshold = pipeline.registry.spec(pipeline.embedder_name).threshold or 0.3
    openface(pipeline, args.faces)
    celeba(pipeline, args.faces, args.identities, threshold)
    large(pipeline, args.faces, args.large_identities)


if __name__ == "__main__":
    main()
