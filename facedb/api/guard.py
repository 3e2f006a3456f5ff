"""What a key may learn from verification (docs/API.md "What a kiosk key learns").

- **Rate limit**: each key may have at most ``limit`` decided attempts (verify and
  identify requests answered 200: a face was matched) in any 60 s; the next one is
  429 ``rate_limited`` with Retry-After, before its images are read. An empty scene
  or a poor face (422 ``no_face``, ``bad_quality``) is not counted: the kiosk page
  polls them twice a second, and they tell nothing about the gallery. The kiosk page
  itself decides at most 40 times a minute (a refusal stays 1.5 s on screen).
  settings.verify_rate_limit, FACEDB_VERIFY_RATE_LIMIT (0: no limit).
- **Kiosk keys learn no similarity below the threshold**: a decision that is not an
  acceptance has no similarity and no person; a claimed name answers ``rejected``
  whether it is enrolled or not (an unknown name is no 404: it would tell whom the
  gallery holds; the attempt is logged as a rejected verification with no claimed
  person, after the same capture of the faces); identify gives no similarity for a
  face it does not name. Admin and reporter keys see
  everything, 404 included.
"""

from __future__ import annotations

import collections
import math
import threading
import time
import uuid
from datetime import UTC, datetime

from facedb.api.errors import ApiError
from facedb.api.schemas import IdentifyOut, VerifyOut

WINDOW_S = 60.0


class AttemptLimiter:
    """At most ``limit`` attempts per key in any WINDOW_S seconds (0: no limit)."""

    def __init__(self, limit: int, clock: collections.abc.Callable[[], float] = time.monotonic):
        if limit < 0:
            raise ValueError(f"the attempt limit is at least 0, not {limit}")
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, collections.deque[float]] = {}

    def _recent(self, key: str, now: float) -> collections.deque[float]:
        times = self._seen.setdefault(key, collections.deque())
        while times and times[0] <= now - WINDOW_S:
            times.popleft()
        return times

    def check(self, key: str) -> None:
        """Raises ApiError 429 when ``key`` has used its attempts of the window."""
        if self.limit == 0:
            return
        with self._lock:
            now = self._clock()
            times = self._recent(key, now)
            if len(times) >= self.limit:
                wait = max(1, math.ceil(times[0] + WINDOW_S - now))
                raise ApiError(
                    429,
                    "rate_limited",
                    f"at most {self.limit} verification attempts per minute for this key; "
                    f"try again in {wait} s",
                    {"Retry-After": str(wait)},
                )

    def charge(self, key: str) -> None:
        """Counts one decided attempt of ``key``."""
        if self.limit == 0:
            return
        with self._lock:
            now = self._clock()
            self._recent(key, now).append(now)


def kiosk_verify(out: VerifyOut) -> VerifyOut:
    """What a kiosk key sees of a verification: the similarity of an acceptance only
    (an attacker tuning an image learns nothing until it is accepted)."""
    if out.accepted:
        return out
    return out.model_copy(update={"similarity": None, "person": None})


def kiosk_identify(out: IdentifyOut) -> IdentifyOut:
    """What a kiosk key sees of a look-up: the similarity of named faces only."""
    faces = [
        f if f.name is not None else f.model_copy(update={"similarity": None}) for f in out.faces
    ]
    return out.model_copy(update={"faces": faces})


def unknown_claim(
    claimed: str, threshold: float, source: str, model: str, images: int
) -> VerifyOut:
    """A kiosk key's answer to a claimed name nobody is enrolled under: the same as a
    rejected claim."""
    return VerifyOut(
        decision="rejected",
        accepted=False,
        kind="verify",
        person=None,
        claimed=claimed,
        similarity=None,
        threshold=threshold,
        threshold_source=source,
        logged=True,
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        model=model,
        images=images,
        faces=[],
    )
