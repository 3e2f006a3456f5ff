"""Milliseconds per vision stage (decode, detect, align, embed) and images per second,
one image at a time and batched, on the shared face images.

    FACEDB_WEIGHTS=../shared/weights python benchmarks/pipeline.py --limit 40
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import numpy as np

from facedb.config import Settings
from facedb.media.images import read_image
from facedb.vision.align import align_face
from facedb.vision.pipeline import FacePipeline

DEFAULT_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"


def _images(faces_dir: Path, limit: int) -> list[Path]:
    with (faces_dir / "manifest.csv").open(newline="") as fh:
        rows = [r["path"] for r in csv.DictReader(fh)]
    # CelebA first: typical 1-face web photos; skip the 36 MP camera originals.
    rows.sort(key=lambda p: (not p.startswith("celeba/"), p))
    return [faces_dir / p for p in rows if "compreface/sample_images/00" not in p][:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="shared faces folder")
    parser.add_argument("--limit", type=int, default=40, help="number of images")
    parser.add_argument("--batch", type=int, default=8, help="images per analyse() call")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    parser.add_argument("--threads", type=int, default=None, help="0 = all cores")
    parser.add_argument("--detector", default=None, help="manifest name of the detector")
    args = parser.parse_args()

    settings = Settings.load(
        {"device": args.device, "threads": args.threads, "detector": args.detector}
    )
    pipeline = FacePipeline(settings)
    paths = _images(args.faces, args.limit)

    t0 = time.perf_counter()
    pipeline.load()
    load_ms = (time.perf_counter() - t0) * 1000
    warm = read_image(paths[0])
    pipeline.analyse([warm])  # first runs allocate; keep them out of the numbers

    decode, detect, align, embed = [], [], [], []
    images: list[np.ndarray] = []
    n_faces = 0
    t_all = time.perf_counter()
    for path in paths:
        t = time.perf_counter()
        image = read_image(path)
        decode.append(time.perf_counter() - t)
        images.append(image)
        t = time.perf_counter()
        faces = pipeline.detect(image)
        detect.append(time.perf_counter() - t)
        t = time.perf_counter()
        crops = [align_face(image, f.landmarks) for f in faces]
        align.append(time.perf_counter() - t)
        t = time.perf_counter()
        pipeline.embed_aligned(crops)
        if crops:
            embed.append((time.perf_counter() - t) / len(crops))
        n_faces += len(crops)
    serial_s = time.perf_counter() - t_all

    t_batch = time.perf_counter()
    for start in range(0, len(images), args.batch):
        pipeline.analyse(images[start : start + args.batch])
    batch_s = time.perf_counter() - t_batch

    def ms(values: list[float]) -> str:
        if not values:
            return "-"
        return (
            f"{statistics.mean(values) * 1000:7.1f} (median {statistics.median(values) * 1000:.1f})"
        )

    print(f"providers: {pipeline.providers()}  threads setting: {settings.threads}")
    print(f"images: {len(paths)}, faces: {n_faces}, model load: {load_ms:.0f} ms")
    print(f"decode  ms/image: {ms(decode)}")
    print(f"detect  ms/image: {ms(detect)}  (input {pipeline.detector.input_size})")
    print(f"align   ms/image: {ms(align)}")
    print(f"embed   ms/face : {ms(embed)}")
    print(f"batch 1 (decode+detect+align+embed): {len(paths) / serial_s:6.2f} images/s")
    print(
        f"analyse() batch {args.batch} (decoded images, + quality gate): "
        f"{len(paths) / batch_s:6.2f} images/s"
    )


if __name__ == "__main__":
    main()
