"""Synthetic "people walking past a camera" videos made from real face photos.

Each actor is a head-and-shoulders crop of one shared photo, pasted onto a 640x480
background from frame ``start`` to ``end`` (exclusive), moving by (dx, dy) pixels a
frame. Used by tests/test_watch.py and benchmarks/watch.py. ``mjpeg_server`` serves
frames as a live HTTP stream.
"""

from __future__ import annotations

import http.server
import itertools
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facedb.media.images import read_image
from facedb.vision.pipeline import FacePipeline

WIDTH, HEIGHT = 640, 480


@dataclass(frozen=True)
class Actor:
    name: str  # who it is (for the test's expectations)
    crop: np.ndarray  # uint8 BGR, square
    start: int
    end: int
    x: int  # top-left of the crop at ``start``
    y: int
    dx: int = 0
    dy: int = 0

    def rect(self, frame: int) -> tuple[int, int, int, int] | None:
        """x1, y1, x2, y2 of the pasted crop on this frame; None when absent."""
        if not self.start <= frame < self.end:
            return None
        k = frame - self.start
        x, y = self.x + self.dx * k, self.y + self.dy * k
        side = self.crop.shape[0]
        return x, y, x + side, y + side


def face_crop(pipeline: FacePipeline, path: Path, side: int = 180) -> np.ndarray:
    """A square crop centred on the largest face of ``path``, 1.6 times the face box's
    longer side, resized to ``side`` pixels (the face box is then about 0.4 x side
    wide: 72 px for 180)."""
    image = read_image(path)
    faces = pipeline.detect(image)
    if not faces:
        raise ValueError(f"no face in {path}")
    face = max(faces, key=lambda f: f.area)
    x1, y1, x2, y2 = (float(v) for v in face.box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = 0.8 * max(x2 - x1, y2 - y1)
    border = int(half * 2) + 1
    padded = cv2.copyMakeBorder(image, border, border, border, border, cv2.BORDER_REPLICATE)
    left, top = round(cx - half) + border, round(cy - half) + border
    square = padded[top : top + 2 * round(half), left : left + 2 * round(half)]
    return np.ascontiguousarray(cv2.resize(square, (side, side), interpolation=cv2.INTER_AREA))


def background() -> np.ndarray:
    """A plain wall: a soft vertical gradient, so that the frame is not empty."""
    column = np.linspace(70, 140, HEIGHT, dtype=np.float32)[:, None, None]
    tint = np.array([1.0, 0.95, 0.9], dtype=np.float32)[None, None, :]
    wall = np.broadcast_to(column * tint, (HEIGHT, WIDTH, 3))
    return np.ascontiguousarray(wall.round().astype(np.uint8))


def render(actors: list[Actor], frame: int) -> np.ndarray:
    image = background()
    for actor in actors:
        rect = actor.rect(frame)
        if rect is None:
            continue
        x1, y1, x2, y2 = rect
        cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, WIDTH), min(y2, HEIGHT)
        if cx1 >= cx2 or cy1 >= cy2:
            continue
        image[cy1:cy2, cx1:cx2] = actor.crop[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1]
    return image


def queue(people: list[tuple[str, np.ndarray]], frames_each: int, x: int, y: int) -> list[Actor]:
    """People shown one after another at the same spot, with no empty frame between
    them (a queue at a door): a box tracker sees one face that never leaves."""
    return [
        Actor(name, crop, k * frames_each, (k + 1) * frames_each, x, y)
        for k, (name, crop) in enumerate(people)
    ]


def write_stills(path: Path, image: np.ndarray, frames: int, fps: float = 10.0) -> Path:
    """A video (MJPG .avi) of one image held still: a photo shown to a camera."""
    height, width = image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    for _ in range(frames):
        writer.write(image)
    writer.release()
    return path


def write_video(path: Path, actors: list[Actor], frames: int, fps: float = 10.0) -> Path:
    """Writes the scene (MJPG in .avi, or mp4v in .mp4); returns ``path``."""
    fourcc = cv2.VideoWriter.fourcc(*("MJPG" if path.suffix == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    for k in range(frames):
        writer.write(render(actors, k))
    writer.release()
    return path


def read_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames


@contextmanager
def mjpeg_server(
    frames: list[np.ndarray], fps: float, connections: int, stall: tuple[int, float] = (0, 0.0)
) -> Iterator[str]:
    """A local MJPEG-over-HTTP stream (what many IP cameras serve), for live tests.

    Each of the first ``connections`` clients gets every frame, paced at ``fps``, and
    then the connection is closed (the stream "drops"); later clients get 404 (the
    camera is gone). ``stall``: (n, seconds): after the n-th frame the stream sends
    nothing for that long, the connection open. Yields the stream's URL.
    """
    parts = [cv2.imencode(".jpg", frame)[1].tobytes() for frame in frames]
    served = itertools.count(1)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if next(served) > connections:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            started = time.monotonic()
            try:
                for i, part in enumerate(parts):
                    self.wfile.write(
                        b"--frame\r\nContent-Type: image/jpeg\r\n"
                        + f"Content-Length: {len(part)}\r\n\r\n".encode()
                        + part
                        + b"\r\n"
                    )
                    if i + 1 == stall[0]:
                        time.sleep(stall[1])
                        started += stall[1]
                    # On a fixed schedule, as a camera: the writes' time is not added.
                    time.sleep(max(0.0, started + (i + 1) / fps - time.monotonic()))
            except (BrokenPipeError, ConnectionResetError):
                pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/stream.mjpg"
    finally:
        server.shutdown()
        server.server_close()
