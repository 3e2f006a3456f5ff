"""`facedb init`: set up this machine, once."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click
from rich.progress import TaskID

from facedb import installation as setup
from facedb.config import Settings
from facedb.usecases.models import FetchPlan

from .fetch import _download_progress, _licences
from .output import json_option, print_json, print_table


@click.command("init")
@click.option(
    "--from",
    "source",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Install the models from this folder instead of downloading them.",
)
@click.option(
    "--url",
    "mirror",
    envvar="FACEDB_MODELS_URL",
    metavar="BASE",
    help="Download the models from this mirror (see `facedb models fetch --help`).",
)
@click.option(
    "--accept-licence",
    "accept",
    is_flag=True,
    help="Acknowledge the models' licences without being asked (for scripts).",
)
@click.option("--site", help="The first site's name (default: Office).")
@click.option(
    "--zone", help="The first site's time zone, e.g. Europe/Paris (default: this machine's)."
)
@json_option
def init(
    source: Path | None,
    mirror: str | None,
    accept: bool,
    site: str | None,
    zone: str | None,
    as_json: bool,
) -> None:
    """Set up facedb on this machine: the models (downloaded from their pinned
    sources and verified, or --from a folder), the database (an embedded PostgreSQL
    under FACEDB_HOME unless FACEDB_DATABASE_URL names one, migrated), the first site
    with its time zone, and an admin and a kiosk key for `facedb serve`, shown once.

    Run it again and it changes nothing (each step says "already").

    \b
    Examples:
      facedb init --accept-licence
      facedb init --from /media/usb/weights --site "Head office" --zone Europe/Paris
      facedb init --json                    # for scripts: the keys are in the JSON
    """
    with _download_progress(quiet=as_json) as bar:

        def progress(name: str, have: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total or None)
            bar.update(tasks[name], completed=have, total=total or None)

        def licences(plan: FetchPlan) -> None:
            _licences(plan, accept)

        tasks: dict[str, TaskID] = {}
        models = setup.models_step(source, mirror, licences, progress)
    result = setup.set_up(Settings.load(), models, site, zone)
    if as_json:
        data = asdict(result)
        data["home"] = str(result.home)
        data["changed"] = result.changed
        print_json(data)
        return
    print_table(
        ("step", "status", "detail"),
        ((s.name, s.status, s.detail) for s in result.steps),
        title=f"facedb init ({result.home})",
    )
    for name, token in result.keys.items():
        click.echo(f"{name} key (shown only now, keep it): {token}")
    if not result.changed:
        click.echo("already set up: nothing changed")
    click.echo("next:")
    for line in result.next:
        click.echo(f"  {line}")
