"""Model files fetched, verified and installed by facedb (`facedb models fetch`).

A model file comes from, in order: a local file or folder (``--from``, for machines
with no network), a mirror (``--url BASE`` or FACEDB_MODELS_URL: ``BASE/<file>``), or
the ``url`` recorded for the model in the weights manifest. Whatever the source, a
file is installed only when

- its size and sha256 are the manifest's (a file facedb does not know is checked by
  its role instead, and its sha256 is printed so that it can be recorded), and
- onnxruntime loads it and its inputs and outputs are those of its role (a detector
  with 9 outputs, an embedder giving 512 values, a liveness model giving 3 classes),

and it is written atomically: downloaded to a hidden partial file in the destination
folder, fsync'd, then renamed. A partial or refused download never has a model's name.
Downloads retry with ``Range`` requests after a dropped connection (resuming where the
server allows it), and give up with a message naming the URL and what to do by hand.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from typing import Any

from facedb.domain.constants import MODEL_ROLES
from facedb.errors import InvalidInputError, ModelError
from facedb.fsio import fsync_dir
from facedb.secrets import redact_url
from facedb.vision import model_sources
from facedb.vision.model_check import role_problem, signature
from facedb.vision.model_sources import Source
from facedb.vision.models import ModelSpec, file_sha256, load_manifest

CHUNK = 1 << 16
# An unknown file (not in the manifest) is refused above this size.
MAX_UNKNOWN_BYTES = 2 << 30
RETRIES = 3
TIMEOUT_S = 30.0
PARTIAL_PREFIX = ".partial-"
LICENCE_FILE = ".licences-accepted"
# Licences a person must acknowledge before the first download of such a model.
RESTRICTED_MARK = "non-commercial"

Progress = Callable[[str, int, int], None]  # (model, bytes so far, total or 0)


@dataclass(frozen=True)
class Installed:
    """One file ``fetch`` dealt with."""

    name: str | None  # the manifest name; None for a file the manifest does not know
    role: str
    path: Path  # where it is installed
    sha256: str
    bytes: int
    source: str  # URL or local path it came from
    status: str  # "installed" or "already installed"
    inputs: tuple[str, ...] = ()  # "name [N,3,112,112]" for an unknown file
    outputs: tuple[str, ...] = ()


def restricted_licences(specs: Iterable[ModelSpec], dest: Path) -> list[str]:
    """Licences of these models that need an acknowledgement not yet recorded in dest."""
    accepted = _accepted(dest)
    found = {s.licence for s in specs if RESTRICTED_MARK in s.licence.lower()}
    return sorted(found - accepted)


def accept_licences(licences: Iterable[str], dest: Path) -> None:
    """Records that the user acknowledged these licences (in dest/.licences-accepted)."""
    lines = _accepted(dest) | set(licences)
    partial = _new_partial(dest, LICENCE_FILE)
    try:
        partial.write_text("".join(f"{line}\n" for line in sorted(lines)), "utf-8")
        _commit(partial, dest / LICENCE_FILE)
    finally:
        partial.unlink(missing_ok=True)


def _accepted(dest: Path) -> set[str]:
    try:
        return {line for line in (dest / LICENCE_FILE).read_text("utf-8").splitlines() if line}
    except OSError:
        return set()


def fetch_model(
    spec: ModelSpec,
    mirror: str | None,
    dest: Path,
    *,
    retries: int = RETRIES,
    timeout: float = TIMEOUT_S,
    progress: Progress | None = None,
) -> Installed:
    """Installs one manifest model from the first of its sources (model_sources.py)
    that gives the exact file; each refusal is said in the final message."""
    done = installed(spec, dest)
    if done is not None:
        return done
    sources = model_sources.candidates(spec.name, spec.file, mirror)
    if not sources:
        raise ModelError(
            f"no download source is known for {spec.name} (its origin: {spec.source}): get "
            f"{spec.file} and run `facedb models fetch --from FILE`, or give a mirror "
            "with --url BASE (FACEDB_MODELS_URL)"
        )
    problems: list[str] = []
    for source in sources:
        try:
            return download(spec, source, dest, retries=retries, timeout=timeout, progress=progress)
        except ModelError as exc:
            problems.append(exc.message)
    raise ModelError("; then ".join(problems))


def installed(spec: ModelSpec, dest: Path, source: str = "") -> Installed | None:
    """The model's file in dest when it is there with the manifest's sha256."""
    target = dest / spec.file
    if not target.is_file() or file_sha256(target) != spec.sha256:
        return None
    size = target.stat().st_size
    return Installed(spec.name, spec.role, target, spec.sha256, size, source, "already installed")


def download(
    spec: ModelSpec,
    source: Source,
    dest: Path,
    *,
    retries: int = RETRIES,
    timeout: float = TIMEOUT_S,
    progress: Progress | None = None,
    backoff_s: float = 0.5,
) -> Installed:
    """Downloads one manifest model from one source into dest (atomically), verified.
    Messages and ``source`` show the URL without its user name or password."""
    shown = source.describe()
    done = installed(spec, dest, shown)
    if done is not None:
        return done
    url = source.url
    partial = _new_partial(dest, spec.file)
    fetched = (
        _new_partial(dest, spec.file + ".download") if source.member or source.recipe else partial
    )
    member = (
        _new_partial(dest, spec.file + ".member") if source.member and source.recipe else partial
    )
    try:
        whole = source.member is None and source.recipe is None
        limit = spec.bytes if whole and spec.bytes > 0 else MAX_UNKNOWN_BYTES
        _download_to(fetched, spec, url, limit, whole, retries, timeout, progress, backoff_s)
        if source.member is not None:
            model_sources.extract_member(fetched, source.member, member, MAX_UNKNOWN_BYTES)
        if source.recipe is not None:
            recipe_input = member if source.member else fetched
            model_sources.check_input(source, recipe_input)
            model_sources.apply_recipe(source.recipe, recipe_input, partial)
        return _install(partial, spec, dest, shown)
    except ModelError as exc:
        if redact_url(url) in exc.message:
            raise
        raise ModelError(f"{shown}: {exc.message}") from None
    finally:
        for path in {partial, fetched, member}:
            path.unlink(missing_ok=True)


def install_local(spec: ModelSpec, source: Path, dest: Path) -> Installed:
    """Copies a local file of a manifest model into dest (atomically), verified."""
    done = installed(spec, dest, str(source))
    if done is not None:
        return done
    partial = _new_partial(dest, spec.file)
    try:
        shutil.copyfile(source, partial)
        return _install(partial, spec, dest, str(source))
    except OSError as exc:
        raise ModelError(f"cannot copy {source} to {dest}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)


def find_local(source: Path, names: Iterable[str]) -> dict[str, Path]:
    """Local files for these models: in a folder, by the manifest's file name; a single
    file, by its sha256 (any manifest model), else by its file name."""
    specs = load_manifest()
    if source.is_dir():
        return {n: source / specs[n].file for n in names if (source / specs[n].file).is_file()}
    if not source.is_file():
        raise InvalidInputError(f"{source} is neither a model file nor a folder")
    digest = file_sha256(source)
    by_sha = [s.name for s in specs.values() if s.sha256 == digest]
    by_file = [s.name for s in specs.values() if s.file == source.name]
    chosen = by_sha or by_file
    return {chosen[0]: source} if chosen else {}


def inspect_unknown(source: Path, role: str | None, dest: Path | None) -> Installed:
    """A file the manifest does not know: its sha256, inputs and outputs; checked
    against ``role`` and installed into dest when both are given."""
    if role is not None and role not in MODEL_ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(MODEL_ROLES)}, not {role!r}")
    size = source.stat().st_size
    if size > MAX_UNKNOWN_BYTES:
        raise ModelError(f"{source} is {size} bytes, more than a face model ({MAX_UNKNOWN_BYTES})")
    digest = file_sha256(source)
    inputs, outputs = signature(source)
    shown_in = tuple(f"{n} {shape}" for n, shape in inputs)
    shown_out = tuple(f"{n} {shape}" for n, shape in outputs)
    if role is None or dest is None:
        return Installed(
            None, role or "", source, digest, size, str(source), "inspected", shown_in, shown_out
        )
    problem = role_problem(role, (0, 0), inputs, outputs)
    if problem is not None:
        raise ModelError(f"{source} cannot be a {role}: {problem}; it was not installed")
    partial = _new_partial(dest, source.name)
    try:
        shutil.copyfile(source, partial)
        _commit(partial, dest / source.name)
    except OSError as exc:
        raise ModelError(f"cannot copy {source} to {dest}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return Installed(
        None, role, dest / source.name, digest, size, str(source), "installed", shown_in, shown_out
    )


# --- downloading ------------------------------------------------------------------------


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) only (never file:// or ftp://)."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.URLError(f"refused redirect to {newurl!r}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_SafeRedirects)


class _Retry(Exception):
    """A transient failure: the connection dropped, timed out, or the file was cut short."""


def _download_to(
    partial: Path,
    spec: ModelSpec,
    url: str,
    limit: int,
    whole: bool,
    retries: int,
    timeout: float,
    progress: Progress | None,
    backoff_s: float,
) -> None:
    """Downloads url into partial: the model itself (``whole``: its size is known) or
    an archive or file a recipe starts from (at most ``limit`` bytes)."""
    expected = spec.bytes if whole else 0
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            _one_request(partial, spec, url, limit, expected, timeout, progress)
        except _Retry as exc:
            last = str(exc)
            continue
        if expected <= 0 or partial.stat().st_size == expected:
            return
        last = f"the download stopped at {partial.stat().st_size} of {expected} bytes"
    raise ModelError(
        f"cannot download {spec.name} from {redact_url(url)}: {last} (after {retries + 1} attempts). "
        f"Without network: download it on another machine and run "
        f"`facedb models fetch --from FILE`, or copy {spec.file} into {partial.parent}"
    )


def _one_request(
    partial: Path,
    spec: ModelSpec,
    url: str,
    limit: int,
    expected: int,
    timeout: float,
    progress: Progress | None,
) -> None:
    have = partial.stat().st_size
    request = urllib.request.Request(url, headers={"User-Agent": "facedb"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response: HTTPResponse = _opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # asked past the end: start again
            partial.write_bytes(b"")
            raise _Retry("the server refused to resume") from None
        if exc.code >= 500 or exc.code == 429:
            raise _Retry(f"HTTP {exc.code} {exc.reason}") from None
        raise ModelError(
            f"cannot download {spec.name} from {redact_url(url)}: HTTP {exc.code} {exc.reason}"
        ) from None
    except (urllib.error.URLError, OSError, HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise _Retry(f"no connection ({reason})") from None
    with response:
        resumed = have > 0 and response.status == 206
        if not resumed:
            have = 0
        total = _total(response, have) or expected
        with partial.open("ab" if resumed else "wb") as out:
            while chunk := _read(response, have):
                have += len(chunk)
                if have > limit:
                    raise ModelError(
                        f"{redact_url(url)} sends more than the {limit} bytes of {spec.name}: refused"
                    )
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise ModelError(
                        f"cannot write {partial}: {exc.strerror or exc}; nothing was installed"
                    ) from None
                if progress is not None:
                    progress(spec.name, have, total)


def _read(response: HTTPResponse, have: int) -> bytes:
    try:
        return response.read(CHUNK)
    except (OSError, HTTPException) as exc:
        raise _Retry(f"the connection dropped after {have} bytes ({exc})") from None


def _total(response: HTTPResponse, start: int) -> int:
    length = response.headers.get("Content-Length")
    try:
        return start + int(length) if length is not None else 0
    except ValueError:
        return 0


# --- verifying and installing -------------------------------------------------------------


def _install(partial: Path, spec: ModelSpec, dest: Path, source: str) -> Installed:
    size = partial.stat().st_size
    if spec.bytes > 0 and size != spec.bytes:
        raise ModelError(
            f"{source} is {size} bytes, the manifest says {spec.bytes} for {spec.name}: "
            "not installed"
        )
    digest = file_sha256(partial)
    if digest != spec.sha256:
        raise ModelError(
            f"{source} has sha256 {digest}, the manifest says {spec.sha256} for {spec.name}: "
            "not installed (a damaged or different file)"
        )
    inputs, outputs = signature(partial)
    problem = role_problem(spec.role, spec.preprocessing.input_size, inputs, outputs)
    if problem is not None:
        raise ModelError(f"{source} is not a usable {spec.role}: {problem}; not installed")
    target = dest / spec.file
    _commit(partial, target)
    return Installed(spec.name, spec.role, target, digest, size, source, "installed")


def _new_partial(dest: Path, file: str) -> Path:
    """An empty hidden file in dest that becomes ``file`` once verified."""
    partial = dest / f"{PARTIAL_PREFIX}{file}"
    try:
        dest.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(b"")
    except OSError as exc:
        raise ModelError(
            f"cannot write to {dest}: {exc.strerror or exc}; install elsewhere with --dest "
            "(and point FACEDB_WEIGHTS there)"
        ) from None
    return partial


def _commit(partial: Path, target: Path) -> None:
    """fsync, rename over the target, fsync the folder: all of the file or none of it."""
    with partial.open("rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(partial, target)
    fsync_dir(target.parent)
