"""`facedb doctor`: everything facedb needs on this machine, checked and explained.

Each check gives one :class:`Check`: ``ok``, ``warn`` (facedb works, worse: slower,
on the CPU, stale) or ``fail`` (a command would stop), a detail for a person, and the
fix. Checks never raise: what goes wrong while checking is the check's result.
"""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

from facedb import timezones
from facedb.config import Settings
from facedb.errors import FacedbError, first_line
from facedb.media.frames import open_source
from facedb.offline import gallery_cache
from facedb.offline.spool import Spool
from facedb.secrets import redact_url
from facedb.store.admin import database_status, server_clock_and_keys
from facedb.store.engine import open_database
from facedb.vision import model_sources
from facedb.vision.models import CPU, CUDA, ModelRegistry, cuda_probe, selected_models

OK, WARN, FAIL = "ok", "warn", "fail"
# Free space in FACEDB_HOME (the embedded database, spool, cache, models).
DISK_FAIL_BYTES = 200 << 20
DISK_WARN_BYTES = 2 << 30
# Difference between this machine's clock and the database server's.
SKEW_WARN_S = 30.0
SKEW_FAIL_S = 600.0
# A clock before this is a machine that lost its time (no RTC battery, no NTP yet).
EARLIEST_YEAR = 2025


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""


def run_checks(settings: Settings, camera: str | None = None) -> list[Check]:
    """All checks, in the order a person would fix them; the camera only when given."""
    checks: list[Callable[[], list[Check]]] = [
        lambda: [cpu_check()],
        lambda: [providers_check(settings)],
        lambda: model_checks(settings),
        lambda: database_checks(settings),
        lambda: [timezone_check()],
        lambda: [disk_check(settings.home)],
        lambda: offline_checks(settings),
    ]
    if camera is not None:
        checks.append(lambda: [camera_check(camera)])
    results: list[Check] = []
    for check in checks:
        try:
            results += check()
        except Exception as exc:  # a check that breaks is reported, never a traceback
            results.append(Check("doctor", FAIL, f"a check failed: {type(exc).__name__}: {exc}"))
    return results


def cpu_check(cpuinfo: Path = Path("/proc/cpuinfo")) -> Check:
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        return Check("cpu", OK, f"{machine}: onnxruntime uses its generic kernels")
    try:
        flags = _cpu_flags(cpuinfo.read_text("utf-8", "replace"))
    except OSError:
        return Check("cpu", WARN, f"cannot read {cpuinfo}: CPU features unknown")
    avx512 = " and AVX-512" if "avx512f" in flags else ""
    if "avx2" in flags and "fma" in flags:
        return Check("cpu", OK, f"AVX2 and FMA{avx512}: onnxruntime's fast kernels")
    return Check(
        "cpu",
        WARN,
        "no AVX2/FMA: onnxruntime falls back to slower kernels (about 2-3x slower verify)",
        "use a CPU with AVX2 (any x86-64 since 2013), or the smaller detector: "
        "FACEDB_DETECTOR=scrfd_500m_bnkps",
    )


def _cpu_flags(cpuinfo: str) -> set[str]:
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def providers_check(settings: Settings) -> Check:
    available = ort.get_available_providers()
    name = f"onnxruntime {ort.__version__}"
    if CUDA not in available:
        if settings.device == "cuda":
            return Check(
                name,
                FAIL,
                "FACEDB_DEVICE=cuda but this build has no CUDA provider",
                "pip install onnxruntime-gpu, or FACEDB_DEVICE=auto",
            )
        return Check(name, OK, f"providers {', '.join(available)}: models run on the CPU")
    reason = cuda_probe() or _tiny_cuda_run()
    if reason is None:
        return Check(name, OK, "CUDA works (a test inference ran on the GPU)")
    # A CPU-only kiosk with onnxruntime-gpu installed is fine unless CUDA was asked for.
    status = FAIL if settings.device == "cuda" else OK
    where = "facedb refuses FACEDB_DEVICE=cuda" if status == FAIL else "models run on the CPU"
    return Check(
        name,
        status,
        f"CUDA is listed but unusable: {reason}; {where}",
        "install the CUDA and cuDNN libraries this onnxruntime-gpu was built for (see "
        "onnxruntime's CUDA requirements), or set FACEDB_DEVICE=cpu to say so",
    )


def _tiny_cuda_run() -> str | None:
    """None when a one-node model really runs on CUDA, else why not."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])],
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=[CUDA, CPU])
        if session.get_providers()[0] != CUDA:
            return "onnxruntime fell back to the CPU when creating a CUDA session"
        out = session.run(None, {"x": np.ones((1, 4), np.float32)})[0]
    except Exception as exc:  # onnxruntime's own exception types
        return first_line(exc)
    return None if float(np.asarray(out).sum()) == 8.0 else "a CUDA test inference gave a wrong sum"


def model_checks(settings: Settings) -> list[Check]:
    registry = ModelRegistry(settings)
    results = []
    for name in sorted(selected_models(settings)):
        try:
            status = registry.status(name)
        except FacedbError as exc:
            results.append(Check(f"model {name}", FAIL, exc.message, "facedb models"))
            continue
        optional = status.spec.role == "liveness" and settings.liveness != "on"
        if status.path is None:
            detail = status.error or f"{status.spec.file} not found"
            if optional:
                detail += " (liveness stays off)"
            fix = f"facedb models fetch {name}"
            unchecked = model_sources.unverified(name)
            if unchecked and len(unchecked) == len(model_sources.manifest_sources().get(name, [])):
                # Said, never silent: fetch still refuses bytes whose sha256 differs.
                detail += (
                    "; its public sources were not verified by the manifest's authors "
                    f"({unchecked[0].note})"
                )
                fix += " (or --from FILE, or --url BASE of a site mirror)"
            results.append(Check(f"model {name}", WARN if optional else FAIL, detail, fix))
            continue
        if not status.sha_ok:
            results.append(
                Check(
                    f"model {name}",
                    FAIL,
                    f"{status.path}: sha256 differs from the manifest",
                    f"remove it and run `facedb models fetch {name}`",
                )
            )
            continue
        results.append(Check(f"model {name}", OK, f"{status.path}: sha256 ok"))
    return results


def database_checks(settings: Settings) -> list[Check]:
    """Reachable, versions, pgvector, migrations, and its clock against ours."""
    try:
        database = open_database(settings, require_schema=False, auto_upgrade=False)
    except FacedbError as exc:
        fix = {
            12: "start the server, or check FACEDB_DATABASE_URL (`facedb db url`)",
            13: "check the user and password in FACEDB_DATABASE_URL",
            14: "install pgvector on the server (the pgvector/pgvector image, "
            "apt install postgresql-NN-pgvector)",
        }.get(exc.exit_code, "see the message")
        return [Check("database", FAIL, exc.message, fix)]
    try:
        info = database_status(database)
        server_now, keys = server_clock_and_keys(database, count_keys=info.up_to_date)
    except Exception as exc:  # a server that answers the first query but not these
        return [Check("database", FAIL, f"status query failed: {type(exc).__name__}: {exc}")]
    finally:
        database.engine.dispose()
    results = [Check("database", OK, f"{info.server}, PostgreSQL {info.postgres_version}")]
    # The embedded server is upgraded (and the extension created) by the next command.
    behind = WARN if database.embedded else FAIL
    later = " (the next facedb command does it)" if database.embedded else ""
    if info.pgvector_version is None:
        results.append(
            Check(
                "pgvector",
                behind,
                f"the vector extension is not created in the database{later}",
                "facedb db upgrade (creates it)",
            )
        )
    else:
        major, minor = (int(v) for v in info.pgvector_version.split(".")[:2])
        status = OK if (major, minor) >= (0, 8) else FAIL
        results.append(
            Check(
                "pgvector",
                status,
                f"version {info.pgvector_version}",
                "" if status == OK else "upgrade pgvector to 0.8 or newer",
            )
        )
    if info.up_to_date:
        results.append(Check("migrations", OK, f"at {info.revision}"))
    else:
        results.append(
            Check(
                "migrations",
                behind,
                f"schema at {info.revision or 'no revision'}, facedb needs "
                f"{info.head_revision}{later}",
                "facedb db upgrade",
            )
        )
    results.append(clock_check(server_now))
    if keys is not None:
        detail = (
            f"{keys} live API key(s)" if keys else "none: `facedb serve` answers only /v1/health"
        )
        fix = "" if keys else "facedb keys create --name NAME --role kiosk (for the HTTP API)"
        results.append(Check("api keys", OK, detail, fix))
    return results


def clock_check(server_now: datetime | None, now: datetime | None = None) -> Check:
    now = now or datetime.now(UTC)
    if now.year < EARLIEST_YEAR:
        return Check(
            "clock",
            FAIL,
            f"this machine's clock says {now:%Y-%m-%d %H:%M} UTC",
            "set the time and enable NTP (timedatectl set-ntp true)",
        )
    if server_now is None:
        return Check("clock", OK, f"{now:%Y-%m-%d %H:%M:%S} UTC")
    skew = (now - server_now).total_seconds()
    status = FAIL if abs(skew) > SKEW_FAIL_S else WARN if abs(skew) > SKEW_WARN_S else OK
    fix = "" if status == OK else "enable NTP on this machine and on the database server"
    return Check("clock", status, f"{skew:+.1f} s from the database server's clock", fix)


def timezone_check() -> Check:
    try:
        zone = timezones.local_zone()
    except FacedbError as exc:
        return Check("time zone", FAIL, exc.message, "set TZ to an IANA name (Europe/Paris)")
    offset = datetime.now().astimezone().strftime("%z")
    return Check("time zone", OK, f"{zone} (UTC{offset}): the days of people with no site")


def disk_check(home: Path) -> Check:
    folder = home
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return Check("disk", FAIL, f"cannot read free space of {folder}: {exc}")
    shown = f"{free / (1 << 30):.1f} GiB free in {folder}"
    if not os.access(folder, os.W_OK):
        return Check("disk", FAIL, f"{folder} is not writable", "fix FACEDB_HOME's permissions")
    if free < DISK_FAIL_BYTES:
        return Check("disk", FAIL, shown, "free space: the database and spool stop writing")
    if free < DISK_WARN_BYTES:
        return Check("disk", WARN, shown, "free space, or `facedb attendance purge`")
    return Check("disk", OK, shown)


def offline_checks(settings: Settings) -> list[Check]:
    spool = Spool(settings.home).status()
    if spool.pending:
        since = f" since {spool.oldest:%Y-%m-%d %H:%M}" if spool.oldest else ""
        spooled = Check(
            "spool",
            WARN,
            f"{spool.pending} events waiting{since}",
            "facedb spool replay (once the database is reachable)",
        )
    else:
        spooled = Check("spool", OK, "no events waiting")
    caches = gallery_cache.cached_files(settings.home)
    if not caches:
        return [spooled, Check("cache", OK, "no offline gallery cache yet")]
    now = datetime.now(UTC).timestamp()
    oldest = max(now - p.stat().st_mtime for p in caches)
    stale = settings.cache_max_age and oldest > settings.cache_max_age
    cached = Check(
        "cache",
        WARN if stale else OK,
        f"{len(caches)} file(s), oldest {oldest:.0f} s",
        "facedb cache refresh" if stale else "",
    )
    return [spooled, cached]


def camera_check(source: str) -> Check:
    """Opens the source as `facedb watch` does (media/frames.py: stream timeouts,
    the URL's password never shown) and reads one frame."""
    name = f"camera {redact_url(source)}"
    fix = (
        "check it is plugged in and that this user may read it "
        "(ls -l /dev/video*; add the user to the video group)"
    )
    try:
        opened = open_source(source, limit=1)
    except FacedbError as exc:
        return Check(name, FAIL, exc.message, fix)
    try:
        frame = next(iter(opened), None)
    except FacedbError as exc:
        return Check(name, FAIL, exc.message, fix)
    finally:
        opened.close()
    if frame is None:
        return Check(
            name,
            FAIL,
            "opened, but gives no frame",
            "another program may hold it; unplug and plug it again",
        )
    fps = float(getattr(opened, "fps", 0.0))
    height, width = frame.image.shape[:2]
    return Check(name, OK, f"{width}x{height}, {fps:.0f} frames/s")


def worst(checks: list[Check]) -> str:
    statuses = {c.status for c in checks}
    return FAIL if FAIL in statuses else WARN if WARN in statuses else OK
