"""`facedb backup` and `facedb restore`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from facedb.config import Settings
from facedb.usecases import backup as usecase

from .output import json_option, print_json


def _show(info: usecase.BackupInfo, verb: str, as_json: bool) -> None:
    if as_json:
        data = asdict(info)
        data["path"] = str(info.path)
        print_json(data)
        return
    click.echo(
        f"{verb} {info.path} ({info.bytes} bytes, schema {info.schema}, made "
        f"{info.created_at} by facedb {info.facedb})"
    )


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def backup(file: Path, as_json: bool) -> None:
    """Write FILE: the whole database (people, faces, attendance, corrections,
    evidence, keys, calibration, sites, shifts, hooks) and the model manifest in use,
    as one consistent snapshot, also while `facedb serve` runs.

    FILE holds biometric data: it is written readable by you only and is not
    encrypted; keep it encrypted (e.g. gpg -c FILE).

    \b
    Examples:
      facedb backup /srv/backups/facedb-$(date +%F).tar
      facedb restore /srv/backups/facedb-2026-12-07.tar      # into an empty FACEDB_HOME
    """
    info = usecase.backup(Settings.load(), file)
    click.echo(f"warning: {info.warning}", err=True)
    _show(info, "wrote", as_json)


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def restore(file: Path, as_json: bool) -> None:
    """Restore a `facedb backup` FILE into this FACEDB_HOME, which must hold no data
    (a new machine, or a fresh FACEDB_HOME). The whole file is checked first (sizes,
    sha256, a schema this facedb knows): a damaged, truncated or newer backup is
    refused and nothing is written. The database is then upgraded to this facedb.

    \b
    Example:
      FACEDB_HOME=/srv/facedb facedb restore facedb-2026-12-07.tar
    """
    info = usecase.restore(Settings.load(), file)
    _show(info, "restored", as_json)
