"""Model registry: the weights manifest, sha256 checks and onnxruntime sessions.

The manifest (``weights/manifest.toml``, installed as package data of
``facedb.weights``) says which files exist, their sha256 and how to feed them;
nothing about a model is guessed from its graph. Files are looked up in
``settings.weights`` (FACEDB_WEIGHTS) first, then in the package's weights folder.

A :class:`ModelRegistry` owns the sessions: each model is loaded on first use,
once, behind a lock, and reports the execution provider it really runs on.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import importlib.resources
import logging
import os
import threading
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import onnxruntime as ort

from facedb.config import REPO_WEIGHTS_DIR, Settings
from facedb.domain.constants import MODEL_ROLES
from facedb.errors import ModelError
from facedb.fsio import atomic_write
from facedb.vision.preprocessing import Preprocessing, from_entry, input_problem

# An embedding recipe is stored as the model name with a suffix (vision/recipes.py):
# vectors of two recipes are never compared, as those of two models.
from facedb.vision.recipes import SEPARATOR as RECIPE_SEPARATOR

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
# Session log severity for our own sessions: 3 = errors only. This is per session;
# ORT's process-wide logger is never touched.
_SESSION_LOG_SEVERITY = 3


@dataclass(frozen=True)
class ModelSpec:
    """One manifest entry."""

    name: str
    role: str
    default: bool
    file: str
    sha256: str
    bytes: int
    preprocessing: Preprocessing  # input size, colour order, mean and std
    max_batch: int  # most inputs per session run; 0 = any (see manifest.toml)
    # Embedders: the default accept threshold (cosine similarity) when none was
    # calibrated for the model with `facedb calibrate`; None for other roles.
    threshold: float | None
    licence: str
    source: str
    description: str
    # Embedders: the impostor score tail 1:N thresholds start from
    # (facedb/identification/tail.py ImpostorTail.to_json); None if not measured.
    impostor_tail: dict[str, Any] | None = None


@dataclass(frozen=True)
class ModelStatus:
    """Where a model file was found and whether it is usable (for `facedb models`)."""

    spec: ModelSpec
    path: Path | None  # None when not found
    sha_ok: bool | None  # None when not found
    provider: str | None  # None until the model is loaded
    error: str | None  # why it cannot be used, for a person


def _read_manifest_text() -> str:
    try:
        return (importlib.resources.files("facedb.weights") / "manifest.toml").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        path = REPO_WEIGHTS_DIR / "manifest.toml"
        try:
            return path.read_text("utf-8")
        except OSError as exc:
            raise ModelError(
                f"model manifest not found (package facedb.weights or {path}): reinstall facedb"
            ) from exc


@lru_cache(maxsize=1)
def load_manifest() -> dict[str, ModelSpec]:
    """All models of the manifest by name, in manifest order."""
    try:
        data = tomllib.loads(_read_manifest_text())
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"model manifest is not valid TOML: {exc}") from None
    specs: dict[str, ModelSpec] = {}
    for entry in data.get("model", []):
        try:
            spec = _spec(entry)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"bad model manifest entry {entry.get('name', '?')}: {exc}") from None
        specs[spec.name] = spec
    return specs


def _spec(entry: dict[str, Any]) -> ModelSpec:
    role = str(entry["role"])
    if role not in MODEL_ROLES:
        raise ValueError(f"role must be one of {', '.join(MODEL_ROLES)}, not {role!r}")
    return ModelSpec(
        name=str(entry["name"]),
        role=role,
        default=bool(entry.get("default", False)),
        file=str(entry["file"]),
        sha256=str(entry["sha256"]).lower(),
        bytes=int(entry.get("bytes", 0)),
        preprocessing=from_entry(role, entry),
        max_batch=int(entry.get("max_batch", 0)),
        threshold=float(entry["threshold"]) if "threshold" in entry else None,
        licence=str(entry.get("licence", "")),
        source=str(entry.get("source", "")),
        description=str(entry.get("description", "")),
        impostor_tail=dict(entry["impostor_tail"]) if "impostor_tail" in entry else None,
    )


def selected_models(settings: Settings) -> set[str]:
    """Names of the models in use: the settings' detector and embedder, and the
    manifest's default liveness model."""
    liveness = {s.name for s in load_manifest().values() if s.role == "liveness" and s.default}
    return {settings.detector, settings.embedder} | liveness


def package_weights_dir() -> Path:
    """The weights folder shipped with facedb (the repo's weights/ in a checkout)."""
    try:
        return Path(str(importlib.resources.files("facedb.weights")))
    except ModuleNotFoundError:
        return REPO_WEIGHTS_DIR


# sha256 results per process, keyed by (path, size, mtime): each file is hashed once.
_sha_cache: dict[tuple[str, int, int], str] = {}
_sha_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, computed once per process for an unchanged file."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _sha_lock:
        cached = _sha_cache.get(key)
        if cached is None:
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            cached = digest.hexdigest()
            _sha_cache[key] = cached
        return cached


@lru_cache(maxsize=1)
def cuda_probe() -> str | None:
    """None when onnxruntime's CUDA provider can load here, else the reason it cannot.

    onnxruntime logs a red error through its global logger when the CUDA provider
    library fails to load (missing libcudart/cuBLAS/cuDNN). Loading the provider's
    shared library ourselves first tells us the same thing quietly.
    """
    if CUDA not in ort.get_available_providers():
        return "this onnxruntime build has no CUDA provider (install onnxruntime-gpu)"
    library = Path(ort.__file__).parent / "capi" / "libonnxruntime_providers_cuda.so"
    if os.name != "posix" or not library.is_file():
        return None  # cannot probe (Windows): let session creation decide
    try:
        ctypes.CDLL(str(library), mode=getattr(ctypes, "RTLD_LOCAL", 0))
    except OSError as exc:
        return f"CUDA libraries not loadable: {exc}"
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no NVIDIA driver (libcuda.so.1) on this machine"
    return None


# Part of the key of the rewritten models kept on disk (ModelRegistry._rewrite_cache):
# change it whenever a rewrite in model_rewrites.py changes its output.
REWRITES_VERSION = 1
# Also for dequantize.py's float models: change it whenever that changes its output.
FLOAT_VERSION = 1
# The session key and cache name suffix of a model made float (dequantize.py).
FLOAT_FORM = "float"


def session_key(name: str, float_activations: bool) -> str:
    """How ModelRegistry.providers names the session of a model, or of its float form."""
    return f"{name}{RECIPE_SEPARATOR}{FLOAT_FORM}" if float_activations else name


class ModelRegistry:
    """Finds, checks and loads the models of one Settings; owns their sessions.

    Creating a registry is cheap: nothing is read or loaded until a model is used.
    Thread-safe: a model is loaded once even when several threads ask at once.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sessions: dict[str, ort.InferenceSession] = {}
        self._lock = threading.Lock()

    # -- manifest and files -------------------------------------------------

    def spec(self, name: str) -> ModelSpec:
        """The manifest entry of a model, or of an embedding recipe's model
        (``w600k_mbf_int8+flip``: the model's, embedded as the recipe says)."""
        specs = load_manifest()
        name = name.split(RECIPE_SEPARATOR, 1)[0]
        if name not in specs:
            raise ModelError(f"unknown model {name!r}: the manifest lists {', '.join(specs)}")
        return specs[name]

    def search_dirs(self) -> list[Path]:
        """Folders searched for model files, in order."""
        dirs: list[Path] = []
        if self.settings.weights is not None:
            dirs.append(Path(self.settings.weights))
        dirs.append(package_weights_dir())
        unique: list[Path] = []
        for d in dirs:
            if d not in unique:
                unique.append(d)
        return unique

    def find(self, name: str) -> Path | None:
        """The first file of the model in the search folders, or None."""
        spec = self.spec(name)
        for folder in self.search_dirs():
            candidate = folder / spec.file
            if candidate.is_file():
                return candidate
        return None

    def verified_path(self, name: str) -> Path:
        """The model's file, checked against the manifest's sha256; raises ModelError."""
        spec = self.spec(name)
        path = self.find(name)
        if path is None:
            looked = ", ".join(str(d) for d in self.search_dirs())
            raise ModelError(
                f"model file {spec.file} ({name}) not found in {looked}: run `facedb init` "
                f"(or `facedb models fetch {name}`), or set FACEDB_WEIGHTS to its folder"
            )
        try:
            actual = file_sha256(path)
        except OSError as exc:
            raise ModelError(f"cannot read model file {path}: {exc}") from None
        if actual != spec.sha256:
            raise ModelError(
                f"model file {path} has sha256 {actual[:12]}…, the manifest expects "
                f"{spec.sha256[:12]}… for {name}: remove it and run `facedb models fetch {name}`"
            )
        return path

    def status(self, name: str) -> ModelStatus:
        """Where the model is and whether it is usable, without loading it."""
        spec = self.spec(name)
        path = self.find(name)
        sha_ok: bool | None = None
        error: str | None = None
        if path is None:
            looked = ", ".join(str(d) for d in self.search_dirs())
            error = f"{spec.file} not found in {looked} (run `facedb models fetch {name}`)"
        else:
            try:
                sha_ok = file_sha256(path) == spec.sha256
            except OSError as exc:
                error = f"unreadable: {exc}"
            else:
                if not sha_ok:
                    error = "wrong sha256"
        return ModelStatus(spec, path, sha_ok, self.provider(name), error)

    def load_status(self, name: str) -> ModelStatus:
        """Like :meth:`status`, but loads a usable model to report its real provider;
        a load failure (e.g. cuda requested but unavailable) becomes ``error``."""
        status = self.status(name)
        if status.error is not None or status.provider is not None:
            return status
        try:
            self.session(name)
        except ModelError as exc:
            return dataclasses.replace(status, error=exc.message)
        return dataclasses.replace(status, provider=self.provider(name))

    # -- sessions -------------------------------------------------------------

    def session(self, name: str, *, float_activations: bool = False) -> ort.InferenceSession:
        """The model's onnxruntime session, created on first use (once per registry).
        ``float_activations``: a dynamically quantised model made float with the same
        int8 weights (dequantize.py), whose outputs do not depend on the batch."""
        key = session_key(name, float_activations)
        session = self._sessions.get(key)
        if session is not None:
            return session
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                session = self._create(name, float_activations)
                self._sessions[key] = session
        return session

    def provider(self, name: str) -> str | None:
        """The execution provider the model runs on, or None when not loaded yet."""
        session = self._sessions.get(name)
        return session.get_providers()[0] if session is not None else None

    def providers(self) -> dict[str, str]:
        """Model name -> execution provider, for the models loaded so far."""
        return {name: s.get_providers()[0] for name, s in list(self._sessions.items())}

    def _options(self) -> ort.SessionOptions:
        options = ort.SessionOptions()
        options.log_severity_level = _SESSION_LOG_SEVERITY
        # Throughput on a kiosk: one request at a time, each a small CNN. All cores go
        # to intra-op parallelism (convolutions split across threads); inter-op
        # parallelism brings nothing for these chain-shaped graphs, so ops run in
        # sequence. ORT_ENABLE_ALL fuses conv+bn+activation and lays out for the CPU.
        # threads = 0 lets onnxruntime use one thread per physical core.
        options.intra_op_num_threads = max(0, self.settings.threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return options

    def _provider_list(self) -> list[str]:
        device = self.settings.device
        if device == "cpu":
            return [CPU]
        reason = cuda_probe()
        if reason is None:
            return [CUDA, CPU]
        if device == "cuda":
            raise ModelError(f"device cuda requested but unavailable: {reason}")
        log.debug("CUDA not used: %s", reason)
        return [CPU]

    def _rewrite_cache(self, name: str, float_activations: bool = False) -> Path:
        """Where the rewrite of a model file is kept: keyed by the file's sha256, the
        onnxruntime version and the rewrites' version, so that a new model file, a new
        onnxruntime or new rewrites never meet an old copy."""
        key = f"{self.spec(name).sha256[:32]}-ort{ort.__version__}-r{REWRITES_VERSION}"
        if float_activations:
            key += f"-{FLOAT_FORM}{FLOAT_VERSION}"
        return self.settings.home / "cache" / "models" / f"{key}.onnx"

    def _model_source(self, name: str, path: Path, float_activations: bool = False) -> str | bytes:
        """The model file's path, or an exact rewrite of it that runs faster
        (model_rewrites.py: the same outputs), or with ``float_activations`` its float
        form (dequantize.py). Either is made once and kept under
        FACEDB_HOME/cache/models: reading and rewriting the graph needs the onnx
        package, whose import alone takes about a second, on every process start. A
        kept float model is used only while its sha256 is the one recorded beside it
        when it was made (a damaged copy is made again)."""
        cached = self._rewrite_cache(name, float_activations)
        unchanged = cached.with_suffix(".unchanged")
        digest = cached.with_suffix(".sha256")
        if cached.is_file() and not float_activations:
            return str(cached)
        if float_activations and cached.is_file() and digest.is_file():
            try:
                if file_sha256(cached) == digest.read_text("ascii").strip():
                    return str(cached)
            except (OSError, UnicodeDecodeError):
                pass
            log.warning("kept float model %s does not match its sha256: making it again", cached)
        if unchanged.is_file() and not float_activations:
            return str(path)
        from facedb.vision.dequantize import float_model
        from facedb.vision.model_rewrites import rewrite

        try:
            rewritten = float_model(path) if float_activations else rewrite(path)
        except ModelError as exc:
            raise ModelError(f"cannot make model {name} float: {exc.message}") from None
        except Exception as exc:  # onnx raises DecodeError and others for a bad file
            raise ModelError(f"cannot read model {name} from {path}: {exc}") from None
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            if rewritten is None:
                atomic_write(unchanged, b"")
            else:
                atomic_write(cached, rewritten)
                if float_activations:
                    atomic_write(digest, hashlib.sha256(rewritten).hexdigest().encode("ascii"))
        except OSError as exc:  # a read-only home: rewrite again next time
            log.warning("cannot keep the rewrite of model %s in %s: %s", name, cached, exc)
        return str(path) if rewritten is None else rewritten

    def _create(self, name: str, float_activations: bool = False) -> ort.InferenceSession:
        path = self.verified_path(name)
        providers = self._provider_list()
        source = self._model_source(name, path, float_activations)
        try:
            session = ort.InferenceSession(source, self._options(), providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load model {name} from {path}: {exc}") from None
        spec = self.spec(name)
        problem = input_problem(spec.role, spec.preprocessing, session.get_inputs()[0].shape)
        if problem is not None:
            raise ModelError(f"model {name} cannot be fed as its manifest entry says: {problem}")
        active = session.get_providers()[0]
        if self.settings.device == "cuda" and active != CUDA:
            raise ModelError(
                f"device cuda requested but {name} runs on {active}: check CUDA and cuDNN"
            )
        if providers[0] == CUDA and active != CUDA:
            log.warning(
                "model %s falls back to %s: CUDA session could not be created", name, active
            )
        form = f" ({FLOAT_FORM})" if float_activations else ""
        log.info("loaded model %s%s from %s on %s", name, form, path, active)
        return session
