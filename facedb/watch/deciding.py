"""How a watch decides and logs: facedb/decision.py through the Matcher, online or in
a database outage, with the same 1:N policy as verify.

Each decision a frame asks for (a track's new probe, or a track whose latest faces
are attacks) is made by decision.screen / decision.judge_search against the policy
of the gallery searched (policy.search_policy: the threshold for the gallery's size
at the target FPIR, the margin over the second person), and logged through the
Matcher with the policy that made it, the liveness score and the event's identity.

Online, the decisions of a frame are made and logged in one transaction
(SqlMatcher). When the database is unreachable, the same decisions are made from the
kiosk's gallery cache and spooled (CacheMatcher), and the database is tried again
every RETRY_S seconds; back online, the spool is replayed (each event exactly once:
an event keeps its event_id whichever way it is logged). With no usable cache, only
spoof decisions are made offline; tracks wait undecided for the database.

The cooldown runs on the source's clock (loop.py); a person's first acceptance also
asks the Matcher (under the database's lock on the person, or the spool), so that a
row logged by `facedb verify` or an earlier watch on this device within the cooldown
is not repeated.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from facedb.decision import Policy, Verdict, judge_search, least_live, screen
from facedb.domain.attendance import AttendanceEvent
from facedb.domain.people import Match
from facedb.errors import DatabaseUnreachableError, NoGalleryCacheError
from facedb.matching import Matcher, SqlMatcher
from facedb.offline.matcher import CacheMatcher
from facedb.service import FaceService
from facedb.vision.capture import CapturedFace, mean_embedding
from facedb.watch.events import WatchEvent
from facedb.watch.identity import TrackIdentity, settle, to_log

log = logging.getLogger(__name__)

RETRY_S = 5.0  # offline: seconds between two attempts to reach the database again
POLICY_TTL_S = 60.0  # the policy (gallery size, calibration) is read again after this
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
        self.retry_s = retry_s
        self.settings = service.settings
        self.override = override
        self.model = service.pipeline.embedder_name
        self.default_threshold = service.pipeline.registry.spec(self.model).threshold
        self.offline = False
        self.outages = 0  # times the database went away during the watch
        self._retry_at = 0.0
        self._cache: CacheMatcher | None = None
        self._no_cache_said = False
        self._policies: dict[bool, tuple[Policy, float]] = {}  # offline -> (policy, when)
        self._synced_at = 0.0
        self._last_logged: dict[int, float] = {}  # user id -> clock of the row logged

    @property
    def same_person(self) -> float:
        """The 1:1 threshold: a track's face below it against the track's template is
        somebody else's."""
        for policy, _ in self._policies.values():
            return policy.one_to_one.value
        return self.default_threshold if self.default_threshold is not None else 0.3

    def start(self) -> None:
        """Reads the policy (and, online, writes or refreshes the gallery cache for an
        outage); a database already unreachable makes the watch start offline."""
        try:
            with self.service.transaction() as session:
                self._policy(SqlMatcher(session, self.settings.ef_search))
        except DatabaseUnreachableError as exc:
            self._go_offline(exc)
        else:
            self._sync(force=True)

    def decide(self, requests: Sequence[Request]) -> list[WatchEvent]:
        """Makes and logs the decisions; returns the events to tell, once committed."""
        if not self.offline or time.monotonic() >= self._retry_at:
            try:
                with self.service.transaction() as session:
                    matcher = SqlMatcher(
                        session,
                        self.settings.ef_search,
                        self.settings.search_clear,
                        candidates=self.settings.search_candidates,
                    )
                    outcomes = self._plan(matcher, requests)
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
        return self._commit(self._plan(self._cache, requests))

    def _go_offline(self, exc: DatabaseUnreachableError) -> None:
        if not self.offline:
            log.warning("%s: deciding from the gallery cache, events are spooled", exc.message)
            self.offline = True
            self.outages += 1
            self._cache = None
            self._policies.pop(True, None)
        self._retry_at = time.monotonic() + self.retry_s

    def _sync(self, *, force: bool) -> None:
        """Replays the spool and refreshes the gallery cache when due (a failure is
        logged by the service)."""
        now = time.monotonic()
        if force or now - self._synced_at >= SYNC_EVERY_S or self.service.spool.has_pending():
            self._synced_at = now
            self.service.sync(refresh_cache=True)

    def _policy(self, matcher: Matcher) -> Policy | None:
        """The 1:N policy through ``matcher``, read again every POLICY_TTL_S; None
        offline without a usable gallery cache."""
        kept = self._policies.get(matcher.offline)
        now = time.monotonic()
        if kept is not None and now - kept[1] < POLICY_TTL_S:
            return kept[0]
        try:
            policy = self.service.decision_policy(matcher, self.override)
        except NoGalleryCacheError as exc:
            if not self._no_cache_said:
                log.warning("%s: tracks wait undecided for the database", exc.message)
                self._no_cache_said = True
            return None
        self._policies[matcher.offline] = (policy, now)
        return policy

    # -- one frame's decisions -------------------------------------------------------

    def _plan(self, matcher: Matcher, requests: Sequence[Request]) -> list[_Outcome]:
        """The decisions, logged through ``matcher``; the tracks are not changed (that
        is done once the matcher committed)."""
        policy = self._policy(matcher)
        threshold = policy.search_threshold if policy is not None else None
        outcomes = []
        planned: set[int] = set()  # people logged by this plan (two tracks, one person)
        for req in requests:
            track = req.track
            nearest: Match | None = None
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
                        None,
                        policy.search_threshold,
                        policy.margin,
                    )
                    candidates, stage = found.matches, found.stage
                    verdict = judge_search(candidates, policy.search_threshold, policy.margin)
                    nearest = candidates[0] if candidates else None
            if verdict is None or not to_log(track, verdict):
                outcomes.append(_Outcome(req, verdict or _PENDING, nearest, None))
                continue
            event = self._event(req, verdict, used, policy, matcher.offline, stage)
            repeat = verdict.person is not None and self._repeat(
                matcher, verdict.person.user_id, req, planned
            )
            if not repeat:
                matcher.log_event(event)
                if verdict.person is not None:
                    planned.add(verdict.person.user_id)
            told = WatchEvent(
                decision=verdict.decision,
                name=verdict.person.name if verdict.person else None,
                user_id=verdict.person.user_id if verdict.person else None,
                similarity=verdict.similarity,
                nearest=nearest.name if nearest is not None else None,
                threshold=threshold,
                track_id=track.track_id,
                frame=req.frame,
                media_time=req.clock,
                occurred_at=req.occurred_at,
                logged=not repeat,
                event_id=None if repeat else req.event_id,
                liveness=event.liveness,
                offline=matcher.offline,
                runner_up=verdict.runner_up,
                threshold_source=event.threshold_source,
                gallery_persons=event.gallery_persons,
            )
            outcomes.append(_Outcome(req, verdict, nearest, told))
        return outcomes

    def _event(
        self,
        req: Request,
        verdict: Verdict,
        used: Sequence[CapturedFace],
        policy: Policy | None,
        offline: bool,
        stage: str | None,
    ) -> AttendanceEvent:
        """The attendance row, with the policy that decided (as verify fills it)."""
        weakest = least_live(used)
        open_set = policy.open_set if policy is not None else None
        return AttendanceEvent(
            event_id=req.event_id,
            occurred_at=req.occurred_at,
            kind="identify",
            decision=verdict.decision,
            user_id=verdict.person.user_id if verdict.person else None,
            claimed_user_id=None,
            similarity=verdict.similarity,
            threshold=policy.search_threshold if policy is not None else None,
            liveness=weakest.face.liveness if weakest is not None else None,
            device=self.settings.device_name,
            model=self.model,
            offline=offline,
            threshold_source=policy.search_source if policy is not None else None,
            gallery_persons=open_set.persons if open_set else None,
            gallery_faces=open_set.faces if open_set else None,
            fpir_target=open_set.fpir_target if open_set else None,
            runner_up=verdict.runner_up,
            search_stage=stage,
        )

    def _repeat(self, matcher: Matcher, user_id: int, req: Request, planned: set[int]) -> bool:
        """Whether an acceptance of this person falls within the cooldown."""
        cooldown = self.settings.cooldown
        if cooldown <= 0:
            return False
        if user_id in planned:
            return True
        last = self._last_logged.get(user_id)
        if last is not None:
            return req.clock - last < cooldown
        since = req.occurred_at - timedelta(seconds=cooldown)
        return matcher.accepted_since(user_id, self.settings.device_name, since)

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
