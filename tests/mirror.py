"""A loopback HTTP mirror laid out like the models' pinned public sources
(BASE/<host>/<path>, weights/manifest.toml), built from the shared model files; zip
archives are built here with the model as the manifest's member."""

from __future__ import annotations

import functools
import threading
import urllib.parse
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from facedb.vision.model_sources import manifest_sources
from facedb.vision.models import load_manifest


def source_path(root: Path, url: str) -> Path:
    parts = urllib.parse.urlsplit(url)
    return root / str(parts.hostname) / parts.path.lstrip("/")


def build_mirror(root: Path, weights: Path, flat: tuple[str, ...] = ()) -> Path:
    """Every model of the manifest with a source that needs no recipe, at its first such
    source's place; the models named in ``flat`` as BASE/<file> (a site's own copy)."""
    specs = load_manifest()
    for name, sources in manifest_sources().items():
        model = weights / specs[name].file
        if name in flat:
            root.mkdir(parents=True, exist_ok=True)
            (root / specs[name].file).write_bytes(model.read_bytes())
        usable = [s for s in sources if s.recipe is None]
        if not usable or not model.is_file():
            continue
        target = source_path(root, usable[0].url)
        target.parent.mkdir(parents=True, exist_ok=True)
        if usable[0].member is None:
            target.write_bytes(model.read_bytes())
        else:
            with zipfile.ZipFile(target, "a") as archive:
                archive.write(model, usable[0].member)
    return root


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serves root on 127.0.0.1; yields the base URL."""
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
