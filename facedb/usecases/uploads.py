"""Images a client sent (the HTTP API): the encoded bytes of each file, decoded into
pixels for the use cases, within the input budget of media/budget.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from facedb.media.budget import DecodeLedger
from facedb.media.frames import ImagesSource
from facedb.media.images import BGRImage, read_image


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    label: str  # for messages: "#0 (door.jpg)"


def decode_image(image: EncodedImage) -> BGRImage:
    """One image, uint8 [H, W, 3] BGR; ImageError (HTTP 400) names it."""
    return read_image(image.data, name=image.label)


def decode_images(
    images: Sequence[EncodedImage], description: str, *, from_camera: bool = False
) -> tuple[ImagesSource, list[str]]:
    """Decodes every image (ImageError, HTTP 400, names the bad one; the images of one
    request together within the request budget) into a frame source; also returns the
    frames' origins, in order ("#0", "#1", ...). ``from_camera``: the images are a
    camera's frames (liveness checked under auto: FrameSource.from_camera)."""
    origins = [f"#{i}" for i in range(len(images))]
    ledger = DecodeLedger()  # the images of one request share one budget
    frames = [
        (read_image(image.data, name=image.label, ledger=ledger), origin)
        for image, origin in zip(images, origins, strict=True)
    ]
    return ImagesSource(frames, description, from_camera=from_camera), origins
