"""`facedb models`: the model files facedb knows, where they are, what they run on."""

from __future__ import annotations

import click

from facedb.usecases import models as usecase
from facedb.usecases.models import ModelThreshold

from .fetch import fetch
from .options import device_option
from .output import json_option, print_json, print_table


@click.group("models", invoke_without_command=True)
@json_option
@device_option
@click.pass_context
def models(ctx: click.Context, as_json: bool, device: str | None) -> None:
    """List the models of the weights manifest: role, file, where it was found,
    whether its sha256 matches, the execution provider it runs on (CUDA or CPU),
    and whether it is the one in use for its role. `facedb models fetch` downloads
    and installs them.

    \b
    Examples:
      facedb models
      facedb models --device cuda --json
      facedb models fetch --accept-licence
    """
    if ctx.invoked_subcommand is not None:
        return
    result = usecase.listing(device)
    if result.thresholds_warning is not None:
        click.echo(f"warning: {result.thresholds_warning}", err=True)
    if as_json:
        print_json(
            {
                "device": result.device,
                "search_dirs": result.search_dirs,
                "models": result.models,
                "liveness": result.liveness,
            }
        )
        return
    print_table(
        ["model", "role", "in use", "found at", "sha256", "provider", "threshold"],
        [
            [
                r.name,
                r.role,
                "yes" if r.in_use else "",
                r.path or "missing",
                {True: "ok", False: "WRONG", None: ""}[r.sha256_ok],
                r.provider or ("unusable" if r.error else ""),
                _describe_threshold(r.threshold),
            ]
            for r in result.models
        ],
        title=f"models (device {result.device})",
    )
    click.echo(f"liveness: {result.liveness}")
    for error in dict.fromkeys(r.error for r in result.models if r.error):
        click.echo(f"warning: {error}", err=True)


models.add_command(fetch)


def _describe_threshold(threshold: ModelThreshold | None) -> str:
    if threshold is None:
        return ""
    if threshold.far is not None:
        return f"{threshold.value:.4f} (calibrated, FAR {threshold.far:g})"
    return f"{threshold.value:.4f} (default)"
