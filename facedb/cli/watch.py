"""`facedb watch`: live attendance from a camera, a stream or a video."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from facedb.errors import InvalidInputError, SourceError
from facedb.watch.events import WatchEvent, WatchSummary
from facedb.watch.loop import WatchOptions, watch, watch_settings

if TYPE_CHECKING:
    from facedb.events.actions import ActionResult, ActionRunner
    from facedb.service import FaceService

from .context import open_service
from .options import liveness_option
from .output import json_option


@click.command("watch")
@click.option(
    "--source",
    default="0",
    show_default=True,
    help="Camera index, video file or stream URL (rtsp://, http://...).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the video with boxes, names, similarities and track ids (.mp4 or .avi).",
)
@click.option("--show", is_flag=True, help="Show the annotated frames in a window (q stops).")
@click.option(
    "--cooldown",
    type=click.FloatRange(min=0),
    help="Seconds during which a person is logged once [default: FACEDB_COOLDOWN, 60].",
)
@click.option(
    "--max-faces",
    type=click.IntRange(min=0),
    default=0,
    help="Faces per frame at most, most confident first (0 = all).",
)
@click.option(
    "--detect-every",
    type=click.IntRange(1, 30),
    help="Run the detector on every n-th frame; boxes are tracked in between "
    "[default: 1 for a video file, 2 for a camera or stream].",
)
@click.option(
    "--roi/--no-roi",
    default=None,
    help="On detection frames, search only around the faces being tracked, and the "
    "whole frame every 4th detection or when there are none [default: FACEDB_WATCH_ROI, "
    "else on].",
)
@click.option(
    "--det-size",
    type=click.IntRange(min=0),
    help="Detector input: 0 = auto (from the quality gate's minimum face size), else an "
    "N x N letterbox, N a multiple of 32 (default FACEDB_DET_SIZE, else 0).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(-1, 1),
    help="Accept at this cosine similarity or more (overrides the calibrated value).",
)
@click.option(
    "--max-frames", type=click.IntRange(min=1), help="Stop after this many processed frames."
)
@click.option(
    "--on-event",
    metavar="CMD",
    help="Run CMD for each event, its --json line on stdin (in order, in the background; "
    "FACEDB_HOOKS_TIMEOUT s each at most). CMD is a program and its arguments, run "
    "without a shell: for pipes or redirections use sh -c '...'.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="Serve Prometheus metrics at http://HOST:PORT/metrics while watching.",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Address of --metrics-port.",
)
@liveness_option
@json_option
def watch_command(
    source: str,
    output: Path | None,
    show: bool,
    cooldown: float | None,
    max_faces: int,
    detect_every: int | None,
    roi: bool | None,
    det_size: int | None,
    threshold: float | None,
    max_frames: int | None,
    as_json: bool,
    on_event: str | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    liveness: str | None = None,
) -> None:
    """Watch a camera, stream or video and log attendance as people pass.

    Every face is detected and tracked; each track is identified on its best
    frames, with verify's decision: the 1:N threshold for the gallery's size and
    a margin over the second person ("ambiguous"). A person is logged
    ("accepted") once per cooldown; a face that matches nobody is logged once per
    track ("unknown"), as is a track of presentation attacks ("spoof", when
    liveness is on). When someone else takes a track's place, it is decided
    again. Each event is printed as it happens (JSON lines with --json), and a
    summary at the end or on Ctrl-C (or SIGTERM).

    While the database is unreachable the watch goes on: it decides from this
    kiosk's gallery cache and spools the events, sent once the database is back.

    A live source is read on its own thread: frames that arrive while one is being
    processed are dropped (and counted), and a stream that drops is reopened with
    backoff. A video file is processed frame by frame.

    \b
    Examples:
      facedb watch                                   # camera 0, until Ctrl-C
      facedb watch --source rtsp://cam.local/stream --det-size 640   # crowds
      facedb watch --source hall.mp4 --output hall_annotated.mp4 --json
      facedb watch --source door.mp4 --liveness on   # log photos held up as spoof
    """
    service = open_service(watch_settings, cooldown=cooldown, det_size=det_size, liveness=liveness)
    options = WatchOptions(
        source=source,
        output=output,
        show=show,
        max_faces=max_faces,
        detect_every=detect_every,
        roi=roi,
        max_frames=max_frames,
        threshold=threshold,
    )
    actions = _actions(on_event, service.settings.hooks_timeout)
    if metrics_port is not None:
        _serve_metrics(service, metrics_host, metrics_port)
    try:
        with _terminate_as_interrupt():
            summary = watch(
                service,
                options,
                on_event=_printer(as_json, actions),
                on_frame=_frame_counter() if metrics_port is not None else None,
            )
    finally:
        if actions is not None:
            actions.close()
    if as_json:
        click.echo(json.dumps({"type": "summary", **_summary_fields(summary)}))
    else:
        click.echo(describe_summary(summary))
    if summary.lost is not None:
        raise SourceError(summary.lost)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a service manager stopping the watch) ends it as Ctrl-C does: the
    pending decision made and logged, the summary printed, exit status 0."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _printer(as_json: bool, actions: ActionRunner | None = None) -> Callable[[WatchEvent], None]:
    def print_event(event: WatchEvent) -> None:
        line = json.dumps({"type": "event", **_event_fields(event)})
        if as_json:
            click.echo(line)
        else:
            click.echo(describe_event(event))
        if actions is not None:
            actions.submit(line)

    return print_event


def _actions(command: str | None, timeout: float) -> ActionRunner | None:
    if command is None:
        return None
    from facedb.events.actions import ActionRunner

    def warn(result: ActionResult) -> None:
        click.echo(f"warning: --on-event command failed: {result.detail}", err=True)

    return ActionRunner(command, timeout=timeout, on_failure=warn)


def _frame_counter() -> Callable[[Any], None]:
    from facedb.events import metrics

    return metrics.count_watch_frame


def _serve_metrics(service: FaceService, host: str, port: int) -> None:
    from facedb.events import metrics, monitoring

    monitoring.instrument(service)
    try:
        metrics.serve_http(port, host)
    except OSError as exc:
        raise InvalidInputError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from None
    click.echo(f"metrics at http://{host}:{port}/metrics", err=True)


def _event_fields(event: WatchEvent) -> dict[str, Any]:
    return {
        "decision": event.decision,
        "name": event.name,
        "user_id": event.user_id,
        "similarity": event.similarity,
        "nearest": event.nearest,
        "threshold": event.threshold,
        "track": event.track_id,
        "frame": event.frame,
        "media_time": round(event.media_time, 3),
        "occurred_at": event.occurred_at.isoformat(),
        "logged": event.logged,
        "event_id": str(event.event_id) if event.event_id is not None else None,
        "liveness": event.liveness,
        "offline": event.offline,
        "runner_up": event.runner_up,
        "threshold_source": event.threshold_source,
        "gallery_persons": event.gallery_persons,
    }


def _summary_fields(summary: WatchSummary) -> dict[str, Any]:
    return {
        "source": summary.source,
        "frames": summary.frames,
        "dropped": summary.dropped,
        "seconds": round(summary.seconds, 3),
        "fps": round(summary.fps, 2),
        "accepted": summary.accepted,
        "unknown": summary.unknown,
        "repeats": summary.repeats,
        "tracks": summary.tracks,
        "undecided": summary.undecided,
        "handovers": summary.handovers,
        "people": list(summary.people),
        "reconnects": summary.reconnects,
        "interrupted": summary.interrupted,
        "output": summary.output,
        "lost": summary.lost,
        "ambiguous": summary.ambiguous,
        "spoofs": summary.spoofs,
        "offline": summary.offline,
        "outages": summary.outages,
    }


def describe_event(event: WatchEvent) -> str:
    when = event.occurred_at.astimezone().strftime("%H:%M:%S")
    where = f"track {event.track_id}, frame {event.frame}"
    similarity = "-" if event.similarity is None else f"{event.similarity:.3f}"
    where += " [offline: spooled]" if event.offline else ""
    if event.decision == "accepted":
        note = "" if event.logged else " (already logged within the cooldown)"
        return f"{when}  accepted  {event.name} (similarity {similarity}, {where}){note}"
    if event.decision == "spoof":
        score = "-" if event.liveness is None else f"{event.liveness:.3f}"
        return f"{when}  spoof     presentation attack suspected (liveness {score}, {where})"
    nearest = f", nearest {event.nearest}" if event.nearest else ""
    threshold = "-" if event.threshold is None else f"{event.threshold:.3f}"
    if event.decision == "ambiguous":
        second = "-" if event.runner_up is None else f"{event.runner_up:.3f}"
        return (
            f"{when}  ambiguous two enrolled people are too close to tell apart "
            f"(similarity {similarity}{nearest}, second {second}; {where})"
        )
    return (
        f"{when}  unknown   nobody enrolled matches (best similarity {similarity}{nearest}; "
        f"threshold {threshold}, {where})"
    )


def describe_summary(summary: WatchSummary) -> str:
    stopped = " (stopped)" if summary.interrupted else ""
    lines = [
        f"watched {summary.source}{stopped}: {summary.frames} frames in "
        f"{summary.seconds:.1f} s ({summary.fps:.1f} frames/s), {summary.dropped} dropped",
        f"logged {summary.accepted} accepted, {summary.unknown} unknown "
        f"({summary.repeats} repeat(s) within the cooldown not logged); "
        f"{summary.tracks} track(s)",
    ]
    if summary.ambiguous or summary.spoofs:
        lines.append(f"also {summary.ambiguous} ambiguous, {summary.spoofs} spoof")
    if summary.people:
        lines.append("people: " + ", ".join(summary.people))
    if summary.outages:
        lines.append(
            f"the database was unreachable {summary.outages} time(s): {summary.offline} "
            "event(s) decided from the gallery cache and spooled"
        )
    if summary.reconnects:
        lines.append(f"the source was reopened {summary.reconnects} time(s)")
    if summary.output:
        lines.append(f"annotated video: {summary.output}")
    return "\n".join(lines)
