"""The kiosk page in a real browser: headless Chromium, whose fake camera plays a
video made from a real photo of an enrolled person, against a live uvicorn on
loopback. The page must show the person's name; the verification is logged.

Needs /usr/bin/chromium (Debian: apt-get install -y chromium); skipped without it.
A screenshot is saved to test-artifacts/kiosk.png; with FACEDB_UPDATE_DOCS=1 also to
docs/kiosk.png (the README's picture).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from live_server import LiveServer

from facedb import access
from facedb.api.app import create_app
from facedb.config import Settings
from facedb.media.images import read_image

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
DOCS_PICTURE = REPO / "docs" / "kiosk.png"
DOCS_PICTURE_WIDTH = 800
ENROL_IMAGES = ("face_recognition/examples/obama.jpg", "face_recognition/examples/obama2.jpg")
# Another photo than those enrolled. Liveness is checked on the kiosk's frames
# (docs/LIVENESS.md): a portrait that scores as live on the fake camera (1.00), not a
# small web photo letterboxed into a black frame, which looks like a photo held up.
CAMERA_IMAGE = "face_recognition/tests/test_images/obama3.jpg"
NAME = "Barack Obama"
# A photo of the person of real_T1 shown to a camera (liveness 0.006; cosine 0.50 with
# real_T1, above the threshold: accepted as that person when liveness is not checked).
LIVE_CAPTURE = "liveness/real_T1.jpg"
SPOOF = "liveness/spoof_F2.jpg"
SPOOFED_NAME = "Live Person"
# Seconds the page has to open the camera, send frames and show the name.
PAGE_TIMEOUT_S = 90.0

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless Chromium not installed (/usr/bin/chromium; apt-get install -y chromium)",
)


def compact_png(png: bytes, width: int) -> bytes:
    """The picture scaled down to ``width`` pixels, PNG at the highest compression."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise RuntimeError("the screenshot is not a PNG")
    height = round(image.shape[0] * width / image.shape[1])
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".png", small, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("cannot encode the screenshot")
    return encoded.tobytes()


def write_y4m(image_bgr: np.ndarray, path: Path, *, width: int = 640, height: int = 480) -> None:
    """A short YUV4MPEG2 (4:2:0) video of the image, letterboxed to width x height:
    what Chromium's fake camera plays, in a loop."""
    scale = min(width / image_bgr.shape[1], height / image_bgr.shape[0])
    resized = cv2.resize(
        image_bgr, (int(image_bgr.shape[1] * scale), int(image_bgr.shape[0] * scale))
    )
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    i420 = cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420).tobytes()  # Y, then U, then V planes
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(5):
            out.write(b"FRAME\n" + i420)


class DevTools:
    """A minimal Chrome DevTools Protocol client over the page's websocket."""

    def __init__(self, websocket_url: str) -> None:
        import websocket

        self._ws = websocket.create_connection(websocket_url, timeout=30, suppress_origin=True)
        self._ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        self._ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self._ws.recv())
            if reply.get("id") == message_id:  # events have no id: skipped
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def wait_for(self, expression: str, done: Callable[[Any], bool]) -> Any:
        """Evaluates the expression until ``done`` accepts its value (or the page
        timeout passes: then the last value is returned, for the assertion to show)."""
        deadline = time.monotonic() + PAGE_TIMEOUT_S
        value = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value is not None and done(value):
                break
            time.sleep(0.25)
        return value if value is not None else {}

    def close(self) -> None:
        self._ws.close()


class Chromium:
    """Headless Chromium with a fake camera playing ``video``; stopped by close()."""

    def __init__(self, folder: Path) -> None:
        self.profile = folder / "profile"
        self.profile.mkdir()
        self.video = folder / "camera.y4m"
        self.process: subprocess.Popen[bytes] | None = None

    def open(self, url: str) -> DevTools:
        """Starts the browser on ``url``; a DevTools client of its page."""
        self.process = subprocess.Popen(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={self.video}",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-dev-shm-usage",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1024,768",
                url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return DevTools(self._page_websocket(self.process))

    def _page_websocket(self, process: subprocess.Popen[bytes]) -> str:
        """The DevTools websocket of the page (Chromium writes its DevTools port to
        DevToolsActivePort in the profile folder)."""
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"chromium exited with {process.returncode}")
            if port_file.is_file() and port_file.read_text().strip():
                port = int(port_file.read_text().splitlines()[0])
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                if pages:
                    url: str = pages[0]["webSocketDebuggerUrl"]
                    return url
            time.sleep(0.2)
        raise RuntimeError("chromium's DevTools did not come up")

    def close(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Chromium]:
    browser = Chromium(tmp_path)
    yield browser
    browser.close()


def test_kiosk_page_recognises_an_enrolled_person(
    settings: Settings,
    faces_dir: Path,
    chromium: Chromium,
) -> None:
    app = create_app(settings)
    service = app.state.facedb.service
    for index, image in enumerate(ENROL_IMAGES):
        service.enrol(NAME, str(faces_dir / image), add=index > 0)
    token = access.create_key(service, "entrance-tablet", "kiosk").token
    admin_token = access.create_key(service, "office", "admin").token
    write_y4m(read_image(faces_dir / CAMERA_IMAGE), chromium.video)

    with LiveServer(app) as server:
        devtools = chromium.open(f"http://127.0.0.1:{server.port}/?key={token}")
        try:
            shown = devtools.wait_for(
                "({headline: document.getElementById('headline').textContent,"
                " state: document.getElementById('result').dataset.state,"
                " live: document.getElementById('result').getAttribute('aria-live'),"
                " url: location.href})",
                lambda value: NAME in str(value.get("headline")),
            )
            screenshot = base64.b64decode(devtools.call("Page.captureScreenshot")["data"])
            enrolment = enrol_from_the_camera(devtools, server.port, admin_token)
        finally:
            devtools.close()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "kiosk.png").write_bytes(screenshot)
    if os.environ.get("FACEDB_UPDATE_DOCS") == "1":
        DOCS_PICTURE.write_bytes(compact_png(screenshot, DOCS_PICTURE_WIDTH))
        assert DOCS_PICTURE.stat().st_size < 300_000

    assert NAME in shown.get("headline", ""), f"the page shows {shown}"
    assert shown["state"] == "accepted" and shown["live"] == "polite"
    assert "key=" not in shown["url"]  # the key left the address bar for localStorage
    rows = service.attendance(name=NAME)
    assert rows and rows[0].decision == "accepted" and rows[0].device == "entrance-tablet"
    # The enrolment page listed the person, then added a face taken by the camera.
    assert enrolment["people"] == [[NAME, "2"]]
    assert enrolment["message"] == f"Enrolled {NAME}: 1 face(s) stored, 3 in all."
    assert service.user(NAME).embeddings == 3


def test_kiosk_page_refuses_a_photo_held_to_the_camera(
    settings: Settings,
    faces_dir: Path,
    chromium: Chromium,
) -> None:
    """With the default settings (FACEDB_LIVENESS=auto), the kiosk's frames are checked
    for liveness: the shared spoof sample is refused and logged as spoof, never accepted."""
    assert settings.liveness == "auto"
    app = create_app(settings)
    service = app.state.facedb.service
    service.enrol(SPOOFED_NAME, str(faces_dir / LIVE_CAPTURE))
    token = access.create_key(service, "entrance-tablet", "kiosk").token
    write_y4m(read_image(faces_dir / SPOOF), chromium.video)

    with LiveServer(app) as server:
        devtools = chromium.open(f"http://127.0.0.1:{server.port}/?key={token}")
        try:
            shown = devtools.wait_for(
                "({headline: document.getElementById('headline').textContent,"
                " detail: document.getElementById('detail').textContent,"
                " state: document.getElementById('result').dataset.state})",
                lambda value: value.get("state") in ("refused", "accepted"),
            )
        finally:
            devtools.close()

    assert shown.get("state") == "refused", f"the page shows {shown}"
    assert SPOOFED_NAME not in shown["headline"] and "live face" in shown["detail"]
    rows = service.attendance()
    assert rows and {r.decision for r in rows} == {"spoof"}, [r.decision for r in rows]
    assert all(r.liveness is not None and r.liveness < 0.2 for r in rows)


def enrol_from_the_camera(devtools: DevTools, port: int, admin_token: str) -> dict[str, Any]:
    """On /enrol.html: wait for the list of people, take a photo, add it to NAME."""
    devtools.call("Page.navigate", url=f"http://127.0.0.1:{port}/enrol.html?key={admin_token}")
    people = devtools.wait_for(
        "[...document.querySelectorAll('#people tr')]"
        ".map(row => [...row.cells].map(cell => cell.textContent))",
        lambda rows: bool(rows),
    )
    devtools.wait_for("document.getElementById('video').videoWidth", lambda width: width > 0)
    devtools.evaluate(
        f"document.getElementById('name').value = {json.dumps(NAME)};"
        "document.getElementById('add').checked = true;"
        "document.getElementById('snap').click();"
    )
    devtools.wait_for("document.querySelectorAll('#shots li').length", lambda n: n == 1)
    devtools.evaluate("document.querySelector('#enrol-form button[type=submit]').click()")
    message = devtools.wait_for(
        "document.getElementById('message').textContent",
        lambda text: not str(text).startswith(("Enrolling", "1 photo")),
    )
    return {"people": people, "message": message}
