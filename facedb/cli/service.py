"""`facedb service`: systemd units for serve, watch and hooks run."""

from __future__ import annotations

import getpass
import shutil
import sys
from pathlib import Path

import click

from facedb.config import Settings
from facedb.errors import InvalidInputError
from facedb.fsio import atomic_write
from facedb.usecases.systemd import UnitPlan, units

from .output import json_option, print_json


@click.group("service")
def service() -> None:
    """systemd units that start facedb at boot, after its database, restart it on
    failure and stop it with SIGTERM."""


@service.command("install")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/etc/systemd/system"),
    show_default=True,
    help="Where to write the unit files.",
)
@click.option("--user", default=getpass.getuser, show_default="you", help="Run as this user.")
@click.option("--host", default="0.0.0.0", show_default=True, help="facedb serve's address.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--watch-source", metavar="SOURCE", help="Also a facedb-watch unit for this camera.")
@json_option
def install(
    folder: Path, user: str, host: str, port: int, watch_source: str | None, as_json: bool
) -> None:
    """Write facedb-db (the embedded PostgreSQL), facedb-serve, facedb-hooks and, with
    --watch-source, facedb-watch units, for this FACEDB_HOME and this facedb.

    \b
    Examples:
      sudo facedb service install --user facedb --watch-source rtsp://cam1/stream
      sudo systemctl daemon-reload && sudo systemctl enable --now facedb-serve
      facedb service install --dir ./units        # look first
    """
    settings = Settings.load()
    executable = shutil.which("facedb") or str(Path(sys.argv[0]).resolve())
    plan = UnitPlan(
        facedb=Path(executable).resolve(),
        user=user,
        home=settings.home.resolve(),
        embedded=settings.database_url is None,
        host=host,
        port=port,
        watch_source=watch_source,
    )
    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in units(plan).items():
            atomic_write(folder / name, text.encode("utf-8"))
            (folder / name).chmod(0o644)  # systemd units are world-readable
            written.append(str(folder / name))
    except OSError as exc:
        raise InvalidInputError(
            f"cannot write units into {folder}: {exc.strerror or exc} (sudo, or --dir)"
        ) from None
    if as_json:
        print_json({"written": written})
        return
    for path in written:
        click.echo(f"wrote {path}")
    click.echo("then: systemctl daemon-reload && systemctl enable --now facedb-serve")
