"""Headless Chromium driven over the DevTools protocol for the console's tests
(tests/test_console_browser.py, tests/test_console_pages.py): pages opened by URL,
forms filled and submitted, files chosen, JavaScript errors recorded, screenshots."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

from test_kiosk_browser import ARTIFACTS, Chromium, DevTools, compact_png

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "console"
# (suffix, width, height, mobile, width of the saved picture)
VIEWPORTS = (("desktop", 1280, 800, False, 960), ("phone", 390, 844, True, 390))

# Seconds a page has to show what a test waits for.
WAIT_S = 60.0
# Recorded in every page before its own scripts run: errors, rejected promises and
# Content-Security-Policy violations.
_RECORDER = """
window.__errors = [];
addEventListener("error", (e) => __errors.push("error: " + e.message));
addEventListener("unhandledrejection", (e) => __errors.push("rejection: " + e.reason));
document.addEventListener("securitypolicyviolation",
  (e) => __errors.push("csp: " + e.violatedDirective + " " + e.blockedURI));
"""
# Form controls without a label (a <label for>, a wrapping label or an aria-label).
UNLABELLED = """
[...document.querySelectorAll("input, select, textarea")]
  .filter((c) => !["hidden", "submit", "button"].includes(c.type))
  .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute("aria-label")
                 && !c.getAttribute("aria-labelledby"))
  .map((c) => c.outerHTML.slice(0, 120))
"""


class Browser:
    """One page of headless Chromium."""

    def __init__(self, chromium: Chromium, url: str) -> None:
        self.chromium = chromium
        self.devtools: DevTools = chromium.open("about:blank")
        self.devtools.call("Page.enable")
        self.devtools.call("Page.addScriptToEvaluateOnNewDocument", source=_RECORDER)
        self.base = url

    def go(self, path: str) -> float:
        """Opens a page and waits until it has loaded; the seconds it took, from the
        request to the end of its load event (the browser's navigation timing)."""
        self.devtools.call("Page.navigate", url=self.base + path)
        self.wait("document.readyState === 'complete' && location.href !== 'about:blank'")
        return float(self.wait("performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000)

    def js(self, expression: str) -> Any:
        return self.devtools.evaluate(expression)

    def wait(self, expression: str) -> Any:
        """Waits until the expression is truthy; its value (the last one on time-out)."""
        deadline = time.monotonic() + WAIT_S
        value = None
        while time.monotonic() < deadline:
            try:
                value = self.js(expression)
            except RuntimeError:  # the page is navigating
                value = None
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {expression}: last value {value!r}")

    def fill(self, values: dict[str, str]) -> None:
        """Sets form fields by element id."""
        for element, value in values.items():
            self.js(f"document.getElementById({json.dumps(element)}).value = {json.dumps(value)}")

    def submit(self, selector: str) -> None:
        """Submits a form (its submit button's value included) and waits for the next page."""
        self.js(
            f"window.__leaving = true; document.querySelector({json.dumps(selector)}).requestSubmit()"
        )
        self.wait("window.__leaving === undefined && document.readyState === 'complete'")

    def choose_files(self, selector: str, files: list[Path]) -> None:
        root = self.devtools.call("DOM.getDocument")["root"]["nodeId"]
        node = self.devtools.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.devtools.call(
            "DOM.setFileInputFiles", nodeId=node, files=[str(f.resolve()) for f in files]
        )

    def errors(self) -> list[str]:
        return list(self.js("window.__errors || []"))

    def unlabelled(self) -> list[str]:
        return list(self.js(UNLABELLED))

    def screenshot(self, path: Path, *, width: int, height: int, mobile: bool) -> None:
        """The page at this viewport size, as a PNG."""
        self.devtools.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )
        time.sleep(0.3)
        shot = self.devtools.call("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        self.devtools.call("Emulation.clearDeviceMetricsOverride")

    def shoot(self, name: str) -> None:
        """Screenshots of the page at desktop and phone width: test-artifacts/console/,
        and with FACEDB_UPDATE_DOCS=1 docs/console/ (the README links them)."""
        for suffix, width, height, mobile, saved in VIEWPORTS:
            path = ARTIFACTS / "console" / f"{name}-{suffix}.png"
            self.screenshot(path, width=width, height=height, mobile=mobile)
            if os.environ.get("FACEDB_UPDATE_DOCS") == "1":
                DOCS.mkdir(parents=True, exist_ok=True)
                (DOCS / path.name).write_bytes(compact_png(path.read_bytes(), saved))

    def close(self) -> None:
        self.devtools.close()
