"""Where frames come from: an image file, image bytes, a folder, a video file, a camera,
or a network stream. ``open_source`` turns a command-line spec into a ``FrameSource``:
an iterator of ``Frame`` that is also a context manager. Images are decoded by
media/images.py.
"""

from __future__ import annotations

import itertools
import logging
import re
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import cv2
import numpy as np

from facedb.errors import ImageError, SourceError
from facedb.media import budget
from facedb.media.budget import DEFAULT_BUDGET, ImageBudget
from facedb.media.images import IMAGE_EXTENSIONS, BGRImage, read_image, to_bgr8
from facedb.secrets import redact_url
from facedb.vision.types import Frame

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".wmv", ".flv",
     ".ts", ".mts", ".m2ts", ".3gp", ".ogv", ".mjpeg", ".mjpg", ".h264", ".h265"}
)  # fmt: skip
STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt"})

# Seconds OpenCV may wait to open, then to read from, a network stream.
STREAM_TIMEOUT_S = 10.0

_CAMERA_RE = re.compile(r"^\d{1,3}$")
_URL_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


class FrameSource(ABC):
    """Frames from one source. Iterate it once; close it (or use ``with``) when done.

    ``is_live``: a camera or a network stream (a person may be in front of it now), as
    opposed to files. ``from_camera``: frames a camera took just now, held in memory
    (the browser kiosk's uploads to ``POST /v1/verify``): like a live source, their
    liveness is checked under ``FACEDB_LIVENESS=auto`` (docs/LIVENESS.md).
    ``description``: for people ("camera 0", "video clip.mp4").
    ``skipped``: (path, reason) of the files a folder source could not use.
    """

    is_live: bool = False
    from_camera: bool = False

    def __init__(self, description: str, *, limit: int | None = None) -> None:
        self.description = description
        self.limit = limit
        self.skipped: list[tuple[Path, str]] = []
        self._closed = False

    def __iter__(self) -> Iterator[Frame]:
        frames = self._frames()
        if self.limit is not None:
            frames = itertools.islice(frames, self.limit)
        for frame in frames:
            if self._closed:
                return
            yield frame

    @abstractmethod
    def _frames(self) -> Iterator[Frame]:
        """Yield every frame of the source, in order."""

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


class ImageSource(FrameSource):
    """One image, decoded when the source is opened so that a bad file fails at once."""

    def __init__(self, image: BGRImage, origin: str, *, limit: int | None = None) -> None:
        super().__init__(f"image {origin}", limit=limit)
        self._image = image
        self._origin = origin

    def _frames(self) -> Iterator[Frame]:
        yield Frame(image=self._image, origin=self._origin, index=0, timestamp=0.0)


class ImagesSource(FrameSource):
    """Several decoded images held in memory (e.g. uploaded to the HTTP API), in order.

    ``images``: (uint8 BGR [H, W, 3] image, origin) pairs; origins name them in results
    and messages ("upload[0]", a file name). ``from_camera``: see FrameSource.
    """

    def __init__(
        self,
        images: list[tuple[BGRImage, str]],
        description: str,
        *,
        limit: int | None = None,
        from_camera: bool = False,
    ) -> None:
        if not images:
            raise SourceError(f"{description}: no images")
        super().__init__(description, limit=limit)
        self._images = list(images)
        self.from_camera = from_camera

    def _frames(self) -> Iterator[Frame]:
        for index, (image, origin) in enumerate(self._images):
            yield Frame(image=image, origin=origin, index=index, timestamp=0.0)


class FolderSource(FrameSource):
    """The images of a folder, sorted by path. Files that are not images, or that
    cannot be decoded, are skipped with a warning and listed in ``skipped``; a folder
    none of whose images can be decoded is SourceError (exit 10), so that it is not
    taken for a scene with no face (and logged as one)."""

    def __init__(self, folder: Path, *, recursive: bool = False, limit: int | None = None) -> None:
        super().__init__(f"folder {folder}", limit=limit)
        self.folder = folder
        self.files = _list_images(folder, recursive, self.skipped)
        if not self.files:
            where = "or below it " if recursive else ""
            raise SourceError(f"no images in folder {folder} {where}(looked for {_ext_hint()})")

    def _frames(self) -> Iterator[Frame]:
        started = time.monotonic()
        index = 0
        for path in self.files:
            try:
                image = read_image(path)
            except ImageError as exc:
                reason = exc.message.split(": ", 1)[-1]
                log.warning("skipping %s: %s", path, reason)
                self.skipped.append((path, reason))
                continue
            yield Frame(image, str(path), index, time.monotonic() - started)
            index += 1
        if index == 0 and not self._closed:
            reasons = "; ".join(f"{p.name}: {why}" for p, why in self.skipped[:3])
            raise SourceError(f"no readable image in folder {self.folder} ({reasons})")


def _list_images(folder: Path, recursive: bool, skipped: list[tuple[Path, str]]) -> list[Path]:
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    images: list[Path] = []
    for path in sorted(candidates):
        if _is_hidden(path.relative_to(folder)) or not path.is_file():
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            images.append(path)
        else:
            reason = f"not an image file (extension {path.suffix or 'none'!r})"
            log.warning("skipping %s: %s", path, reason)
            skipped.append((path, reason))
    return images


def _is_hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _ext_hint() -> str:
    return ", ".join(sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS if len(e) <= 5)[:8]) + ", ..."


class CaptureSource(FrameSource):
    """Frames from cv2.VideoCapture: a video file, a camera or a network stream.

    Timestamps: a file's frames carry their position in the video (index / fps when the
    frame rate is known); a live source's frames carry seconds since it was opened.

    The frame size is read when the source is opened (FFmpeg parses it from the
    stream's own headers, not the container's, without decoding a frame) and checked
    against the image budget before the first frame is decoded (budget.check_frames);
    a frame larger than declared is refused (``declared``: width, height).
    """

    def __init__(
        self,
        capture: cv2.VideoCapture,
        description: str,
        origin: str,
        *,
        is_live: bool,
        limit: int | None = None,
        image_budget: ImageBudget = DEFAULT_BUDGET,
    ) -> None:
        super().__init__(description, limit=limit)
        self.is_live = is_live
        self._capture = capture
        self._origin = origin
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        try:
            budget.check_frames(width, height, description, image_budget)
        except SourceError:
            capture.release()
            raise
        self.declared = (width, height)
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.0 < fps < 1000.0 else 0.0
        self._opened_at = time.monotonic()

    def _frames(self) -> Iterator[Frame]:
        index = 0
        while not self._closed:
            ok, image = self._capture.read()
            if not ok or image is None:
                if self.is_live:
                    log.warning("%s stopped delivering frames after %d", self.description, index)
                return
            frame = np.asarray(image)
            width, height = self.declared
            if frame.shape[0] * frame.shape[1] > width * height:
                raise SourceError(
                    f"{self.description}: a frame of {frame.shape[1]}x{frame.shape[0]} pixels, "
                    f"larger than the declared {width}x{height}"
                )
            bgr = to_bgr8(frame, self._origin)
            origin = f"{self._origin}#{index}"
            yield Frame(np.ascontiguousarray(bgr), origin, index, self._timestamp(index))
            index += 1

    def _timestamp(self, index: int) -> float:
        if self.is_live:
            return time.monotonic() - self._opened_at
        if self.fps > 0.0:
            return index / self.fps
        return float(self._capture.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0

    def close(self) -> None:
        super().close()
        self._capture.release()


def is_live_spec(spec: str) -> bool:
    """Whether ``spec`` names a camera or a network stream (what open_source opens as
    a live source), without opening it."""
    return bool(_CAMERA_RE.match(spec) or _URL_RE.match(spec))


def open_source(
    spec: str,
    *,
    recursive: bool = False,
    limit: int | None = None,
    stdin: BinaryIO | None = None,
    image_budget: ImageBudget = DEFAULT_BUDGET,
) -> FrameSource:
    """Open what a user named on the command line.

    - "-": one image's bytes on standard input (``stdin`` overrides sys.stdin.buffer);
    - "0", "1", ...: a camera index (a file named "0" must be given as "./0");
    - "rtsp://...", "http(s)://...", ...: a network stream;
    - a folder: its images sorted by path (``recursive``: also those below it);
    - a file: a video by its extension, otherwise an image.

    ``limit``: stop after this many frames. ``image_budget``: the size limits of every
    image and video frame (media/budget.py). Raises SourceError (exit code 10) when the
    source cannot be opened, ImageError (exit code 3) when a single image is unreadable.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    if spec == "-":
        stream = stdin or sys.stdin.buffer
        if stdin is None and sys.stdin.isatty():
            raise SourceError("cannot read an image from stdin: it is a terminal (pipe a file)")
        data = budget.read_capped(stream, "stdin", image_budget.max_file_bytes)
        image = read_image(data, name="stdin", limits=image_budget)
        return ImageSource(image, "stdin", limit=limit)
    if _CAMERA_RE.match(spec):
        return _open_camera(int(spec), limit, image_budget)
    scheme = _URL_RE.match(spec)
    if scheme:
        return _open_stream(spec, scheme.group(1).lower(), limit, image_budget)
    return _open_path(Path(spec), recursive, limit, image_budget)


def _open_path(
    path: Path, recursive: bool, limit: int | None, image_budget: ImageBudget
) -> FrameSource:
    if path.is_dir():
        return FolderSource(path, recursive=recursive, limit=limit)
    if not path.exists():
        raise SourceError(f"cannot open {path}: no such file or folder")
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        budget.check_openable(path, "video")
        return _open_video(path, limit, image_budget)
    return ImageSource(read_image(path, limits=image_budget), str(path), limit=limit)


def _open_video(path: Path, limit: int | None, image_budget: ImageBudget) -> FrameSource:
    capture = cv2.VideoCapture(str(path), cv2.CAP_ANY)
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"cannot open video {path}: not a video OpenCV can decode")
    return CaptureSource(
        capture, f"video {path}", str(path), is_live=False, limit=limit, image_budget=image_budget
    )


def _open_camera(index: int, limit: int | None, image_budget: ImageBudget) -> FrameSource:
    if sys.platform.startswith("linux") and not Path(f"/dev/video{index}").exists():
        # Asking OpenCV would try every backend and print a warning for each.
        raise SourceError(f"cannot open camera {index}: no such camera (/dev/video{index})")
    capture = cv2.VideoCapture(index, cv2.CAP_ANY)
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"cannot open camera {index}: no such camera, or it is in use")
    log.info("opened camera %d (backend %s)", index, capture.getBackendName())
    description = f"camera {index}"
    return CaptureSource(
        capture, description, description, is_live=True, limit=limit, image_budget=image_budget
    )


def _http_refusal(url: str) -> str | None:
    """What an HTTP server answered a URL FFmpeg could not open (HTTP 404 Not
    Found, connection refused), or None when it answers 2xx: then the content
    itself is no video or image."""
    import urllib.error
    import urllib.request

    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=STREAM_TIMEOUT_S):
            return None
    except urllib.error.HTTPError as exc:
        return f"the server answered HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"no answer from the server ({reason})"


def _open_stream(
    url: str, scheme: str, limit: int | None, image_budget: ImageBudget
) -> FrameSource:
    shown = redact_url(url)
    if scheme not in STREAM_SCHEMES:
        raise SourceError(f"cannot open {shown}: unsupported URL scheme {scheme!r}")
    timeout_ms = int(STREAM_TIMEOUT_S * 1000)
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        timeout_ms,
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        timeout_ms,
    ]
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    if not capture.isOpened():
        capture.release()
        why = _http_refusal(url) if scheme in ("http", "https") else None
        raise SourceError(
            f"cannot open {shown}: {why}"
            if why
            else f"cannot open stream {shown}: no answer, or not a video stream"
        )
    return CaptureSource(
        capture, f"stream {shown}", shown, is_live=True, limit=limit, image_budget=image_budget
    )
