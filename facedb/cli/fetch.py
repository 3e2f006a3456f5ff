"""`facedb models fetch`: download (or copy) model files, verify them, install them."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)

from facedb.domain.constants import MODEL_ROLES
from facedb.errors import InvalidInputError
from facedb.usecases import models as usecase
from facedb.usecases.models import FetchPlan, FetchResult

from .output import err_console, json_option, print_json, print_table


@click.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every model of the manifest.")
@click.option(
    "--from",
    "source",
    type=click.Path(exists=True, path_type=Path),
    help="Install from a local file or folder instead of downloading (offline installs).",
)
@click.option(
    "--url",
    "mirror",
    envvar="FACEDB_MODELS_URL",
    metavar="BASE",
    help="Download BASE/<file> instead of the manifest's URL (a site mirror). "
    "Env: FACEDB_MODELS_URL.",
)
@click.option(
    "--role",
    type=click.Choice(MODEL_ROLES),
    help="For a --from file the manifest does not know: check it as this role, install it.",
)
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    help="Install here (default: FACEDB_WEIGHTS, else FACEDB_HOME/models).",
)
@click.option(
    "--accept-licence",
    "accept",
    is_flag=True,
    help="Acknowledge the models' licences without being asked (for scripts).",
)
@click.option("--retries", default=3, show_default=True, type=click.IntRange(0, 20))
@click.option(
    "--timeout", default=30.0, show_default=True, type=click.FloatRange(0.1, 3600), help="Seconds."
)
@json_option
def fetch(
    names: tuple[str, ...],
    everything: bool,
    source: Path | None,
    mirror: str | None,
    role: str | None,
    dest: Path | None,
    accept: bool,
    retries: int,
    timeout: float,
    as_json: bool,
) -> None:
    """Download the model files facedb uses (or NAMES, or --all), check each one's
    size, sha256 and inputs/outputs against the weights manifest, and install it
    atomically: a partial or damaged download never becomes a model. Already
    installed files with the right sha256 are kept. A file the manifest does not
    know (--from FILE) is inspected and its sha256 printed; --role installs it.

    The insightface models are for non-commercial research use only: their licence
    is shown and must be acknowledged before the first install (--accept-licence).

    \b
    Examples:
      facedb models fetch --accept-licence
      facedb models fetch --all --url https://models.example.org/facedb
      facedb models fetch --from /media/usb/weights     # offline: a folder or a file
      facedb models fetch --from other.onnx --role embedder
    """
    plan = usecase.plan_fetch(names, everything, source, dest)
    if source is not None and plan.unknown_file:
        _unknown_file(source, role, plan.target, as_json)
        return
    _licences(plan, accept)
    with _download_progress(quiet=as_json) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(name: str, have: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total or None)
            bar.update(tasks[name], completed=have, total=total or None)

        result = usecase.fetch(
            plan, source, mirror, retries=retries, timeout=timeout, progress=progress
        )
    _report(result, plan.target, as_json)
    if result.errors:
        for earlier in result.errors[:-1]:
            click.echo(f"error: {earlier.message}", err=True)
        raise result.errors[-1]


def _licences(plan: FetchPlan, accept: bool) -> None:
    pending = usecase.pending_licences(plan)
    if not pending.licences:
        return
    which = ", ".join(pending.models)
    licences = "; ".join(pending.licences)
    if not accept:
        if not sys.stdin.isatty():
            raise InvalidInputError(
                f"{which}: licence '{licences}'. Rerun with --accept-licence to "
                "acknowledge it (a commercial deployment needs other models)"
            )
        click.echo(f"{which} are released under: {licences}.", err=True)
        click.confirm("Use them under this licence?", abort=True, err=True)
    usecase.accept_licences(plan, pending)


def _unknown_file(source: Path, role: str | None, target: Path, as_json: bool) -> None:
    info = usecase.inspect_unknown(source, role, target)
    if as_json:
        print_json(asdict(info))
        return
    click.echo(f"{source} is not in the weights manifest")
    click.echo(f"  sha256   {info.sha256}")
    click.echo(f"  bytes    {info.bytes}")
    click.echo(f"  inputs   {', '.join(info.inputs)}")
    click.echo(f"  outputs  {', '.join(info.outputs)}")
    if role is None:
        click.echo(
            "To use it: check it with --role detector|embedder|liveness, and add a [[model]] "
            "entry with this sha256 to the manifest (weights/README.md)."
        )
    else:
        click.echo(f"installed as {info.path} ({role}); add a [[model]] entry to use it.")


def _report(result: FetchResult, target: Path, as_json: bool) -> None:
    done = result.installed
    if as_json:
        data: dict[str, Any] = {"dest": str(target), "models": [asdict(i) for i in done]}
        data["warning"] = result.warning
        print_json(data)
        return
    if done:
        print_table(
            ["model", "status", "installed at", "sha256", "source"],
            [[i.name, i.status, i.path, i.sha256[:16], i.source] for i in done],
            title=f"models in {target}",
        )
    if result.warning is not None:
        click.echo(f"warning: {result.warning}", err=True)


def _download_progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err_console(),
        disable=quiet or not err_console().is_terminal,
    )
