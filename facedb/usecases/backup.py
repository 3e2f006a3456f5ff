"""`facedb backup` / `facedb restore`: one file with everything an installation knows.

The file is a tar archive (mode 0600) of

- ``facedb-backup.json``: the format, facedb's version, the schema revision, when, the
  models in use (name and sha256) and the sha256 and size of every other member;
- ``database.dump``: pg_dump's custom format of the database (people, embeddings,
  attendance, corrections, evidence and its faces, API keys, calibration, sites,
  shifts, hooks: everything facedb keeps lives in it). pg_dump reads one snapshot, so
  a backup taken while `facedb serve` writes is consistent;
- ``manifest.toml``: the model manifest in use (thresholds and calibrations belong to
  its models).

The file holds biometric data (face embeddings and face thumbnails): it is written
readable by its owner only, and `facedb backup` says so. It is not encrypted: encrypt
it with the tools of the place it is kept (e.g. ``gpg -c``).

``restore`` checks the whole file (every member's size and sha256, a schema this
facedb knows) before it writes anything, then restores into an empty embedded
database (a fresh FACEDB_HOME) and upgrades it to this facedb's schema.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facedb import __version__
from facedb.config import Settings
from facedb.errors import InvalidInputError
from facedb.fsio import fsync_dir
from facedb.store import dumps, embedded, migrate
from facedb.store.engine import make_engine, open_database
from facedb.vision.models import _read_manifest_text, load_manifest, selected_models

FORMAT = "facedb-backup"
FORMAT_VERSION = 1
META = "facedb-backup.json"
DUMP = "database.dump"
MANIFEST = "manifest.toml"
WARNING = (
    "the backup holds biometric data (face embeddings and thumbnails): keep it like the "
    "database itself, encrypted at rest (e.g. gpg -c) and readable by its owner only"
)
# Tables whose rows make a database "not empty" for a restore.
DATA_TABLES = ("users", "attendance", "api_keys")


class BackupError(InvalidInputError):
    """A backup or restore that cannot be done (a damaged, truncated or newer file, a
    home with data); nothing was written. Answers as InvalidInputError (exit code 2)."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    bytes: int
    schema: str
    created_at: str
    facedb: str
    models: dict[str, str]  # name -> sha256 of the models in use when it was made
    warning: str = WARNING


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _without_password(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without its password, and the environment that gives it (PGPASSWORD),
    so that the password is not on a command line other users can read."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url, {}
    host = parts.netloc.rsplit("@", 1)[1]
    user = urllib.parse.quote(urllib.parse.unquote(parts.username or ""), safe="")
    netloc = f"{user}@{host}" if user else host
    env = {"PGPASSWORD": urllib.parse.unquote(parts.password)}
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), env


def _run(argv: list[str], what: str, env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=3600, env={**os.environ, **(env or {})}
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(f"{what} failed: {last}")


def backup(settings: Settings, out: Path) -> BackupInfo:
    """Writes the backup file ``out`` (atomically: all of it or nothing)."""
    if out.exists():
        raise InvalidInputError(f"{out} exists: give a new file name")
    database = open_database(settings)
    try:
        schema = migrate.current_revision(database.engine) or ""
    finally:
        database.engine.dispose()
    specs = load_manifest()
    models = {n: specs[n].sha256 for n in sorted(selected_models(settings))}
    work = Path(tempfile.mkdtemp(prefix="facedb-backup-"))
    try:
        dump = work / DUMP
        os.chmod(work, 0o755)  # pg_dump may run as the embedded server's user
        url, env = _without_password(database.libpq_url)
        _run([str(embedded.bin_dir() / "pg_dump"), "-Fc", "-f", str(dump), url], "pg_dump", env)
        manifest = _read_manifest_text().encode("utf-8")
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "facedb": __version__,
            "schema": schema,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "models": models,
            "warning": WARNING,
            "members": {
                DUMP: {"sha256": _sha256(dump), "bytes": dump.stat().st_size},
                MANIFEST: {
                    "sha256": hashlib.sha256(manifest).hexdigest(),
                    "bytes": len(manifest),
                },
            },
        }
        partial = out.with_name(f".{out.name}.partial")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as raw:
                with tarfile.open(fileobj=raw, mode="w") as tar:
                    _add_bytes(tar, META, json.dumps(meta, indent=2).encode("utf-8"))
                    _add_bytes(tar, MANIFEST, manifest)
                    tar.add(dump, DUMP)
                raw.flush()  # the archive's end blocks included
                os.fsync(raw.fileno())
            os.replace(partial, out)
            fsync_dir(out.parent)
        except OSError as exc:
            raise BackupError(f"cannot write {out}: {exc.strerror or exc}") from None
        finally:
            partial.unlink(missing_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return BackupInfo(out, out.stat().st_size, schema, str(meta["created_at"]), __version__, models)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


# -- restore ------------------------------------------------------------------------


def check(path: Path, into: Path) -> dict[str, Any]:
    """Reads and verifies the backup file, extracting its members into ``into``;
    returns its metadata. Raises BackupError with one line on any damage."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            meta_member = tar.next()
            if meta_member is None or meta_member.name != META:
                raise BackupError(f"{path} is not a facedb backup (no {META} first)")
            meta = _read_meta(tar, meta_member, path)
            expected = dict(meta["members"])
            for member in tar:
                if member is meta_member:
                    continue
                if member.name not in expected or not member.isfile():
                    raise BackupError(f"{path}: unexpected member {member.name!r}")
                _extract(tar, member, into / member.name, expected.pop(member.name), path)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(f"{path} is damaged or truncated ({exc}): nothing was restored") from None
    if expected:
        raise BackupError(
            f"{path} is truncated: {', '.join(sorted(expected))} missing; nothing was restored"
        )
    return meta


def _read_meta(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path) -> dict[str, Any]:
    handle = tar.extractfile(member)
    if handle is None or member.size > 1 << 20:
        raise BackupError(f"{path} is not a facedb backup")
    try:
        meta = json.loads(handle.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise BackupError(f"{path}: its {META} is damaged; nothing was restored") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BackupError(f"{path} is not a facedb backup")
    if meta.get("version") != FORMAT_VERSION:
        raise BackupError(
            f"{path} is a backup of format {meta.get('version')}; this facedb reads "
            f"{FORMAT_VERSION}: upgrade facedb"
        )
    if not isinstance(meta.get("members"), dict):
        raise BackupError(f"{path}: its {META} is damaged; nothing was restored")
    return meta


def _extract(
    tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, want: dict[str, Any], path: Path
) -> None:
    handle = tar.extractfile(member)
    if handle is None:
        raise BackupError(f"{path}: {member.name} cannot be read")
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if size != want.get("bytes") or digest.hexdigest() != want.get("sha256"):
        raise BackupError(
            f"{path}: {member.name} differs from the sha256 recorded in the backup "
            "(damaged or altered); nothing was restored"
        )


def _known_revisions() -> set[str]:
    found = set()
    for script in migrate.migrations_dir().glob("versions/*.py"):
        match = re.search(
            r'^revision\s*(?::\s*str\s*)?=\s*"([^"]+)"', script.read_text("utf-8"), re.M
        )
        if match:
            found.add(match.group(1))
    return found


def restore(settings: Settings, path: Path) -> BackupInfo:
    """Restores the backup file into this FACEDB_HOME's embedded database, which must
    hold no data; checks the whole file first."""
    if settings.database_url:
        raise InvalidInputError(
            "restore goes into the embedded database of an empty FACEDB_HOME: unset "
            "FACEDB_DATABASE_URL (for an external server, pg_restore the database.dump "
            "member by hand)"
        )
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such backup file")
    work = Path(tempfile.mkdtemp(prefix="facedb-restore-"))
    try:
        meta = check(path, work)
        schema = str(meta.get("schema", ""))
        if schema and schema not in _known_revisions():
            raise BackupError(
                f"{path} is a backup of a newer schema ({schema}) than this facedb knows: "
                "upgrade facedb, then restore"
            )
        _refuse_data(settings)
        os.chmod(work, 0o755)
        os.chmod(work / DUMP, 0o644)  # pg_restore may run as the server's user
        _restore_dump(settings.home, work / DUMP)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    database = open_database(settings)  # upgrades an older schema to this facedb's
    database.engine.dispose()
    return BackupInfo(
        path,
        path.stat().st_size,
        schema,
        str(meta.get("created_at", "")),
        str(meta.get("facedb", "")),
        dict(meta.get("models", {})),
    )


def _refuse_data(settings: Settings) -> None:
    if not embedded.pgdata_dir(settings.home).exists():
        return
    database = open_database(settings, auto_upgrade=False, require_schema=False)
    try:
        table = dumps.first_table_with_rows(database.engine, DATA_TABLES)
        if table is not None:
            raise BackupError(
                f"{settings.home} already holds data ({table}): restore into an empty FACEDB_HOME"
            )
    finally:
        database.engine.dispose()


def _restore_dump(home: Path, dump: Path) -> None:
    with embedded.home_lock(home):
        server = embedded.start(home)
        admin = make_engine(server.url("postgres"))
        try:
            dumps.recreate_database(admin, embedded.DATABASE)
        finally:
            admin.dispose()
        _run(
            [
                str(embedded.bin_dir() / "pg_restore"),
                *("--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error"),
                *("-d", server.libpq_url(), str(dump)),
            ],
            "pg_restore",
        )
