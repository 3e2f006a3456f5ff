"""Processed frames per second of `facedb watch` on a 640x480 video with 5 faces in view,
for several detector settings; writes the "Live watch" section of docs/BENCHMARKS.md.

The scene is made from shared photos (tests/watch_scenes.py): five people in view
the whole time, two of them leaving halfway and two others coming in where they
stood, 150 frames. Three of the people are enrolled from other photos. A second
scene of 150 frames has one face in view at a time (three people walking past one
after another, two of them enrolled): where searching only around the tracks
(``--roi``, facedb/watch/search.py) pays; with five faces their regions cover more
than ROI_MAX_SHARE of the frame and the whole frame is searched anyway. Runs on an
embedded PostgreSQL in a temporary FACEDB_HOME unless FACEDB_DATABASE_URL is set.

Two figures per setting: processed frames per second (wall clock, what a person
sees; it depends on what else the machine runs), and the process's CPU time per frame
(user + system, all threads), which other load changes much less: with ``--threads 1``
it is the frame time on one free core.

    FACEDB_WEIGHTS=../shared/weights python benchmarks/watch.py --threads 1 \\
        --write docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import onnxruntime as ort

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import cpu_model, record_measured, write_section  # noqa: E402
from benchmarks.scenes import Actor, face_crop, mjpeg_server, read_frames, write_video  # noqa: E402
from benchmarks.targets import BY_KEY  # noqa: E402
from facedb.config import Settings  # noqa: E402
from facedb.service import FaceService  # noqa: E402
from facedb.store import embedded  # noqa: E402
from facedb.vision.pipeline import FacePipeline  # noqa: E402
from facedb.vision.roi import ROI_MAX_SHARE  # noqa: E402
from facedb.watch.events import WatchFrame, WatchSummary  # noqa: E402
from facedb.watch.loop import WatchOptions, watch, watch_settings  # noqa: E402
from facedb.watch.search import FULL_EVERY  # noqa: E402

DEFAULT_FACES = REPO.parent / "shared" / "faces"
KNN = "face_recognition/examples/knn_examples/train"
ENROL = {
    "Barack Obama": f"{KNN}/obama/obama.jpg",
    "Joe Biden": f"{KNN}/biden/biden.jpg",
    "Eric Clapton": "openface/examples/clapton-1.jpg",
}
SCENE = {
    "obama": f"{KNN}/obama/obama2.jpg",
    "biden": f"{KNN}/biden/biden2.jpg",
    "clapton": "openface/examples/clapton-2.jpg",
    "adams": "openface/examples/adams.jpg",
    "carell": "openface/examples/carell.jpg",
    "lennon": "openface/examples/lennon-2.jpg",
    "rose": f"{KNN}/rose_leslie/img1.jpg",
}
FRAMES = 150
FIVE, ONE = "five faces", "one face"  # the two scenes
# label, settings overrides, detect_every, --roi, scene
CONFIGS: list[tuple[str, dict[str, Any], int, bool, str]] = [
    ("SCRFD-2.5G 640, every frame", {"det_size": 640}, 1, False, FIVE),
    ("SCRFD-2.5G 480, every frame", {"det_size": 480}, 1, False, FIVE),
    ("SCRFD-2.5G 320, every frame", {"det_size": 320}, 1, False, FIVE),
    ("SCRFD-2.5G 640, every 2nd frame", {"det_size": 640}, 2, False, FIVE),
    ("SCRFD-2.5G 480, every 2nd frame", {"det_size": 480}, 2, False, FIVE),
    ("SCRFD-2.5G 640, every 3rd frame", {"det_size": 640}, 3, False, FIVE),
    ("SCRFD-500M 640, every frame", {"detector": "scrfd_500m_bnkps"}, 1, False, FIVE),
    ("SCRFD-2.5G 640, every 2nd frame, --roi", {"det_size": 640}, 2, True, FIVE),
    ("SCRFD-2.5G auto, every frame", {"det_size": 0}, 1, False, FIVE),
    ("SCRFD-2.5G auto, every 2nd frame, --roi", {"det_size": 0}, 2, True, FIVE),
    ("one face: SCRFD-2.5G 640, every frame", {"det_size": 640}, 1, False, ONE),
    ("one face: SCRFD-2.5G 640, every frame, --roi", {"det_size": 640}, 1, True, ONE),
    ("one face: SCRFD-2.5G 640, every 2nd frame", {"det_size": 640}, 2, False, ONE),
    ("one face: SCRFD-2.5G 640, every 2nd frame, --roi", {"det_size": 640}, 2, True, ONE),
    ("one face: SCRFD-2.5G auto, every 2nd frame, --roi", {"det_size": 0}, 2, True, ONE),
]
HEADING = "## Live watch"
# What threads 0 means for a watch (facedb.watch.loop.watch_settings).
ONE_A_MODEL = "1 a model, a frame's embeddings beside the next detector on the other core"
# What `facedb watch` does on a camera.
LIVE_DEFAULT = "SCRFD-2.5G auto, every 2nd frame, --roi"
TARGET_FPS = BY_KEY["watch.fps"].value  # benchmarks/targets.py


@dataclass(frozen=True)
class Row:
    label: str
    summary: WatchSummary
    cpu_ms: float  # process CPU time per processed frame
    scene: str = FIVE
    in_regions: int = 0  # detections that searched only around the tracks
    detections: int = 0
    liveness: bool = False  # faces judged live or attacks (on for live sources)


def one_at_a_time(faces: Path, pipeline: FacePipeline) -> list[Actor]:
    crop = {name: face_crop(pipeline, faces / SCENE[name]) for name in ("obama", "biden", "adams")}
    third = FRAMES // 3
    return [
        Actor("obama", crop["obama"], 0, third, 100, 100, dx=2),
        Actor("biden", crop["biden"], third, 2 * third, 400, 150, dx=-2),
        Actor("adams", crop["adams"], 2 * third, FRAMES, 200, 250, dy=-1),
    ]


def scene(faces: Path, pipeline: FacePipeline) -> list[Actor]:
    crop = {name: face_crop(pipeline, faces / path) for name, path in SCENE.items()}
    half = FRAMES // 2
    return [
        Actor("obama", crop["obama"], 0, FRAMES, 10, 20, dx=1),
        Actor("adams", crop["adams"], 0, half, 230, 20, dy=1),
        Actor("carell", crop["carell"], 0, FRAMES, 450, 20, dx=-1),
        Actor("biden", crop["biden"], 0, half, 110, 280, dx=1),
        Actor("clapton", crop["clapton"], 0, FRAMES, 340, 280, dy=-1),
        Actor("lennon", crop["lennon"], half, FRAMES, 230, 40, dy=1),
        Actor("rose", crop["rose"], half, FRAMES, 110, 290, dx=-1),
    ]


def measure(
    label: str, settings: Settings, options: WatchOptions, scene: str = FIVE, live: bool = False
) -> Row:
    service = FaceService(watch_settings(settings.replace(cooldown=0.0)))  # as the CLI
    service.pipeline.load()
    liveness = service.pipeline.liveness_enabled(live)
    frames: list[WatchFrame] = []
    cpu = time.process_time()
    summary = watch(service, options, on_frame=frames.append)
    cpu_ms = (time.process_time() - cpu) * 1000 / max(summary.frames, 1)
    service.close()
    in_regions = sum(f.in_regions for f in frames)
    detections = sum(f.detected for f in frames)
    row = Row(label, summary, cpu_ms, scene, in_regions, detections, liveness)
    print(
        f"{label:48s} {summary.fps:5.1f} frames/s  CPU {cpu_ms:5.1f} ms/frame  "
        f"({summary.frames} processed, {summary.dropped} dropped; {in_regions} of "
        f"{detections} detections in regions; accepted "
        f"{summary.accepted}, unknown {summary.unknown}, spoof {summary.spoofs}, "
        f"tracks {summary.tracks}, "
        f"handovers {summary.handovers})",
        flush=True,
    )
    return row


def section(rows: list[Row], threads: int, load: float, live_fps: float) -> str:
    cpu = cpu_model()
    lines = [
        HEADING,
        "",
        f"`facedb watch` on a 640x480 video of {FRAMES} frames with five faces in view all "
        "the time (head-and-shoulders crops of shared photos, faces about 75 px; two people "
        "leave halfway and two others come in where they stood; three of the seven are "
        "enrolled). Made by `python benchmarks/watch.py --threads "
        f"{threads} --write docs/BENCHMARKS.md` on {date.today().isoformat()}: "
        f"{os.cpu_count()} cores ({cpu}), onnxruntime {ort.__version__} on the CPU, "
        f"onnxruntime threads {threads or ONE_A_MODEL}, Python {platform.python_version()}, "
        f"load average {load:.1f} at the start. The rows marked *one face* watch another "
        f"{FRAMES} frames, where three people walk past one after another (two enrolled).",
        "",
        "*Processed frames/s* is the wall clock of the whole loop (decode, detect, track, "
        "embed, one SQL query per frame with new faces, log). It depends on what else the "
        "machine runs: these runs shared it with other jobs (see the load average), so "
        "they are lower bounds. *CPU ms/frame* is the process's CPU time per frame, which "
        "other jobs change far less; with one onnxruntime thread, 1000 / CPU ms is the "
        "frame rate on one free core.",
        "",
        "| setting | processed frames/s (wall) | CPU ms / frame | frames/s on one free core "
        "| accepted / unknown / spoof / handovers |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        s = row.summary
        dropped = f" ({s.dropped} of {s.frames + s.dropped} dropped)" if s.dropped else ""
        lines.append(
            f"| {row.label} | {s.fps:.1f}{dropped} | {row.cpu_ms:.0f} | "
            f"{1000 / row.cpu_ms:.0f} | {s.accepted} / {s.unknown} / {s.spoofs} / "
            f"{s.handovers} |"
        )
    lines += [
        "",
        "Where the time of a frame goes with five faces on 2 cores: the detector is most "
        "of it (an embedding is about 30-40 ms a face, but a track is embedded only until "
        "it is decided, then re-checked every 6 frames, at most two faces a frame). So `facedb watch` runs SCRFD on every other frame of a live "
        "source and moves the boxes by tracking in between (`--detect-every`, default 2 "
        "for a camera or stream, 1 for a file), which halves the detector's share; "
        "`--det-size 480` or 320, or the SCRFD-500M detector "
        "(`FACEDB_DETECTOR=scrfd_500m_bnkps`), cut it further at some cost in small "
        "faces. A live source never falls behind: frames that arrive while one is being "
        f"processed are dropped and counted (the last rows: a stream served at {live_fps:g} "
        "frames/s with the defaults, where liveness is on as for every live source, and "
        "the same with liveness off; the scene's faces are pasted photos, and the liveness "
        "model judges some of them presentation attacks, the *spoof* column). Before a "
        "live source is opened the models run twice on blank inputs (FacePipeline."
        "warm_up): onnxruntime's first runs of a session cost 100-150 ms, which a camera "
        f"would pay as dropped frames on its first faces. {_regions(rows)} "
        f"{_agreement(rows)}",
        "",
        _target(rows),
    ]
    return "\n".join(lines) + "\n"


def _target(rows: list[Row]) -> str:
    files = [r for r in rows if r.scene == FIVE and not r.label.startswith("live stream")]
    met = [r for r in files if r.summary.fps >= TARGET_FPS]
    default = next((r for r in files if r.label == LIVE_DEFAULT), None)
    live = next((r for r in rows if r.label.startswith("live stream") and r.liveness), None)
    text = (
        f"Target, at least {TARGET_FPS:g} processed frames/s at 640x480 with up to five "
        f"faces on 2 cores, no frame of a {TARGET_FPS:g} frames/s source dropped: "
        f"{len(met)} of the {len(files)} file settings reach that rate"
    )
    if default is not None:
        text += f"; the live default ({LIVE_DEFAULT}) runs at {default.summary.fps:.1f}"
    if live is not None:
        s = live.summary
        verdict = s.dropped == 0  # every frame processed as it came: the source's rate
        text += (
            f"; a stream served at {TARGET_FPS:g} frames/s with the defaults (liveness on, "
            f"as for every live source): {s.fps:.1f} processed, {s.dropped} of "
            f"{s.frames + s.dropped} dropped, {'**met**' if verdict else '**not met**'}"
        )
    return text + "."


def _regions(rows: list[Row]) -> str:
    """What ``--roi`` did in the rows that used it."""
    used = [r for r in rows if r.label.endswith("--roi")]
    if not used:
        return ""
    counts = "; ".join(f"{r.label}: {r.in_regions} of {r.detections}" for r in used)
    return (
        "With `--roi` (the default) the detector searches only around the tracks, and "
        f"the whole frame every {FULL_EVERY}th detection, when there is no track, or "
        f"when the regions would cover more than {ROI_MAX_SHARE:.0%} of the frame, as "
        f"five faces of this size do. Detections that searched only the regions: {counts}."
    )


def _agreement(rows: list[Row]) -> str:
    texts = []
    for scene in (FIVE, ONE):
        files = [
            r.summary
            for r in rows
            if r.summary.dropped == 0 and r.scene == scene and not r.liveness
        ]
        outcomes = {(s.accepted, s.unknown, s.handovers) for s in files}
        if len(outcomes) > 1:
            texts.append(f"With {scene}, the settings did not all make the same decisions.")
        elif outcomes:
            accepted, unknown, handovers = outcomes.pop()
            streamed = any(r.scene == scene and r.label.startswith("live stream") for r in rows)
            which = " (the files, and the stream with liveness off)" if streamed else ""
            texts.append(
                f"With {scene}, every setting that read every frame without liveness{which} "
                "made the same "
                f"decisions: {accepted} accepted, {unknown} unknown, {handovers} track(s) "
                "handed over from one person to another and noticed."
            )
    return " ".join(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="shared faces folder")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads, 0 = all")
    parser.add_argument("--only", type=int, nargs="*", help="indices of CONFIGS to run")
    parser.add_argument(
        "--live-fps",
        type=float,
        default=30.0,
        help="also watch the scene as a live MJPEG stream at this rate (0: don't)",
    )
    parser.add_argument("--write", type=Path, help="write the section into this Markdown file")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="facedb-watch-bench-"))
    own_server = not os.environ.get("FACEDB_DATABASE_URL")
    base = Settings.load({"home": work / "home" if own_server else None, "threads": args.threads})
    off = base.replace(liveness="off")
    try:
        enrolling = FaceService(base)
        video = write_video(work / "scene.avi", scene(args.faces, enrolling.pipeline), FRAMES)
        videos = {
            FIVE: video,
            ONE: write_video(
                work / "one.avi", one_at_a_time(args.faces, enrolling.pipeline), FRAMES
            ),
        }
        for name, path in ENROL.items():
            enrolling.enrol(name, str(args.faces / path))
        enrolling.close()
        load = os.getloadavg()[0]
        print(f"{FRAMES} frames 640x480, 5 faces in view; load average {load:.1f}")
        rows = []
        chosen = [CONFIGS[i] for i in args.only or range(len(CONFIGS))]
        for label, overrides, every, roi, name in chosen:
            options = WatchOptions(source=str(videos[name]), detect_every=every, roi=roi)
            rows.append(measure(label, base.replace(**overrides), options, name))
        if args.live_fps > 0:
            for label, settings in (("defaults", base), ("liveness off", off)):
                with mjpeg_server(read_frames(video), args.live_fps, connections=1) as url:
                    options = WatchOptions(source=url, reconnect_attempts=0)
                    label = f"live stream at {args.live_fps:g} frames/s, {label}"
                    rows.append(measure(label, settings, options, live=True))
    finally:
        if own_server:
            with embedded.home_lock(work / "home"):
                embedded.stop(work / "home")
    if args.write is not None:
        write_section(args.write, HEADING, section(rows, args.threads, load, args.live_fps))
        live = next((r for r in rows if r.label.startswith("live stream") and r.liveness), None)
        if live is not None:
            s = live.summary
            # No frame dropped: every frame processed as the source gave it.
            fps = TARGET_FPS if s.dropped == 0 else s.fps
            record_measured(
                "watch.fps",
                fps,
                f"a {args.live_fps:g} frames/s stream with the defaults (liveness on): "
                f"{s.fps:.1f} processed, {s.dropped} of {s.frames + s.dropped} dropped",
            )
        print(f"wrote the {HEADING[3:]!r} section of {args.write}")


if __name__ == "__main__":
    main()
