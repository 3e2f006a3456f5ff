"""Kiosks for the reliability tests: a pipeline that analyses each distinct image once,
and a process entry point (``python tests/kiosk_worker.py MODE ...``).

MemoPipeline runs the real models on the first sight of an image and returns the
same analysis afterwards, so that hundreds of verifications run the real service
code (decision, threshold, cooldown, logging, outage fall-back, spool) and the real
PostgreSQL in seconds. Settings come from the FACEDB_* environment, as for a kiosk.

Modes (each prints one JSON object on stdout):

    verify IMAGE COUNT        COUNT verifications (1:N) of one image
    enrol NAME FOLDER         one enrolment (real pipeline on every image)
    replay [--pause S]        `facedb spool replay`, pausing S seconds inside each
                              batch's transaction (so that a test can kill it there)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from facedb.config import Settings
from facedb.errors import FacedbError
from facedb.offline import sync
from facedb.offline.spool import BatchOutcome
from facedb.service import FaceService
from facedb.vision.pipeline import FacePipeline
from facedb.vision.types import AnalysedFace


class MemoPipeline(FacePipeline):
    """The real pipeline, each distinct image analysed once."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._memo: dict[str, list[AnalysedFace]] = {}

    def analyse(
        self, images: Sequence[np.ndarray], *args: Any, **kwargs: Any
    ) -> list[list[AnalysedFace]]:
        keys = [hashlib.sha1(np.ascontiguousarray(i).tobytes()).hexdigest() for i in images]
        missing = [(k, i) for k, i in zip(keys, images, strict=True) if k not in self._memo]
        if missing:
            fresh = super().analyse([i for _, i in missing], *args, **kwargs)
            for (key, _), faces in zip(missing, fresh, strict=True):
                self._memo[key] = faces
        return [self._memo[k] for k in keys]


def verify_many(service: FaceService, image: str, count: int) -> list[dict[str, Any]]:
    results = []
    for _ in range(count):
        result = service.verify(image)
        results.append(
            {
                "event_id": str(result.event_id),
                "decision": result.decision,
                "name": result.name,
                "offline": result.offline,
                "logged": result.logged,
            }
        )
    return results


def _slow_replays(pause: float) -> None:
    write_spooled = sync.write_spooled

    def paused(session: Any, events: Any) -> BatchOutcome:
        outcome = write_spooled(session, events)
        time.sleep(pause)  # inside the transaction: a kill here loses this batch's commit
        return outcome

    sync.write_spooled = paused


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    verify = sub.add_parser("verify")
    verify.add_argument("image")
    verify.add_argument("count", type=int)
    enrol = sub.add_parser("enrol")
    enrol.add_argument("name")
    enrol.add_argument("folder")
    replay = sub.add_parser("replay")
    replay.add_argument("--pause", type=float, default=0.0)
    args = parser.parse_args(argv)

    settings = Settings.load()
    service = FaceService(settings, pipeline=MemoPipeline(settings))
    try:
        if args.mode == "verify":
            output: Any = {"results": verify_many(service, args.image, args.count)}
        elif args.mode == "enrol":
            result = service.enrol(args.name, args.folder, frames=100, largest=True, force=True)
            output = {"name": result.name, "added": result.added}
        else:
            if args.pause:
                _slow_replays(args.pause)
            replayed = service.replay_spool()
            output = {"sent": replayed.sent, "inserted": replayed.inserted}
    except FacedbError as exc:
        output = {"error": type(exc).__name__, "message": exc.message}
    finally:
        service.close()
    print(json.dumps(output))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
