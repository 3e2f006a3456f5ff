"""The model files (`facedb models`, `facedb models fetch`, `facedb serve`): which the
manifest lists, where they are, what they run on, and installing them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from facedb.config import Settings
from facedb.domain.thresholds import StoredThreshold
from facedb.errors import FacedbError, InvalidInputError
from facedb.service import FaceService
from facedb.vision import models_fetch
from facedb.vision.models import ModelRegistry, load_manifest, selected_models
from facedb.vision.models_fetch import Installed
from facedb.vision.pipeline import FacePipeline


@dataclass(frozen=True)
class ModelThreshold:
    value: float
    source: str  # "calibrated" (`facedb calibrate`) or "default" (the manifest's)
    far: float | None  # calibrated: the false-accept rate it was set at


@dataclass(frozen=True)
class ModelRow:
    name: str
    role: str
    in_use: bool
    file: str
    path: str | None  # None when not found
    sha256_ok: bool | None  # None when not found
    provider: str | None
    error: str | None  # why it cannot be used, for a person
    threshold: ModelThreshold | None
    licence: str
    source: str


@dataclass(frozen=True)
class ModelListing:
    device: str
    search_dirs: list[Path]
    models: list[ModelRow]
    liveness: str  # one line on the liveness check
    # Why calibrated thresholds are not shown (database unreachable); None when they are.
    thresholds_warning: str | None = None


def listing(device: str | None) -> ModelListing:
    """Every manifest model, loaded when usable to report its real provider."""
    settings = Settings.load({"device": device})
    registry = ModelRegistry(settings)
    selected = selected_models(settings)
    calibrated, warning = _calibrated_thresholds(settings)
    rows: list[ModelRow] = []
    for name in load_manifest():
        status = registry.load_status(name)
        spec = status.spec
        rows.append(
            ModelRow(
                name=name,
                role=spec.role,
                in_use=name in selected,
                file=spec.file,
                path=str(status.path) if status.path is not None else None,
                sha256_ok=status.sha_ok,
                provider=status.provider,
                error=status.error,
                threshold=_threshold(spec.threshold, calibrated.get(name)),
                licence=spec.licence,
                source=spec.source,
            )
        )
    return ModelListing(
        device=settings.device,
        search_dirs=registry.search_dirs(),
        models=rows,
        liveness=liveness_state(FacePipeline(settings, registry)),
        thresholds_warning=warning,
    )


def liveness_state(pipeline: FacePipeline) -> str:
    """One line on the liveness check: its mode, threshold, and whether it can run,
    for the liveness model the pipeline uses."""
    settings = pipeline.settings
    name = pipeline.liveness_name
    status = pipeline.registry.status(name) if name is not None else None
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


def _calibrated_thresholds(settings: Settings) -> tuple[dict[str, StoredThreshold], str | None]:
    """The thresholds stored by `facedb calibrate`; none when the database is unreachable."""
    service = FaceService(settings)
    try:
        return {t.model: t for t in service.calibrations()}, None
    except FacedbError as exc:
        return {}, f"calibrated thresholds not shown: {exc.message}"
    finally:
        service.close()


def _threshold(default: float | None, stored: StoredThreshold | None) -> ModelThreshold | None:
    if stored is not None:
        return ModelThreshold(stored.threshold, "calibrated", stored.far)
    if default is not None:
        return ModelThreshold(default, "default", None)
    return None


def check_serving_models() -> Settings:
    """The settings to serve with, once the detector and embedder files are there with
    the right sha256 (ModelError otherwise, before any worker starts)."""
    settings = Settings.load()
    registry = ModelRegistry(settings)
    for name in (settings.detector, settings.embedder):
        registry.verified_path(name)
    return settings


# -- fetch ---------------------------------------------------------------------


@dataclass(frozen=True)
class FetchPlan:
    target: Path  # the folder models are installed into
    chosen: list[str]  # manifest names to install
    local: dict[str, Path]  # with --from: the local file of each model found there
    # --from a single file the manifest does not know (by sha256 or name).
    unknown_file: bool = False


@dataclass(frozen=True)
class PendingLicences:
    models: list[str]  # the models under a licence not yet acknowledged in the target
    licences: list[str]


@dataclass(frozen=True)
class FetchResult:
    installed: list[Installed]
    errors: list[FacedbError]  # one per model that could not be installed
    warning: str | None  # the target is not among the folders searched for models


def plan_fetch(
    names: tuple[str, ...], everything: bool, source: Path | None, dest: Path | None
) -> FetchPlan:
    """What to install where: NAMES, every model, or the ones the settings select."""
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
                return FetchPlan(target, [], {}, unknown_file=True)
            chosen = list(local)
    return FetchPlan(target, chosen, local)


def pending_licences(plan: FetchPlan) -> PendingLicences:
    """The restricted licences of the models still to install, not yet acknowledged."""
    specs = load_manifest()
    names = [n for n in plan.chosen if models_fetch.installed(specs[n], plan.target) is None]
    pending = models_fetch.restricted_licences((specs[n] for n in names), plan.target)
    return PendingLicences([n for n in names if specs[n].licence in pending], pending)


def accept_licences(plan: FetchPlan, pending: PendingLicences) -> None:
    models_fetch.accept_licences(pending.licences, plan.target)


def fetch(
    plan: FetchPlan,
    source: Path | None,
    mirror: str | None,
    *,
    retries: int,
    timeout: float,
    progress: Callable[[str, int, int], None],
) -> FetchResult:
    """Installs the planned models, each verified; one model's failure does not stop
    the others."""
    specs = load_manifest()
    done: list[Installed] = []
    errors: list[FacedbError] = []
    for name in plan.chosen:
        spec = specs[name]
        try:
            already = models_fetch.installed(spec, plan.target, "")
            if already is not None:
                done.append(already)
            elif source is not None:
                if name not in plan.local:
                    raise InvalidInputError(f"{spec.file} ({name}) is not in {source}")
                done.append(models_fetch.install_local(spec, plan.local[name], plan.target))
            else:
                done.append(
                    models_fetch.fetch_model(
                        spec,
                        mirror,
                        plan.target,
                        retries=retries,
                        timeout=timeout,
                        progress=progress,
                    )
                )
        except FacedbError as exc:
            errors.append(exc)
    return FetchResult(done, errors, _search_warning(done, plan.target))


def _search_warning(done: list[Installed], target: Path) -> str | None:
    searched = [p.resolve() for p in ModelRegistry(Settings.load()).search_dirs()]
    if done and target.resolve() not in searched:
        return f"{target} is not searched for models: set FACEDB_WEIGHTS={target}"
    return None


def inspect_unknown(source: Path, role: str | None, target: Path) -> Installed:
    """A file the manifest does not know: inspected, and installed when ``role`` is given."""
    return models_fetch.inspect_unknown(source, role, target if role else None)
