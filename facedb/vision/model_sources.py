"""Where a model file comes from: the pinned public sources of the weights manifest.

Each ``[[model.sources]]`` entry is one place the exact file (same sha256 and size
as the manifest's) can be had:

- ``url``: a release asset or a repository file at a commit (pinned: the bytes behind
  it do not change), or a zip archive holding the file as ``member``;
- ``recipe``: the file is made from the downloaded one by a pinned, deterministic step
  (``quantize-dynamic-qint8``: onnxruntime's dynamic int8 quantisation); the recipe's
  input must have ``input_sha256`` and ``input_bytes`` before it runs, and the result
  is checked like any download, refused when its sha256 differs;
- ``verified``: whether the source's bytes were checked against the manifest's sha256
  by the people who wrote the entry; ``note`` says how, or why not. `facedb doctor`
  and `facedb models fetch` say so for a source that was not.

A mirror (``--url BASE``, FACEDB_MODELS_URL) is searched first for ``BASE/<file>`` (a
site's own copy of the model files), then for each source laid out like the real one:
``BASE/<host>/<path>`` (e.g. BASE/github.com/deepinsight/insightface/releases/...).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import tomllib
import urllib.parse
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facedb.config import REPO_WEIGHTS_DIR
from facedb.errors import InvalidInputError, ModelError
from facedb.secrets import redact_url

RECIPES = ("quantize-dynamic-qint8",)


@dataclass(frozen=True)
class Source:
    url: str
    member: str | None = None  # the model's path inside a zip archive
    recipe: str | None = None  # a step that turns the downloaded file into the model
    verified: bool = False  # its bytes were checked against the manifest's sha256
    note: str = ""
    # A recipe's input (the file downloaded, or the archive's member) is checked first.
    input_sha256: str | None = None
    input_bytes: int = 0

    def describe(self) -> str:
        text = redact_url(self.url)
        if self.member:
            text += f" ({self.member})"
        if self.recipe:
            text += f" + {self.recipe}"
        return text


def _entries() -> list[dict[str, Any]]:
    try:
        text = (importlib.resources.files("facedb.weights") / "manifest.toml").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        text = (REPO_WEIGHTS_DIR / "manifest.toml").read_text("utf-8")
    entries: list[dict[str, Any]] = tomllib.loads(text).get("model", [])
    return entries


def manifest_sources() -> dict[str, list[Source]]:
    """The pinned sources of each manifest model, in the manifest's order."""
    found: dict[str, list[Source]] = {}
    for entry in _entries():
        sources = []
        for raw in entry.get("sources", []):
            recipe = raw.get("recipe")
            if recipe is not None and recipe not in RECIPES:
                raise ModelError(f"{entry['name']}: unknown recipe {recipe!r} in the manifest")
            sources.append(
                Source(
                    url=check_url(str(raw["url"])),
                    member=raw.get("member"),
                    recipe=recipe,
                    verified=bool(raw.get("verified", False)),
                    note=str(raw.get("note", "")),
                    input_sha256=raw.get("input_sha256"),
                    input_bytes=int(raw.get("input_bytes", 0)),
                )
            )
        found[str(entry["name"])] = sources
    return found


def candidates(name: str, file: str, mirror: str | None) -> list[Source]:
    """Where to look for one model, in order: the mirror's BASE/<file> and its copies
    of the sources (with a mirror), else the pinned sources themselves."""
    pinned = manifest_sources().get(name, [])
    if not mirror:
        return pinned
    base = check_url(mirror).rstrip("/")
    flat = Source(f"{base}/{urllib.parse.quote(file)}", verified=True, note="site mirror")
    return [flat, *(_mirrored(base, s) for s in pinned)]


def _mirrored(base: str, source: Source) -> Source:
    parts = urllib.parse.urlsplit(source.url)
    return dataclasses.replace(source, url=f"{base}/{parts.hostname}{parts.path}")


def check_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(
            f"a model URL must be http:// or https:// with a host: {redact_url(url)!r}"
        )
    return url


def extract_member(archive: Path, member: str, out: Path, limit: int) -> None:
    """Copies ``member`` of the zip ``archive`` into ``out`` (at most ``limit`` bytes)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise ModelError(f"the archive has no {member}") from None
            if info.file_size > limit:
                raise ModelError(f"{member} in the archive is {info.file_size} bytes, over {limit}")
            with zf.open(info) as src, out.open("wb") as dst:
                while chunk := src.read(1 << 16):
                    dst.write(chunk)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"the archive cannot be read ({exc})") from None


def check_input(source: Source, path: Path) -> None:
    """The recipe's input is the file the manifest names (size and sha256)."""
    size = path.stat().st_size
    if source.input_bytes and size != source.input_bytes:
        raise ModelError(
            f"the recipe's input is {size} bytes, the manifest says {source.input_bytes}: "
            "not installed"
        )
    if source.input_sha256 is None:
        return
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != source.input_sha256:
        raise ModelError(
            f"the recipe's input has sha256 {digest.hexdigest()}, the manifest says "
            f"{source.input_sha256}: not installed (a damaged or different file)"
        )


def apply_recipe(recipe: str, source: Path, out: Path) -> None:
    """Makes the model from the downloaded file; the caller checks the result's sha256."""
    if recipe != "quantize-dynamic-qint8":
        raise ModelError(f"unknown recipe {recipe!r}")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        quantize_dynamic(source, out, weight_type=QuantType.QInt8, per_channel=False)
    except Exception as exc:  # onnx/onnxruntime raise many types for a bad input
        raise ModelError(f"{recipe} failed on the downloaded file: {exc}") from None


def unverified(name: str) -> list[Source]:
    """The sources of a model whose bytes were not checked by the manifest's authors."""
    return [s for s in manifest_sources().get(name, []) if not s.verified]
