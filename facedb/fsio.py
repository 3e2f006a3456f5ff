"""Durable file writes: what a crash or a power cut cannot leave half written."""

from __future__ import annotations

import os
from pathlib import Path

from facedb.errors import LocalStorageError


def write_all(fd: int, data: bytes) -> None:
    """Writes all of ``data`` to ``fd`` (``os.write`` may write less than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def storage_error(exc: OSError, what: str) -> LocalStorageError:
    """The one line for a write that failed (ENOSPC, EDQUOT, EROFS, EIO...)."""
    return LocalStorageError(f"cannot write {what}: {exc.strerror or exc}")


def fsync_dir(directory: Path) -> None:
    """Makes the folder's entries (a file created, renamed or deleted) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replaces ``path`` by ``data`` (mode 0600): a temporary file in the same folder,
    fsync, rename, fsync of the folder. A reader sees the old file or the new one.
    A failed write (a full disk) is LocalStorageError and leaves ``path`` as it was."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)  # a full disk leaves no temporary file behind
        raise storage_error(exc, str(path)) from None
    fsync_dir(path.parent)
