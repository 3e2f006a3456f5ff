"""One settings object for the whole program.

Values come, lowest priority first, from the defaults below, an optional TOML
config file (FACEDB_CONFIG, else FACEDB_HOME/config.toml; keys are the field
names, e.g. ``threshold = 0.3``), environment variables FACEDB_<FIELD> (e.g.
FACEDB_THRESHOLD), and finally CLI flags passed as ``overrides``.
"""

from __future__ import annotations

import dataclasses
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
    # Extra folder searched first for model files (then the repo's weights/).
    weights: Path | None = None
    # Execution provider: auto | cpu | cuda.
    device: str = "auto"
    # Name of this kiosk, stored in every attendance row.
    device_name: str = field(default_factory=socket.gethostname)
    detector: str = "scrfd_2.5g_bnkps"
    embedder: str = "w600k_mbf_int8"
    det_size: int = 640
    det_threshold: float = 0.5
    nms_threshold: float = 0.4
    # Cosine similarity needed to accept a match; None = the calibrated value
    # stored in the database for the embedder, else the model's default.
    threshold: float | None = None
    # Seconds during which a repeated verification of one person is logged once.
    cooldown: float = 60.0
    # Quality gate (docs/QUALITY.md has the measurements behind these values).
    min_face_px: int = 64
    min_det_score: float = 0.6
    min_sharpness: float = 80.0
    max_yaw: float = 0.6
    max_pitch: float = 0.45
    liveness: str = "auto"
    liveness_threshold: float = 0.5
    # HNSW search breadth for 1:N queries (pgvector default is 40).
    ef_search: int = 100
    # Intra-op threads for onnxruntime; 0 = all cores.
    threads: int = 0
    # HTTP API (facedb serve): the largest request body accepted, in megabytes.
    api_max_request_mb: float = 20.0

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None) -> Settings:
        values: dict[str, Any] = {}
        env = os.environ
        home = Path(env["FACEDB_HOME"]) if env.get("FACEDB_HOME") else _default_home()
        config_path = (
            Path(env["FACEDB_CONFIG"]) if env.get("FACEDB_CONFIG") else home / "config.toml"
        )
        if config_path.is_file():
            values.update(_read_config_file(config_path))
        for f in fields(cls):
            raw = env.get(f"FACEDB_{f.name.upper()}")
            if raw not in (None, ""):
                values[f.name] = raw
        for key, value in (overrides or {}).items():
            if value is not None:
                values[key] = value
        return cls(**{k: _coerce(k, v) for k, v in values.items()})

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, not {self.device!r}")
        if self.liveness not in ("auto", "on", "off"):
            raise ConfigError(f"liveness must be auto, on or off, not {self.liveness!r}")
        if self.threshold is not None and not -1.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold is a cosine similarity in [-1, 1], not {self.threshold}")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


_FIELD_TYPES = {f.name: f.type for f in fields(Settings)}


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
    try:
        if "Path" in kind:
            return Path(value).expanduser()
        if kind.startswith("float"):
            return float(value)
        if kind.startswith("int"):
            return int(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"invalid value for {name} (FACEDB_{name.upper()}): {value!r}") from None
