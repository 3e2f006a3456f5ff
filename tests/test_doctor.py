"""`facedb doctor` on a healthy setup and on each failure it detects, with real model
files, a real PostgreSQL and a real (video) camera source."""

from __future__ import annotations

import json
import platform
import shutil
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import pytest
from click.testing import CliRunner

from facedb.cli.main import main
from facedb.config import Settings
from facedb.usecases import doctor
from facedb.vision.models import cuda_probe


def _doctor(*args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    result = CliRunner().invoke(main, ["doctor", "--json", *args])
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.output)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["status"] == doctor.worst([doctor.Check(**c) for c in report["checks"]])
    return result.exit_code, checks


def test_in_a_pipe_doctor_prints_plain_lines(settings: Settings) -> None:
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "facedb doctor: " + ("warn" if "\nwarn" in result.output else "ok")
    assert any(line.startswith("ok    database: ") for line in lines)
    assert "[/]" not in result.output and "[green]" not in result.output
    assert "\x1b[" not in result.output  # no colour codes in a pipe


def _failed(checks: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(name for name, c in checks.items() if c["status"] == "fail")


def test_a_healthy_setup_passes(settings: Settings) -> None:
    code, checks = _doctor()
    assert code == 0, checks
    assert _failed(checks) == []
    for name in ("model scrfd_2.5g_bnkps", "model w600k_mbf_int8", "model minifasnet_v2"):
        assert checks[name]["status"] == "ok", checks[name]
    assert checks["database"]["status"] == "ok"
    assert checks["database"]["detail"].startswith("external, PostgreSQL ")
    assert checks["pgvector"]["status"] == "ok"
    assert checks["migrations"]["status"] == "ok"
    assert checks["clock"]["status"] == "ok"
    assert checks["disk"]["status"] == "ok"
    assert checks["spool"]["status"] == "ok"
    assert checks["api keys"]["detail"].startswith("none")
    created = CliRunner().invoke(main, ["keys", "create", "--name", "door", "--role", "kiosk"])
    assert created.exit_code == 0, created.output
    _, checks = _doctor()
    assert checks["api keys"]["detail"] == "1 live API key(s)"
    assert {"cpu", "time zone", "cache"} <= set(checks)
    assert any(name.startswith("onnxruntime ") for name in checks)


def test_a_missing_model_fails_with_the_fetch_command(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEDB_WEIGHTS", str(tmp_path))
    code, checks = _doctor()
    assert code == 1
    assert "model w600k_mbf_int8" in _failed(checks)
    assert "facedb models fetch w600k_mbf_int8" in checks["model w600k_mbf_int8"]["fix"]
    assert checks["database"]["status"] == "ok"  # the other checks still run


def test_a_model_with_the_wrong_sha256_fails(
    settings: Settings, weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for model in weights_dir.glob("*.onnx"):
        shutil.copy(model, tmp_path / model.name)
    damaged = tmp_path / "scrfd_2.5g_bnkps.onnx"
    damaged.chmod(0o644)
    data = bytearray(damaged.read_bytes())
    data[1000] ^= 0xFF
    damaged.write_bytes(bytes(data))
    monkeypatch.setenv("FACEDB_WEIGHTS", str(tmp_path))
    code, checks = _doctor()
    assert code == 1
    assert _failed(checks) == ["model scrfd_2.5g_bnkps"]
    assert "sha256 differs" in checks["model scrfd_2.5g_bnkps"]["detail"]


def test_a_database_that_is_down_fails(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("FACEDB_DATABASE_URL", f"postgresql://facedb:secret@127.0.0.1:{port}/facedb")
    code, checks = _doctor()
    assert code == 1
    assert _failed(checks) == ["database"]
    assert "cannot reach the database" in checks["database"]["detail"]
    assert "secret" not in json.dumps(checks)
    assert "FACEDB_DATABASE_URL" in checks["database"]["fix"]


def test_a_database_without_pgvector_or_migrations_fails(
    settings: Settings, empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEDB_DATABASE_URL", empty_database_url)
    code, checks = _doctor()
    assert code == 1
    assert _failed(checks) == ["migrations", "pgvector"]
    assert checks["migrations"]["fix"] == "facedb db upgrade"
    assert "vector extension is not created" in checks["pgvector"]["detail"]


def test_a_camera_that_cannot_be_opened_fails_and_a_working_source_is_described(
    settings: Settings, faces_dir: Path, tmp_path: Path
) -> None:
    code, checks = _doctor("--camera", str(tmp_path / "no-such-camera.mp4"))
    assert code == 1
    (camera,) = [name for name in checks if name.startswith("camera ")]
    assert _failed(checks) == [camera]
    assert "/dev/video" in checks[camera]["fix"]
    # A stream's password is never shown (nothing listens on port 1: refused at once).
    code, checks = _doctor("--camera", "rtsp://admin:s3cret@127.0.0.1:1/cam")
    assert code == 1
    (camera,) = [name for name in checks if name.startswith("camera ")]
    assert _failed(checks) == [camera] and "127.0.0.1:1/cam" in camera
    assert "s3cret" not in json.dumps(checks)

    photo = cv2.imread(str(faces_dir / "face_recognition" / "examples" / "obama.jpg"))
    assert photo is not None
    width, height = 640, 480
    frame = cv2.resize(photo, (width, height))
    video = tmp_path / "camera.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (width, height))
    for _ in range(5):
        writer.write(frame)
    writer.release()
    code, checks = _doctor("--camera", str(video))
    assert code == 0, checks
    assert checks[f"camera {video}"]["detail"] == f"{width}x{height}, 10 frames/s"


def test_cuda_is_checked_by_running_it(settings: Settings) -> None:
    code, checks = _doctor("--device", "cuda")
    (name,) = [n for n in checks if n.startswith("onnxruntime ")]
    if cuda_probe() is None:
        assert checks[name]["status"] == "ok", checks[name]
    else:  # this machine's CUDA provider cannot load: cuda was asked for, so it fails
        assert checks[name]["status"] == "fail"
        assert "unusable" in checks[name]["detail"] or "no CUDA" in checks[name]["detail"]
        assert code == 1
        # With the default device it is no warning: facedb runs on the CPU, as asked.
        _, auto = _doctor()
        assert auto[name]["status"] == "ok"
        assert "models run on the CPU" in auto[name]["detail"]


def test_a_cpu_without_avx2_is_a_warning(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx\n")
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the AVX2 check is for x86-64 machines")
    check = doctor.cpu_check(cpuinfo)
    assert check.status == "warn"
    assert "AVX2" in check.detail
    cpuinfo.write_text("flags\t\t: fpu sse sse2 avx avx2 fma\n")
    assert doctor.cpu_check(cpuinfo).status == "ok"


def test_clock_skew_and_a_clock_in_the_past() -> None:
    now = datetime.now(UTC)
    assert doctor.clock_check(now - timedelta(seconds=1), now).status == "ok"
    assert doctor.clock_check(now - timedelta(seconds=120), now).status == "warn"
    assert doctor.clock_check(now - timedelta(hours=2), now).status == "fail"
    assert doctor.clock_check(None, datetime(2001, 1, 1, tzinfo=UTC)).status == "fail"


def test_an_invalid_time_zone_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Mars/Olympus_Mons")
    check = doctor.timezone_check()
    assert check.status == "fail"
    assert "Mars/Olympus_Mons" in check.detail
