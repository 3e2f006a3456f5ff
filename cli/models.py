"""`facedb models`: the model files facedb knows, where they are, what they run on."""

from __future__ import annotations

from typing import Any

import click

from facedb.config import Settings
from facedb.vision.models import ModelRegistry, load_manifest, selected_models

from .detect import device_option
from .output import json_option, print_json, print_table


@click.command("models")
@json_option
@device_option
def models(as_json: bool, device: str | None) -> None:
    """List the models of the weights manifest: role, file, where it was found,
    whether its sha256 matches, the execution provider it runs on (CUDA or CPU),
    and whether it is the one in use for its role.

    \b
    Examples:
      facedb models
      facedb models --device cuda --json
    """
    settings = Settings.load({"device": device})
    registry = ModelRegistry(settings)
    selected = selected_models(settings)
    rows: list[dict[str, Any]] = []
    for name in load_manifest():
        status = registry.load_status(name)
        spec = status.spec
        rows.append(
            {
                "name": name,
                "role": spec.role,
                "in_use": name in selected,
                "file": spec.file,
                "path": str(status.path) if status.path is not None else None,
                "sha256_ok": status.sha_ok,
                "provider": status.provider,
                "error": status.error,
                "licence": spec.licence,
                "source": spec.source,
            }
        )
    if as_json:
        print_json(
            {"device": settings.device, "search_dirs": registry.search_dirs(), "models": rows}
        )
        return
    print_table(
        ["model", "role", "in use", "found at", "sha256", "provider"],
        [
            [
                r["name"],
                r["role"],
                "yes" if r["in_use"] else "",
                r["path"] or "missing",
                {True: "ok", False: "WRONG", None: ""}[r["sha256_ok"]],
                r["provider"] or ("unusable" if r["error"] else ""),
            ]
            for r in rows
        ],
        title=f"models (device {settings.device})",
    )
    for error in dict.fromkeys(r["error"] for r in rows if r["error"]):
        click.echo(f"warning: {error}", err=True)
