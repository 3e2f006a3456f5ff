"""How a watch decides and records: facedb/decision.py, recorded by the Recorder
(usecases/recording.py) as verify's decisions are, online or in a database outage,
with the same 1:N policy and scope as verify.

Each decision a frame asks for (a track's new probe, or a track whose latest faces
are attacks) is made by decision.screen / decision.judge_search against the policy
of the gallery searched (usecases/thresholds.search_policy: the threshold for the
size of the scope searched, FACEDB_SEARCH_SITE / FACEDB_SEARCH_GROUP, at the target
FPIR, the margin over the second person; the gallery's size is read through the
runtime's one cache). The Recorder writes the row, its outbox message and the
evidence of a doubtful decision (the track's faces: a stranger reaches the review
queue with a face to look at), and counts the metrics once committed.

Online, the decisions of a frame are recorded in one transaction. When the database
is unreachable, the same decisions are made from the kiosk's gallery cache (which
knows the sites and groups) and spooled, and the database is tried again every
RETRY_S seconds; back online, the spool is replayed (each event exactly once: an
event keeps its event_id whichever way it is logged). With no usable cache, only
spoof decisions are made offline; tracks wait undecided for the database.

The cooldown runs on the source's clock (loop.py); a person's first acceptance also
asks the Recorder (under the database's lock on the person, or the spool), so that a
row logged by `facedb verify` or an earlier watch on this device within the cooldown
is not repeated.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from facedb.decision import Policy, Verdict, judge_search, screen
from facedb.domain.people import Match
from facedb.errors import DatabaseUnreachableError, NoGalleryCacheError
from facedb.matching import Matcher
from facedb.offline.matcher import CacheMatcher
from facedb.service import FaceService
from facedb.usecases.recording import Decision, Recorder, Recording
from facedb.usecases.thresholds import choose_threshold, search_policy
from facedb.vision.capture import mean_embedding
from facedb.watch.events import WatchEvent
from facedb.watch.identity import TrackIdentity, settle, to_log

log = logging.getLogger(__name__)

RETRY_S = 5.0  # offline: seconds between two attempts to reach the database again
SYNC_EVERY_S = 60.0  # online: spool replay and gallery cache refresh at most this often


@dataclass(frozen=True)
class Request:
    """One decision a frame asks for."""

    track: TrackIdentity
    spoof: bool  # on the track's attack faces (else: on its probe)
    frame: int
    clock: float  # seconds on the source's clock
    event_id: uuid.UUID  # the same online and, after a failure, offline
    occurred_at: datetime


def request(track: TrackIdentity, spoof: bool, frame: int, clock: float) -> Request:
    return Request(track, spoof, frame, clock, uuid.uuid4(), datetime.now(UTC))


@dataclass(frozen=True)
class _Outcome:
    request: Request
    verdict: Verdict
    nearest: Match | None
    event: WatchEvent | None  # what to tell and record; None: nothing to say yet


class Decider:
    """The decisions of one watch, and whether it is online."""

    def __init__(
        self, service: FaceService, override: float | None, *, retry_s: float = RETRY_S
    ) -> None:
        self.service = service
        self.recorder = Recorder(service)
        self.retry_s = retry_s
        self.settings = service.settings
        self.override = override
        self.model = service.pipeline.embedder_name
        self.site = self.settings.search_site
        self.group = self.settings.search_group
        self.offline = False
        self.outages = 0  # times the database went away during the watch
        self._retry_at = 0.0
        self._cache: CacheMatcher | None = None
        self._no_cache_said = False
        self._same_person: float | None = None
        self._synced_at = 0.0
        self._last_logged: dict[int, float] = {}  # user id -> clock of the row logged

    @property
    def same_person(self) -> float:
        """The 1:1 threshold: a track's face below it against the track's template is
        somebody else's (read by start)."""
        if self._same_person is None:
            raise RuntimeError("Decider.start was not called")
        return self._same_person

    @property
    def scope(self) -> str | None:
        parts = [f"site:{self.site}"] if self.site else []
        parts += [f"group:{self.group}"] if self.group else []
        return ",".join(parts) or None

    def start(self) -> None:
        """Reads the policy (and, online, writes or refreshes the gallery cache for an
        outage); a database already unreachable makes the watch start offline."""
        try:
            with self.recorder.online() as recording:
                self._read_policy(recording.matcher)
        except DatabaseUnreachableError as exc:
            self._go_offline(exc)
            self._cache = self.service.offline_matcher()
            self._read_policy(self._cache)
        else:
            self._sync(force=True)

    def decide(self, requests: Sequence[Request]) -> list[WatchEvent]:
        """Makes and records the decisions; returns the events to tell, once committed."""
        if not self.offline or time.monotonic() >= self._retry_at:
            try:
                with self.recorder.online() as recording:
                    outcomes = self._plan(recording, requests)
            except DatabaseUnreachableError as exc:
                self._go_offline(exc)
            else:
                if self.offline:
                    log.warning("the database is reachable again: deciding online")
                    self.offline = False
                    self._cache = None
                self._sync(force=False)
                return self._commit(outcomes)
        if self._cache is None:
            self._cache = self.service.offline_matcher()
        with self.recorder.through(self._cache) as recording:
            outcomes = self._plan(recording, requests)
        return self._commit(outcomes)

    def _go_offline(self, exc: DatabaseUnreachableError) -> None:
        if not self.offline:
            log.warning("%s: deciding from the gallery cache, events are spooled", exc.message)
            self.offline = True
            self.outages += 1
            self._cache = None
        self._retry_at = time.monotonic() + self.retry_s

    def _sync(self, *, force: bool) -> None:
        """Replays the spool and refreshes the gallery cache when due (a failure is
        logged by the service)."""
        now = time.monotonic()
        if force or now - self._synced_at >= SYNC_EVERY_S or self.service.spool.has_pending():
            self._synced_at = now
            self.service.sync(refresh_cache=True)

    def _read_policy(self, matcher: Matcher) -> tuple[Policy, list[int] | None] | None:
        """The 1:N policy of this watch's scope through ``matcher`` (the gallery's size
        comes from the runtime's cache of it); None offline without a usable gallery
        cache. Sets the 1:1 threshold a track's faces are held to."""
        self._same_person = choose_threshold(self.service, matcher, self.override).value
        try:
            scope = matcher.scope(self.site, self.group)
            return search_policy(self.service, matcher, self.override, scope), scope
        except NoGalleryCacheError as exc:
            if not self._no_cache_said:
                log.warning("%s: tracks wait undecided for the database", exc.message)
                self._no_cache_said = True
            return None

    # -- one frame's decisions -------------------------------------------------------

    def _plan(self, recording: Recording, requests: Sequence[Request]) -> list[_Outcome]:
        """The decisions, recorded by ``recording``; the tracks are not changed (that
        is done once the recording committed)."""
        matcher = recording.matcher
        read = self._read_policy(matcher) if requests else None
        policy, scope = read if read is not None else (None, None)
        outcomes = []
        for req in requests:
            track = req.track
            nearest: Match | None = None
            candidates: list[Match] = []
            stage: str | None = None
            if req.spoof:
                used = track.attacks
                verdict = screen(
                    [c for c in used if c.face.quality.accepted],
                    [c for c in used if not c.face.quality.accepted],
                    (),
                    self.settings.liveness_threshold,
                )
            else:
                if policy is None:
                    continue
                used = track.used()
                verdict = screen(used, (), (), self.settings.liveness_threshold)
                if verdict is None:
                    found = matcher.search(
                        mean_embedding(used),
                        self.model,
                        scope,
                        policy.search_threshold,
                        policy.margin,
                    )
                    candidates, stage = found.matches, found.stage
                    verdict = judge_search(candidates, policy.search_threshold, policy.margin)
                    nearest = candidates[0] if candidates else None
            if verdict is None or not to_log(track, verdict):
                outcomes.append(_Outcome(req, verdict or _PENDING, nearest, None))
                continue
            person = verdict.person.user_id if verdict.person is not None else None
            clock_repeat = self._clock_repeat(person, req)
            if clock_repeat:
                recorded = None
            else:
                recorded = recording.record(
                    Decision(
                        verdict=verdict,
                        kind="identify",
                        policy=policy,
                        faces=used,
                        device=self.settings.device_name,
                        model=self.model,
                        event_id=req.event_id,
                        occurred_at=req.occurred_at,
                        candidates=candidates,
                        scope=self.scope,
                        search_stage=stage,
                    ),
                    cooldown=clock_repeat is None,
                )
            logged = recorded is not None and recorded.logged
            event = recorded.event if recorded is not None else None
            told = WatchEvent(
                decision=verdict.decision,
                name=verdict.person.name if verdict.person else None,
                user_id=person,
                similarity=verdict.similarity,
                nearest=nearest.name if nearest is not None else None,
                threshold=policy.search_threshold if policy is not None else None,
                track_id=track.track_id,
                frame=req.frame,
                media_time=req.clock,
                occurred_at=req.occurred_at,
                logged=logged,
                event_id=req.event_id if logged else None,
                liveness=event.liveness if event is not None else None,
                offline=matcher.offline,
                runner_up=verdict.runner_up,
                threshold_source=policy.search_source if policy is not None else None,
                gallery_persons=event.gallery_persons if event is not None else None,
            )
            outcomes.append(_Outcome(req, verdict, nearest, told))
        return outcomes

    def _clock_repeat(self, person: int | None, req: Request) -> bool | None:
        """Whether an acceptance of this person falls within the cooldown on the
        source's clock: None when this watch has not logged them (the Recorder asks
        the database or the spool)."""
        if person is None:
            return False
        if self.settings.cooldown <= 0:
            return False
        last = self._last_logged.get(person)
        return None if last is None else req.clock - last < self.settings.cooldown

    def _commit(self, outcomes: list[_Outcome]) -> list[WatchEvent]:
        """The tracks and the cooldown take the committed decisions."""
        told = []
        for outcome in outcomes:
            event = outcome.event
            settle(outcome.request.track, outcome.verdict, outcome.nearest, event is not None)
            if event is None:
                continue
            if event.logged and event.user_id is not None:
                self._last_logged[event.user_id] = outcome.request.clock
            told.append(event)
        return told


# A probe not decided yet (no usable face): nothing is recorded on the track.
_PENDING = Verdict("pending", None, None, None)
