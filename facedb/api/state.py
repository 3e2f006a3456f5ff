"""What one application (one worker) shares between its requests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from facedb.api.guard import AttemptLimiter
from facedb.config import Settings
from facedb.service import FaceService

T = TypeVar("T")

# Requests analysing images at once. onnxruntime already spreads one inference over
# every core, so more parallel inferences only add memory and latency.
INFERENCE_SLOTS = 2


@dataclass(frozen=True)
class ApiState:
    """One FaceService (models loaded once, one engine) for every request; each
    service call opens its own SQLAlchemy session, so requests share no session."""

    settings: Settings
    service: FaceService
    inference: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(INFERENCE_SLOTS)
    )
    # Verification attempts per key (facedb/api/guard.py); create_app sets the limit.
    attempts: AttemptLimiter = field(default_factory=lambda: AttemptLimiter(0))

    async def run(self, work: Callable[[], T]) -> T:
        """Blocking database work, in a worker thread (never on the event loop)."""
        return await run_in_threadpool(work)

    async def infer(self, work: Callable[[], T]) -> T:
        """Image decoding and inference, in a worker thread, INFERENCE_SLOTS at a time."""

        def limited() -> T:
            with self.inference:
                return work()

        return await run_in_threadpool(limited)


def state_of(request: Request) -> ApiState:
    state = request.app.state.facedb
    if not isinstance(state, ApiState):
        raise RuntimeError("the application was not built by facedb.api.app.create_app")
    return state
