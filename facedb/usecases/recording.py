"""The Recorder: the one place where a verdict becomes a record, for every front end
(verify, watch, the HTTP API and the kiosk).

A decision (the verdict, the faces it was made on, the device, the scope and the
policy that decided) is recorded through a Recording: one transaction online
(SqlMatcher), the gallery cache and the spool offline (CacheMatcher), the same
interface either way. Recording one decision is, in this order:

1. the cooldown: a repeat acceptance of a person at a device within
   FACEDB_COOLDOWN is not recorded (checked under a lock on the person, so that
   concurrent attempts record one);
2. one record per presence (``presence``, a polling kiosk): a look with no usable
   face (no_face, bad_quality) is counted and not recorded, and a doubtful look that
   continues the device's latest row (same decision, person and claim, within
   FACEDB_PRESENCE_GAP of its last look, the same face when that row kept one)
   adds a look to that row instead of a new row;
3. the attendance row, with its outbox message (store/attendance.py, one
   transaction);
4. the evidence of a doubtful decision (usecases/evidence.py decides what is doubtful).

The metrics (facedb_decisions_total, facedb_looks_total,
facedb_search_stage_decisions_total) are counted once the
Recording's transaction committed: a rolled-back row is never counted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from facedb.config import Settings
from facedb.decision import Policy, Verdict, least_live
from facedb.domain.attendance import AttendanceEvent
from facedb.domain.people import Match
from facedb.events import metrics
from facedb.matching import Matcher, SqlMatcher
from facedb.usecases.evidence import collect, is_doubtful
from facedb.usecases.runtime import Runtime

if TYPE_CHECKING:  # the vision stack is loaded when a face is seen
    from facedb.vision.capture import CapturedFace

# Looks with no usable face: a kiosk polling a blank wall or a dog records nothing.
FACELESS = ("no_face", "bad_quality")


@dataclass(frozen=True)
class Decision:
    """One verdict and what it was made of, ready to be recorded."""

    verdict: Verdict
    kind: str  # identify (1:N) or verify (1:1)
    policy: Policy | None  # None: decided before any policy could be read (a spoof)
    faces: Sequence[CapturedFace]  # the faces decided on, best first
    device: str
    model: str
    event_id: uuid.UUID  # the same online and, after a failure, offline
    occurred_at: datetime
    candidates: Sequence[Match] = ()
    claimed_id: int | None = None
    scope: str | None = None  # "site:north,group:staff" for a scoped search
    search_stage: str | None = None  # 1:N: the stage that decided (store/search.py)

    @property
    def threshold(self) -> float | None:
        if self.policy is None:
            return None
        return (
            self.policy.one_to_one.value if self.kind == "verify" else self.policy.search_threshold
        )

    @property
    def threshold_source(self) -> str | None:
        if self.policy is None:
            return None
        return self.policy.one_to_one.source if self.kind == "verify" else self.policy.search_source

    @property
    def liveness(self) -> float | None:
        weakest = least_live(self.faces)
        return weakest.face.liveness if weakest is not None else None

    def event(self, offline: bool) -> AttendanceEvent:
        """The attendance row of this decision."""
        verdict = self.verdict
        open_set = (
            self.policy.open_set if self.policy is not None and self.kind != "verify" else None
        )
        return AttendanceEvent(
            event_id=self.event_id,
            occurred_at=self.occurred_at,
            kind=self.kind,
            decision=verdict.decision,
            user_id=verdict.person.user_id if verdict.person else None,
            claimed_user_id=self.claimed_id,
            similarity=verdict.similarity,
            threshold=self.threshold,
            liveness=self.liveness,
            device=self.device,
            model=self.model,
            offline=offline,
            threshold_source=self.threshold_source,
            gallery_persons=open_set.persons if open_set else None,
            gallery_faces=open_set.faces if open_set else None,
            fpir_target=open_set.fpir_target if open_set else None,
            runner_up=verdict.runner_up,
            scope=self.scope if self.kind != "verify" else None,
            search_stage=self.search_stage if self.kind != "verify" else None,
        )


@dataclass(frozen=True)
class Recorded:
    """What became of one decision."""

    event: AttendanceEvent  # as decided
    outcome: str  # logged (a new row), joined (a look of an earlier row), repeat, dropped
    event_id: uuid.UUID | None  # the row this look is part of; None: no row
    looks: int  # the looks of that row (0: no row)
    evidence: bool  # the face was kept for review

    @property
    def logged(self) -> bool:
        return self.outcome == "logged"


class Recording:
    """The decisions recorded through one matcher (one transaction online)."""

    def __init__(self, settings: Settings, matcher: Matcher) -> None:
        self.settings = settings
        self.matcher = matcher
        self._recorded: list[Recorded] = []
        self._people: set[int] = set()  # accepted by this recording (two tracks, one person)

    @property
    def offline(self) -> bool:
        return self.matcher.offline

    def record(
        self, decision: Decision, *, presence: bool = False, cooldown: bool = True
    ) -> Recorded:
        """Records the decision (the module docstring has the steps). ``presence``: one
        record per presence (a polling kiosk). ``cooldown`` False: the caller already
        knows the person was not accepted at this device within the cooldown (facedb
        watch keeps the cooldown on the video's clock); a second acceptance by this
        recording is a repeat all the same."""
        event = decision.event(self.matcher.offline)
        person = event.user_id if event.decision == "accepted" else None
        if presence and event.decision in FACELESS:
            return self._done(Recorded(event, "dropped", None, 0, False))
        if person is not None and self._repeat(person, event, ask=cooldown):
            return self._done(Recorded(event, "repeat", None, 0, False))
        if presence and person is None and self.settings.presence_gap > 0:
            joined = self._join(decision, event)
            if joined is not None:
                return self._done(Recorded(event, "joined", joined[0], joined[1], False))
        self.matcher.log_event(event)
        if person is not None:
            self._people.add(person)
        kept = self._keep(decision, event)
        self._learn(decision, event)
        return self._done(Recorded(event, "logged", event.event_id, 1, kept))

    def _repeat(self, person: int, event: AttendanceEvent, *, ask: bool) -> bool:
        """Within the cooldown: accepted by this recording already, or (``ask``) by an
        earlier one at this device, per the matcher."""
        if self.settings.cooldown <= 0:
            return False
        if person in self._people:
            return True
        if not ask:
            return False
        since = event.occurred_at - timedelta(seconds=self.settings.cooldown)
        return self.matcher.accepted_since(person, event.device, since)

    def _join(self, decision: Decision, event: AttendanceEvent) -> tuple[uuid.UUID, int] | None:
        from facedb.vision.capture import mean_embedding

        usable = [f for f in decision.faces if f.face.embedding is not None]
        probe = mean_embedding(usable) if usable else None
        same_face = decision.policy.one_to_one.value if decision.policy is not None else 1.0
        since = event.occurred_at - timedelta(seconds=self.settings.presence_gap)
        return self.matcher.join_presence(event, since, probe, same_face)

    def _keep(self, decision: Decision, event: AttendanceEvent) -> bool:
        """Keeps the face of a doubtful decision (docs/REVIEW.md)."""
        if not is_doubtful(self.settings, event):
            return False
        item = collect(event, decision.faces, decision.candidates)
        return item is not None and self.matcher.keep_evidence(item, self.settings.evidence_days)

    def _learn(self, decision: Decision, event: AttendanceEvent) -> None:
        """A clearly accepted face may join the person's template (online only;
        usecases/template_updates.py holds the guards)."""
        if isinstance(self.matcher, SqlMatcher) and event.decision == "accepted":
            from facedb.usecases import template_updates

            template_updates.learn(
                self.settings, self.matcher.session, event, decision.faces, decision.candidates
            )

    def _done(self, recorded: Recorded) -> Recorded:
        self._recorded.append(recorded)
        return recorded

    def committed(self) -> None:
        """Counts what was recorded; called once the transaction committed."""
        for recorded in self._recorded:
            event = recorded.event
            metrics.count_look(
                event.kind, event.decision, event.device, event.offline, recorded.outcome
            )
            if recorded.logged:
                metrics.count_decision(event.kind, event.decision, event.device, event.offline)
                if event.search_stage is not None:
                    metrics.count_search_stage(event.search_stage)
        self._recorded.clear()


class Recorder:
    """Recordings on one runtime: online in one transaction, or offline through the
    kiosk's gallery cache and spool."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    @contextmanager
    def online(self, replica: bool = False) -> Iterator[Recording]:
        """A recording in one database transaction (DatabaseUnreachableError when the
        database cannot be reached); nothing is counted unless it commits. ``replica``:
        the gallery is read on the read replica when it is current (store/replica.py)."""
        settings = self.rt.settings
        with self.rt.transaction() as session, self._reads(session, replica) as reads:
            matcher = SqlMatcher(
                session,
                settings.ef_search,
                settings.search_clear,
                reads,
                settings.search_candidates,
                settings.search_ef,
            )
            recording = Recording(settings, matcher)
            yield recording
        recording.committed()

    def _reads(self, session: Session, replica: bool) -> AbstractContextManager[Session]:
        return self.rt.reading(session) if replica else nullcontext(session)

    @contextmanager
    def through(self, matcher: Matcher) -> Iterator[Recording]:
        """A recording through ``matcher`` (the gallery cache and spool of an outage)."""
        recording = Recording(self.rt.settings, matcher)
        yield recording
        recording.committed()
