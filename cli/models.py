"""`facedb models`: the model files facedb knows, where they are, what they run on."""

from __future__ import annotations

from typing import Any

import click

from facedb.config import Settings
from facedb.domain.thresholds import StoredThreshold
from facedb.errors import FacedbError
from facedb.service import FaceService
from facedb.vision.models import ModelRegistry, load_manifest, selected_models

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
    settings = Settings.load({"device": device})
    registry = ModelRegistry(settings)
    selected = selected_models(settings)
    calibrated = _calibrated_thresholds(settings)
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
                "threshold": _threshold(spec.threshold, calibrated.get(name)),
                "licence": spec.licence,
                "source": spec.source,
            }
        )
    liveness = liveness_state(settings, registry)
    if as_json:
        print_json(
            {
                "device": settings.device,
                "search_dirs": registry.search_dirs(),
                "models": rows,
                "liveness": liveness,
            }
        )
        return
    print_table(
        ["model", "role", "in use", "found at", "sha256", "provider", "threshold"],
        [
            [
                r["name"],
                r["role"],
                "yes" if r["in_use"] else "",
                r["path"] or "missing",
                {True: "ok", False: "WRONG", None: ""}[r["sha256_ok"]],
                r["provider"] or ("unusable" if r["error"] else ""),
                _describe_threshold(r["threshold"]),
            ]
            for r in rows
        ],
        title=f"models (device {settings.device})",
    )
    click.echo(f"liveness: {liveness}")
    for error in dict.fromkeys(r["error"] for r in rows if r["error"]):
        click.echo(f"warning: {error}", err=True)


models.add_command(fetch)


def liveness_state(settings: Settings, registry: ModelRegistry) -> str:
    """One line on the liveness check: its mode, threshold, and whether it can run."""
    names = [s.name for s in load_manifest().values() if s.role == "liveness" and s.default]
    status = registry.status(names[0]) if names else None
    if settings.liveness == "off":
        return "off (FACEDB_LIVENESS=off)"
    if status is None or status.path is None:
        if settings.liveness == "on":
            return "on, but the model is missing: verify and enrol will fail"
        return "off (model missing)"
    if status.error is not None:
        return f"unusable ({status.error}): verify and enrol on a camera will fail"
    threshold = f"threshold {settings.liveness_threshold:.2f}"
    if settings.liveness == "on":
        return f"on ({threshold})"
    return f"auto: on for cameras and streams, off for files ({threshold})"


def _calibrated_thresholds(settings: Settings) -> dict[str, StoredThreshold]:
    """The thresholds stored by `facedb calibrate`; none when the database is unreachable."""
    service = FaceService(settings)
    try:
        return {t.model: t for t in service.calibrations()}
    except FacedbError as exc:
        click.echo(f"warning: calibrated thresholds not shown: {exc.message}", err=True)
        return {}
    finally:
        service.close()


def _threshold(default: float | None, stored: StoredThreshold | None) -> dict[str, Any] | None:
    if stored is not None:
        return {"value": stored.threshold, "source": "calibrated", "far": stored.far}
    if default is not None:
        return {"value": default, "source": "default", "far": None}
    return None


def _describe_threshold(threshold: dict[str, Any] | None) -> str:
    if threshold is None:
        return ""
    if threshold["source"] == "calibrated":
        return f"{threshold['value']:.4f} (calibrated, FAR {threshold['far']:g})"
    return f"{threshold['value']:.4f} (default)"
