"""`facedb doctor`: what would stop facedb on this machine, and how to fix it."""

from __future__ import annotations

import sys
from dataclasses import asdict

import click

from facedb.config import Settings
from facedb.usecases import doctor as checks

from .options import device_option
from .output import console, json_option, print_json, print_table

EXIT_FAIL = 1


@click.command("doctor")
@click.option(
    "--camera",
    metavar="SOURCE",
    help="Also open this camera (an index like 0, a device path, a stream URL or a video).",
)
@device_option
@json_option
def doctor(camera: str | None, device: str | None, as_json: bool) -> None:
    """Check the CPU features onnxruntime uses, the execution providers that really
    work (a test inference on CUDA when it is listed), the model files and their
    sha256, the database (reachable, PostgreSQL and pgvector versions, migrations,
    its clock against this machine's), the time zone, free disk space in
    FACEDB_HOME, the offline spool and gallery cache, and a camera with --camera.

    Each line is ok, warn (facedb works, but slower or stale) or fail (a command
    would stop), with the fix: a coloured table on a terminal, plain lines in a
    pipe. A CPU-only machine is ok unless CUDA was asked for (--device cuda). Exit code 0 when nothing fails, 1 when
    something does.

    \b
    Examples:
      facedb doctor
      facedb doctor --camera 0
      facedb doctor --json          # for fleet scripts
    """
    settings = Settings.load({"device": device})
    results = checks.run_checks(settings, camera)
    overall = checks.worst(results)
    if as_json:
        print_json({"status": overall, "checks": [asdict(c) for c in results]})
    elif not console().is_terminal:
        # In a pipe or a log: plain lines, one per check, its fix indented below it.
        click.echo(f"facedb doctor: {overall}")
        for c in results:
            click.echo(f"{c.status:<4}  {c.name}: {c.detail}")
            if c.fix:
                click.echo(f"      fix: {c.fix}")
    else:
        print_table(
            ["check", "status", "detail", "fix"],
            [[c.name, c.status, c.detail, c.fix] for c in results],
            title=f"facedb doctor: {overall}",
            styles={checks.OK: "green", checks.WARN: "yellow", checks.FAIL: "red"},
        )
    if overall == checks.FAIL:
        sys.exit(EXIT_FAIL)
