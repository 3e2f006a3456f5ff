"""Local actions for doors: `verify --on-accept CMD` and `watch --on-event CMD` run a
command with the event's JSON on stdin, with a timeout; `watch --metrics-port`."""

from __future__ import annotations

import json
import logging
import shlex
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from delivery_helpers import free_port
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from benchmarks.scenes import Actor, face_crop, write_video
from facedb.cli.main import main
from facedb.config import Settings
from facedb.events.actions import run_command
from facedb.service import FaceService
from facedb.store.tables.core import Attendance
from facedb.vision.pipeline import FacePipeline

KNN = "face_recognition/examples/knn_examples"
OBAMA_PROBE = f"{KNN}/test/obama1.jpg"
STRANGER = "openface/examples/carell.jpg"


@pytest.fixture
def enrolled(settings: Settings, faces_dir: Path) -> Iterator[FaceService]:
    service = FaceService(settings)
    service.enrol("Barack Obama", str(faces_dir / KNN / "train/obama"), recursive=True)
    yield service
    service.close()


def _writer(path: Path) -> str:
    """A command that appends its stdin, one line, to ``path``."""
    script = f"import sys; open({str(path)!r}, 'a').write(sys.stdin.read().replace(chr(10), ' ') + chr(10))"
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}"


def _rows(service: FaceService) -> int:
    with service.transaction() as session:
        return int(session.execute(select(func.count()).select_from(Attendance)).scalar_one())


def test_verify_on_accept_runs_the_command_with_the_result(
    enrolled: FaceService, faces_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "door.log"
    runner = CliRunner()
    accepted = runner.invoke(
        main, ["verify", "--source", str(faces_dir / OBAMA_PROBE), "--on-accept", _writer(out)]
    )
    assert accepted.exit_code == 0, accepted.output
    [line] = out.read_text().splitlines()
    event = json.loads(line)
    assert event["decision"] == "accepted" and event["name"] == "Barack Obama"
    stranger = runner.invoke(
        main, ["verify", "--source", str(faces_dir / STRANGER), "--on-accept", _writer(out)]
    )
    assert stranger.exit_code == 1
    assert len(out.read_text().splitlines()) == 1  # not run: not accepted
    # A command that cannot be parsed is refused before anything is logged.
    before = _rows(enrolled)
    refused = runner.invoke(
        main, ["verify", "--source", str(faces_dir / OBAMA_PROBE), "--on-accept", "'open"]
    )
    assert refused.exit_code == 2 and "cannot parse" in refused.output
    assert _rows(enrolled) == before


def test_a_failing_or_slow_command_is_reported_and_never_changes_the_decision(
    enrolled: FaceService, faces_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEDB_HOOKS_TIMEOUT", "0.5")
    monkeypatch.setenv("FACEDB_COOLDOWN", "0")
    runner = CliRunner()
    probe = str(faces_dir / OBAMA_PROBE)
    failed = runner.invoke(main, ["verify", "--source", probe, "--on-accept", "sh -c 'exit 3'"])
    assert failed.exit_code == 0
    assert "--on-accept command failed: exit 3" in failed.output
    start = time.monotonic()
    slow = runner.invoke(main, ["verify", "--source", probe, "--on-accept", "sleep 30"])
    assert slow.exit_code == 0 and "timed out after 0.5 s" in slow.output
    assert time.monotonic() - start < 20
    missing = run_command("/nonexistent/relay", "{}", timeout=1)
    assert not missing.ok and "cannot run" in missing.detail


def test_watch_on_event_and_metrics_port(
    enrolled: FaceService, faces_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEDB_LIVENESS", "off")  # a photo pasted on a wall
    pipeline = FacePipeline(Settings.load())
    crop = face_crop(pipeline, faces_dir / f"{KNN}/train/obama/obama2.jpg")
    video = write_video(tmp_path / "door.avi", [Actor("Obama", crop, 0, 20, 200, 100, dx=2)], 20)
    out = tmp_path / "events.log"
    port = free_port()
    result = CliRunner().invoke(
        main,
        [
            "watch", "--source", str(video), "--json",
            "--on-event", _writer(out), "--metrics-port", str(port),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        scraped = response.read().decode()
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["decision"], e["name"]) for e in events] == [("accepted", "Barack Obama")]
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["event_id"] == printed[0]["event_id"]
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped)
        for s in family.samples
    }
    device = enrolled.settings.device_name
    decided = (
        "facedb_decisions_total",
        (("decision", "accepted"), ("device", device), ("kind", "identify"), ("offline", "false")),
    )
    assert samples[decided] >= 1
    assert samples[("facedb_frames_total", ())] >= 10  # detection on every other frame, or more
    assert samples[("facedb_stage_seconds_count", (("stage", "embed"),))] >= 1
    watched = sum(
        samples.get(("facedb_watch_frames_total", (("detected", d),)), 0) for d in ("true", "false")
    )
    assert watched == 20  # every frame of the video, once


def test_json_logs_are_one_object_a_line() -> None:
    from facedb.events.jsonlog import JsonFormatter, configure

    record = logging.LogRecord("facedb.x", logging.WARNING, __file__, 1, "sent %d", (3,), None)
    record.sink = "webhook"
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert (data["level"], data["logger"], data["message"], data["sink"]) == (
        "warning",
        "facedb.x",
        "sent 3",
        "webhook",
    )
    assert "\n" not in line
    try:
        raise ValueError("bad")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert "ValueError: bad" in json.loads(JsonFormatter().format(record))["exception"]
    uvicorn_like = {"formatters": {"default": {"fmt": "%(message)s"}, "access": {}}}
    assert configure(dict(uvicorn_like), "text") == uvicorn_like
    made = configure({"formatters": {"default": {}, "access": {}}}, "json")
    assert all(f == {"()": JsonFormatter} for f in made["formatters"].values())


def test_a_shell_line_is_refused_with_how_to_run_it() -> None:
    from facedb.errors import InvalidInputError
    from facedb.events.actions import parse_command

    with pytest.raises(InvalidInputError, match=r"sh -c 'cat > f; echo ok'"):
        parse_command("cat > f; echo ok")
    with pytest.raises(InvalidInputError, match=r"uses the shell's '\|'"):
        parse_command("jq .name | logger")
    assert parse_command("relay-ctl --pulse 2 'a > b'") == ["relay-ctl", "--pulse", "2", "a > b"]
    assert parse_command("sh -c 'cat > f; echo ok'") == ["sh", "-c", "cat > f; echo ok"]
