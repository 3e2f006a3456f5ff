"""`facedb detect`: faces, key points and quality of image files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from facedb.config import Settings
from facedb.errors import InvalidInputError
from facedb.vision.annotate import save_annotated
from facedb.vision.pipeline import FacePipeline
from facedb.vision.sources import read_image
from facedb.vision.types import AnalysedFace

from .options import aligned_option, device_option
from .output import json_option, print_json, print_table


@click.command("detect")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
@click.option("--embeddings", is_flag=True, help="Also compute each face's 512-d embedding.")
@click.option(
    "--annotate",
    "annotate_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write copies of the images with boxes and key points drawn into this folder.",
)
@click.option(
    "--liveness/--no-liveness",
    default=None,
    help="Score each face's liveness (probability of a live face, not a photo or a "
    "screen). Default: when the liveness model file is there.",
)
@aligned_option
@click.option(
    "--det-size",
    type=click.IntRange(min=0),
    default=None,
    help="Detector input: 0 = auto, as small as the quality gate's minimum face size "
    "allows; N = insightface's N x N letterbox (640 for parity, or for crowds of small "
    "faces). Default: FACEDB_DET_SIZE, else 640.",
)
@device_option
def detect(
    paths: tuple[Path, ...],
    as_json: bool,
    embeddings: bool,
    annotate_dir: Path | None,
    liveness: bool | None,
    aligned: bool,
    det_size: int | None,
    device: str | None,
) -> None:
    """Find every face of every image: box, score, key points, quality verdict,
    liveness.

    Boxes are x1, y1, x2, y2 in pixels of the image; key points are (x, y) for the
    left eye, right eye, nose, mouth left and mouth right. Liveness is the
    probability of a live face rather than a photo or a screen (docs/LIVENESS.md).

    \b
    Examples:
      facedb detect photo.jpg
      facedb detect --json --embeddings a.jpg b.png
      facedb detect --annotate out/ group.jpg
      facedb detect --aligned --embeddings crop_112x112.png
      facedb detect --det-size 640 crowd.jpg       # insightface's 640x640 letterbox
    """
    pipeline = FacePipeline(Settings.load({"device": device, "det_size": det_size}))
    if liveness is None:
        liveness = pipeline.liveness_available()
    if annotate_dir is not None:
        try:
            annotate_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInputError(f"cannot create folder {annotate_dir}: {exc}") from None
    results: list[dict[str, Any]] = []
    for index, path in enumerate(paths):
        image = read_image(path)
        faces = pipeline.analyse([image], embed=embeddings, liveness=liveness, aligned=aligned)[0]
        if annotate_dir is not None:
            save_annotated(
                annotate_dir / (path.name if len(paths) == 1 else f"{index:03d}_{path.name}"),
                image,
                [f.face for f in faces],
                [f.quality.accepted for f in faces],
            )
        results.append(
            {
                "path": str(path),
                "width": int(image.shape[1]),
                "height": int(image.shape[0]),
                "faces": [_face_json(face, embeddings) for face in faces],
            }
        )
    if as_json:
        print_json(
            {
                "detector": pipeline.detector_name,
                "embedder": pipeline.embedder_name,
                "liveness_model": pipeline.liveness_name if liveness else None,
                "providers": pipeline.providers(),
                "images": results,
            }
        )
        return
    rows = [
        [
            entry["path"],
            str(i),
            " ".join(f"{v:.0f}" for v in face["box"]),
            face["score"],
            str(face["quality"]["size_px"]),
            "ok" if face["quality"]["accepted"] else "; ".join(face["quality"]["reasons"]),
            "" if face["liveness"] is None else f"{face['liveness']:.3f}",
        ]
        for entry in results
        for i, face in enumerate(entry["faces"])
    ]
    print_table(
        ["image", "face", "box x1 y1 x2 y2", "score", "size px", "quality", "liveness"], rows
    )
    empty = [entry["path"] for entry in results if not entry["faces"]]
    if empty:
        click.echo(f"no face in: {', '.join(empty)}", err=True)


def _face_json(face: AnalysedFace, with_embedding: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "box": [round(float(v), 2) for v in face.face.box],
        "score": round(face.face.score, 4),
        "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in face.face.landmarks],
        "quality": {
            "accepted": face.quality.accepted,
            "reasons": list(face.quality.reasons),
            "size_px": face.quality.size_px,
            "sharpness": round(face.quality.sharpness, 2),
            "yaw": round(face.quality.yaw, 3),
            "pitch": round(face.quality.pitch, 3),
            "score": round(face.quality.score, 4),
        },
        "liveness": None if face.liveness is None else round(face.liveness, 4),
    }
    if with_embedding and face.embedding is not None:
        data["embedding"] = [round(float(v), 6) for v in face.embedding]
    return data
