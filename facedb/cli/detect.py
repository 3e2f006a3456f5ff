"""`facedb detect`: faces, key points and quality of image files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from facedb.usecases.detection import FaceFinding, detect_faces

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
    "faces). Default: FACEDB_DET_SIZE, else 0.",
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
    run = detect_faces(
        paths,
        embeddings=embeddings,
        annotate_dir=annotate_dir,
        liveness=liveness,
        aligned=aligned,
        det_size=det_size,
        device=device,
    )
    results: list[dict[str, Any]] = [
        {
            "path": str(image.path),
            "width": image.width,
            "height": image.height,
            "faces": [_face_json(face, embeddings) for face in image.faces],
        }
        for image in run.images
    ]
    if as_json:
        print_json(
            {
                "detector": run.detector,
                "embedder": run.embedder,
                "liveness_model": run.liveness_model,
                "providers": run.providers,
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


def _face_json(face: FaceFinding, with_embedding: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "box": [round(v, 2) for v in face.box],
        "score": round(face.score, 4),
        "landmarks": [[round(x, 2), round(y, 2)] for x, y in face.landmarks],
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
