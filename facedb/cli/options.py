"""Options shared by several commands, defined once."""

from __future__ import annotations

from pathlib import Path

import click

source_option = click.option(
    "--source",
    default="0",
    show_default=True,
    help="Camera index, video file, stream URL, image file, folder of images, or - (stdin).",
)

device_option = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default=None,
    help="Execution provider for the models (default: FACEDB_DEVICE or auto).",
)

liveness_option = click.option(
    "--liveness",
    type=click.Choice(["auto", "on", "off"]),
    default=None,
    help="Refuse photos and screens held up to the camera (default: FACEDB_LIVENESS, "
    "else auto = on for cameras and streams, off for image and video files).",
)

aligned_option = click.option(
    "--aligned",
    is_flag=True,
    help="Images are face crops aligned to the ArcFace template (112x112, or 112x96 "
    "height x width): no detection, the whole image is the face.",
)

pairs_root_option = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder the image paths are relative to (default: the pairs file's folder).",
)
