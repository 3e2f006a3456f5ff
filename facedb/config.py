"""One settings object for the whole program.

Values come, lowest priority first, from the defaults below, an optional TOML
config file (FACEDB_CONFIG, else FACEDB_HOME/config.toml; keys are the field
names, e.g. ``threshold = 0.3``), environment variables FACEDB_<FIELD> (e.g.
FACEDB_THRESHOLD), and finally CLI flags passed as ``overrides``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

from facedb.errors import ConfigError

REPO_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("facedb", appauthor=False))


@dataclass(frozen=True)
class Settings:
    # Where local state lives: the embedded cluster, logs, the spool.
    home: Path = field(default_factory=_default_home)
    # libpq / SQLAlchemy URL of an external server; None means the embedded one.
    database_url: str | None = None
    # A streaming replica of that server for searches and reports (writes stay on the
    # primary; store/replica.py keeps each session's reads after its own writes).
    replica_url: str | None = None
    # How long a read waits for the replica to catch up before the primary answers.
    replica_wait: float = 0.5
    # Extra folder searched first for model files (then the repo's weights/).
    weights: Path | None = None
    # Execution provider: auto | cpu | cuda.
    device: str = "auto"
    # Name of this kiosk, stored in every attendance row.
    device_name: str = field(default_factory=socket.gethostname)
    detector: str = "scrfd_2.5g_bnkps"
    embedder: str = "w600k_mbf_int8"
    # on: each face is embedded with its mirror image, the two averaged; stored as
    # the recipe "<embedder>+float+flip" (vision/recipes.py), never compared with
    # vectors made without it (a gallery enrolled without the flip must be enrolled
    # again; docs/ACCURACY.md). A database holding faces of the older "+flip" recipe
    # keeps searching with that one.
    embedder_flip: str = "off"
    # Detector input: 0 = auto, the smallest scale that shows the quality gate's
    # min_face_px face at 48 px (vision/detector.py: 2-3x less detector time on photos
    # and frames); N = insightface's N x N letterbox (640: parity with insightface, and
    # crowds of faces smaller than the gate). On the shared CelebA pairs auto is at least
    # as accurate as the 640 letterbox (1:1 TAR at FAR 1e-3 94.5 % against 94.3 %, 1:N
    # FNIR at FPIR 1 % lower at 10 to 80 people; docs/ACCURACY.md "Detector scale").
    det_size: int = 0
    det_threshold: float = 0.5
    nms_threshold: float = 0.4
    # 1:1 (a claimed name): the cosine similarity needed to accept; None = the value
    # calibrated for the embedder with `facedb calibrate`, else the model's default.
    # With FACEDB_THRESHOLD set, 1:N searches use it too (no gallery-size policy).
    threshold: float | None = None
    # 1:N (who is this?): the target false-positive identification rate, the share of
    # searches by people who are not enrolled that may return someone; the threshold
    # follows from it and the size of the gallery searched (facedb/identification).
    fpir: float = 0.01
    # 1:N: the best person must beat the second by this similarity, else ambiguous.
    margin: float = 0.05
    # 1:N scope of this kiosk: search only the people of this site and/or group
    # (verify --site/--group override them for one attempt).
    search_site: str | None = None
    search_group: str | None = None
    # Enrolment: a new face is refused as someone else's when a different person
    # would match that closely in fewer than this share of enrolments.
    duplicate_rate: float = 0.001
    # Quality gate for files, uploads and imports ("photo") and for cameras and
    # streams ("live", the min_/max_ settings below); auto picks by the source.
    quality_profile: str = "auto"
    # Seconds during which a repeated verification of one person is logged once.
    cooldown: float = 60.0
    # A polling kiosk (the HTTP API) records one doubtful attempt per presence: a look
    # within this many seconds of the last one with the same decision joins it.
    presence_gap: float = 15.0
    # Quality gate for live sources (docs/QUALITY.md has the measurements behind
    # these values); photos use facedb/vision/quality.py PHOTO_GATE.
    min_face_px: int = 64
    min_det_score: float = 0.6
    min_sharpness: float = 80.0
    max_yaw: float = 0.6
    max_pitch: float = 0.45
    liveness: str = "auto"
    liveness_threshold: float = 0.5
    # facedb watch --roi: on detection frames, search only around the tracks (and the
    # whole frame every few detections), on or off.
    watch_roi: str = "on"
    # HNSW search breadth for 1:N queries (pgvector's default is 40): 200 gives
    # recall@1 0.99 at 100k faces (docs/BENCHMARKS.md); below 10k, 100 is enough.
    ef_search: int = 200
    # Two-stage 1:N (store/search.py): the index's accept stands when it clears the
    # threshold and the margin by this much; anything else is searched again exactly
    # (a scan that cannot miss). 1 makes every search exact.
    search_clear: float = 0.05
    # Stage one's hnsw.ef_search for a decision's search (FACEDB_EF_SEARCH is for
    # look-ups, which have no stage two): what the index misses, stage two finds, so
    # stage one is tuned for speed (docs/SCALING.md: at 100,000 faces it costs a
    # quarter of ef_search 200's time and sends a few more searches to stage two).
    search_ef: int = 40
    # Stage two's scan: N scans the faces' 64-byte binary codes and re-ranks the N
    # nearest exactly (docs/SCALING.md has how many candidates are enough, measured up
    # to 1,000,000 faces); 0 reads every face's float vector instead (it cannot miss,
    # and costs many times more).
    search_candidates: int = 200
    # Intra-op threads for onnxruntime; 0 = all cores.
    threads: int = 0
    # HTTP API (facedb serve): the largest request body accepted, in megabytes.
    api_max_request_mb: float = 20.0
    # HTTP API: verify/identify attempts in which a face was decided on, per API key
    # in any 60 s; more are 429 (facedb/api/guard.py). 0: no limit.
    verify_rate_limit: int = 60
    # facedb import: the most people one manifest may list (facedb/importing/manifest.py).
    import_max_rows: int = 10_000
    # Offline verification (database unreachable): the kiosk's gallery cache is
    # refused when older than this many seconds (0: no cache is kept on this kiosk),
    # and refreshed after an online verification when older than cache_refresh.
    cache_max_age: float = 86400.0
    cache_refresh: float = 300.0
    # Outgoing events (facedb/events, README "Events and monitoring"): webhook
    # deliveries time out after hooks_timeout s, are retried after hooks_backoff s,
    # doubled at every attempt (at most an hour), and are dead after hooks_max_attempts.
    hooks_timeout: float = 10.0
    hooks_backoff: float = 2.0
    hooks_max_attempts: int = 12
    # MQTT broker (mqtt://user:password@host:1883, mqtts:// for TLS); None: no MQTT.
    mqtt_url: str | None = None
    mqtt_topic_prefix: str = "facedb"
    mqtt_ca_file: Path | None = None  # CA bundle for mqtts:// (default: the system's)
    mqtt_discovery: str = "off"  # on: Home Assistant MQTT discovery
    log_format: str = "text"  # text or json (one JSON object a line on stderr)
    # Review (docs/REVIEW.md): the face of a doubtful decision is kept (doubtful; all:
    # every decision; off: none) for evidence_days; an accept less than evidence_margin
    # above its threshold (or over the margin) is doubtful. Unknown faces at least
    # cluster_similarity alike (average linkage) are grouped as one stranger.
    evidence: str = "doubtful"
    evidence_days: float = 30.0
    evidence_margin: float = 0.05
    cluster_similarity: float = 0.45
    # Guarded template updates (docs/TEMPLATES.md): the face of a 1:N acceptance joins
    # the person's template when on (off by default: on the shared faces it raised
    # strangers' acceptance more than people's, docs/ACCURACY.md) and every guard holds: similarity at least
    # template_margin above the threshold and margin + template_margin over the
    # runner-up, quality score at least template_quality, no near-copy of a stored
    # face, at most template_cap additions per person in template_days, added faces
    # at most template_share of the person's faces. A probe a review found was not X
    # is accepted as X again only template_margin + margin above it (non_matches).
    template_updates: str = "off"
    template_margin: float = 0.1
    template_quality: float = 0.6
    template_cap: int = 1
    template_days: float = 7.0
    template_share: float = 0.5

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None) -> Settings:
        values: dict[str, Any] = {}
        env = os.environ
        home = Path(env["FACEDB_HOME"]) if env.get("FACEDB_HOME") else _default_home()
        if home.exists() and not home.is_dir():
            raise ConfigError(f"FACEDB_HOME {home} is not a folder")
        config_path = (
            Path(env["FACEDB_CONFIG"]) if env.get("FACEDB_CONFIG") else home / "config.toml"
        )
        if env.get("FACEDB_CONFIG") and not config_path.is_file():
            raise ConfigError(f"FACEDB_CONFIG {config_path}: no such file")
        if config_path.is_file():
            values.update(_read_config_file(config_path))
        for f in fields(cls):
            raw = env.get(f"FACEDB_{f.name.upper()}")
            if raw not in (None, ""):
                values[f.name] = raw
        for key, value in (overrides or {}).items():
            if value is not None:
                values[key] = value
        # `facedb models fetch` installs into FACEDB_HOME/models unless FACEDB_WEIGHTS
        # (or the config file) names another folder: that folder is searched first.
        values.setdefault("weights", home / "models")
        return cls(**{k: _coerce(k, v) for k, v in values.items()})

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, not {self.device!r}")
        if self.quality_profile not in ("auto", "photo", "live"):
            raise ConfigError(
                f"quality_profile must be auto, photo or live, not {self.quality_profile!r}"
            )
        if self.evidence not in ("doubtful", "all", "off"):
            raise ConfigError(f"evidence must be doubtful, all or off, not {self.evidence!r}")
        if self.liveness not in ("auto", "on", "off"):
            raise ConfigError(f"liveness must be auto, on or off, not {self.liveness!r}")
        if self.embedder_flip not in ("on", "off"):
            raise ConfigError(f"embedder_flip must be on or off, not {self.embedder_flip!r}")
        if self.template_updates not in ("on", "off"):
            raise ConfigError(f"template_updates must be on or off, not {self.template_updates!r}")
        if self.watch_roi not in ("on", "off"):
            raise ConfigError(f"watch_roi must be on or off, not {self.watch_roi!r}")
        if self.threshold is not None and not -1.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold is a cosine similarity in [-1, 1], not {self.threshold}")
        for name, (low, high) in _BOUNDS.items():
            value = getattr(self, name)
            if not (math.isfinite(value) and low <= value <= high):
                raise ConfigError(
                    f"{name} (FACEDB_{name.upper()}) is in [{low}, {high}], not {value}"
                )
        if not self.device_name.strip() or not self.device_name.isprintable():
            raise ConfigError(f"device_name must be printable text, not {self.device_name!r}")
        if len(self.device_name) > 200:
            raise ConfigError("device_name is at most 200 characters")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


_FIELD_TYPES = {f.name: f.type for f in fields(Settings)}

_YEAR_S = 365 * 86400.0
# Inclusive bounds of the numeric settings (NaN and infinities are refused too).
_BOUNDS: dict[str, tuple[float, float]] = {
    "det_size": (0, 8192),  # 0 = auto; else a multiple of 32 (vision/detector.py)
    "det_threshold": (0.0, 1.0),
    "nms_threshold": (0.0, 1.0),
    "cooldown": (0.0, _YEAR_S),
    "presence_gap": (0.0, 86400.0),
    "min_face_px": (0, 100_000),
    "min_det_score": (0.0, 1.0),
    "min_sharpness": (0.0, 1e9),
    "max_yaw": (0.0, 100.0),
    "max_pitch": (0.0, 100.0),
    "liveness_threshold": (0.0, 1.0),
    "fpir": (1e-9, 0.5),
    "margin": (0.0, 1.0),
    "evidence_days": (0.0, 10 * 365.0),
    "evidence_margin": (0.0, 2.0),
    "cluster_similarity": (0.0, 1.0),
    "duplicate_rate": (1e-9, 0.5),
    "ef_search": (1, 1000),  # pgvector's hnsw.ef_search range
    "search_clear": (0.0, 1.0),
    "search_ef": (1, 1000),
    "search_candidates": (0, 100_000),
    "replica_wait": (0.0, 60.0),
    "threads": (0, 4096),
    "api_max_request_mb": (0.001, 100_000.0),
    "cache_max_age": (0.0, 10 * _YEAR_S),
    "cache_refresh": (0.0, 10 * _YEAR_S),
    "hooks_timeout": (0.1, 600.0),
    "hooks_backoff": (0.01, 3600.0),
    "hooks_max_attempts": (1, 1000),
    "template_margin": (0.0, 2.0),
    "template_quality": (0.0, 1.0),
    "template_cap": (0, 1000),
    "template_days": (0.0, 10 * 365.0),
    "template_share": (0.0, 1.0),
}


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    unknown = sorted(set(data) - set(_FIELD_TYPES))
    if unknown:
        raise ConfigError(f"unknown setting(s) in {path}: {', '.join(unknown)}")
    return data


def _coerce(name: str, value: Any) -> Any:
    if name not in _FIELD_TYPES:
        raise ConfigError(f"unknown setting: {name}")
    kind = str(_FIELD_TYPES[name])
    invalid = ConfigError(f"invalid value for {name} (FACEDB_{name.upper()}): {value!r}")
    # A TOML boolean, array, table or date is no setting's type.
    if isinstance(value, bool) or not isinstance(value, str | int | float | Path):
        raise invalid
    try:
        if "Path" in kind:
            if not isinstance(value, str | Path) or "\x00" in str(value):
                raise invalid
            return Path(value).expanduser()
        if isinstance(value, Path):
            raise invalid
        if kind.startswith("float"):
            return float(value)
        if kind.startswith("int"):
            if isinstance(value, float) and not value.is_integer():
                raise invalid
            return int(value)
        return str(value)
    except (TypeError, ValueError, OverflowError, RuntimeError):
        raise invalid from None
