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

from facedb import models_fetch
from facedb.config import Settings
from facedb.errors import FacedbError, InvalidInputError
from facedb.models_fetch import Installed
from facedb.vision.models import ROLES, ModelRegistry, load_manifest, selected_models

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
    type=click.Choice(ROLES),
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
    settings = Settings.load()
    target = dest or settings.weights or settings.home / "models"
    specs = load_manifest()
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise InvalidInputError(
            f"unknown model(s) {', '.join(unknown)}: the manifest has {', '.join(specs)}"
        )
    chosen = list(specs) if everything else list(names) or sorted(selected_models(settings))
    local: dict[str, Path] = {}
    if source is not None:
        local = models_fetch.find_local(source, chosen)
        if source.is_file():
            if not local:
                _unknown_file(source, role, target, as_json)
                return
            chosen = list(local)
    _licences(
        [n for n in chosen if models_fetch.installed(specs[n], target) is None], target, accept
    )

    done: list[Installed] = []
    errors: list[FacedbError] = []
    with _download_progress(quiet=as_json) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(name: str, have: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total or None)
            bar.update(tasks[name], completed=have, total=total or None)

        for name in chosen:
            spec = specs[name]
            try:
                already = models_fetch.installed(spec, target, "")
                if already is not None:
                    done.append(already)
                elif source is not None:
                    if name not in local:
                        raise InvalidInputError(f"{spec.file} ({name}) is not in {source}")
                    done.append(models_fetch.install_local(spec, local[name], target))
                else:
                    url = models_fetch.model_url(spec, mirror)
                    done.append(
                        models_fetch.download(
                            spec, url, target, retries=retries, timeout=timeout, progress=progress
                        )
                    )
            except FacedbError as exc:
                errors.append(exc)
    _report(done, target, settings, as_json)
    if errors:
        for earlier in errors[:-1]:
            click.echo(f"error: {earlier.message}", err=True)
        raise errors[-1]


def _licences(names: list[str], target: Path, accept: bool) -> None:
    specs = load_manifest()
    pending = models_fetch.restricted_licences((specs[n] for n in names), target)
    if not pending:
        return
    which = ", ".join(n for n in names if specs[n].licence in pending)
    if not accept:
        if not sys.stdin.isatty():
            raise InvalidInputError(
                f"{which}: licence '{'; '.join(pending)}'. Rerun with --accept-licence to "
                "acknowledge it (a commercial deployment needs other models)"
            )
        click.echo(f"{which} are released under: {'; '.join(pending)}.", err=True)
        click.confirm("Use them under this licence?", abort=True, err=True)
    models_fetch.accept_licences(pending, target)


def _unknown_file(source: Path, role: str | None, target: Path, as_json: bool) -> None:
    info = models_fetch.inspect_unknown(source, role, target if role else None)
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


def _report(done: list[Installed], target: Path, settings: Settings, as_json: bool) -> None:
    searched = [p.resolve() for p in ModelRegistry(settings).search_dirs()]
    warning = None
    if done and target.resolve() not in searched:
        warning = f"{target} is not searched for models: set FACEDB_WEIGHTS={target}"
    if as_json:
        data: dict[str, Any] = {"dest": str(target), "models": [asdict(i) for i in done]}
        data["warning"] = warning
        print_json(data)
        return
    if done:
        print_table(
            ["model", "status", "installed at", "sha256", "source"],
            [[i.name, i.status, i.path, i.sha256[:16], i.source] for i in done],
            title=f"models in {target}",
        )
    if warning is not None:
        click.echo(f"warning: {warning}", err=True)


def _download_progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err_console,
        disable=quiet or not err_console.is_terminal,
    )
