"""Guarded template updates and "this is not X" (docs/TEMPLATES.md).

A face from an accepted 1:N decision joins the person's template only when every
guard holds (``refusals``): a clear margin over the threshold and over the runner-up,
liveness passed, a high quality score, a face that adds something (not a near-copy of
a stored face, the same notion as enrolment's diverse selection), the person's
additions in the period under the cap, added faces under their share of the template,
and no review lately that found a decision accepting the person was someone else.

Why the margins (FACEDB_TEMPLATE_MARGIN, 0.10 by default): the 1:N threshold is set
for a false-positive identification rate of FACEDB_FPIR (1 %); every face learned
widens what matches the person, so learning must need a far rarer coincidence than
being let in once. On the shared faces, impostor scores above the threshold thin out
about tenfold per 0.05 of similarity, so 0.10 above it puts a stranger's chance of
teaching the gallery near 1e-4 per search. The same 0.10 over the margin against the
runner-up keeps look-alikes (whose second-best score is close) out of templates.

Negative feedback: a review that reassigns or dismisses an accepted decision records
its probe as a known non-match of the person (``not_the_person``); a later probe as
close to that non-match as to the person, within FACEDB_MARGIN + FACEDB_TEMPLATE_MARGIN,
is not accepted as them but ambiguous (to review), and a face learned from the event
leaves the template.

Only online 1:N decisions learn (the kiosk's gallery cache has no non-matches and a
template changes in the database). ``learn`` takes the recorded event and the faces it
was decided on, so that the recording path calls it after a logged acceptance."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from facedb.config import Settings
from facedb.decision import Verdict
from facedb.domain.attendance import AttendanceEvent
from facedb.domain.names import clean_name
from facedb.domain.people import Match
from facedb.domain.templates import AddedFace
from facedb.errors import InvalidInputError
from facedb.store import evidence, gallery, templates
from facedb.usecases.evidence import collect
from facedb.usecases.runtime import Runtime

if TYPE_CHECKING:  # the vision stack is loaded when a face is seen
    from facedb.matching import Matcher
    from facedb.vision.capture import CapturedFace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Facts:
    """What the guards judge, about one accepted decision and its best face."""

    similarity: float  # the decision's, to the person
    threshold: float
    runner_up: float | None
    liveness: float | None
    quality_ok: bool
    quality: float
    nearest: float  # the face's highest similarity to the person's stored faces
    recent_additions: int  # in the last template_days
    added_now: int  # learned faces in the template now
    faces_now: int  # the person's faces of the model now
    recent_non_matches: int  # reviews that found a decision for them was someone else


def refusals(settings: Settings, facts: Facts) -> tuple[str, ...]:
    """Why the face must not join the template; empty: it joins."""
    why = []
    extra = settings.template_margin
    if facts.similarity < facts.threshold + extra:
        why.append(f"similarity {facts.similarity:.3f} < threshold + {extra:.2f}")
    gap = None if facts.runner_up is None else facts.similarity - facts.runner_up
    if gap is not None and gap < settings.margin + extra:
        why.append(f"runner-up {gap:.3f} behind, less than {settings.margin + extra:.2f}")
    if facts.liveness is None and settings.liveness == "off":
        why.append("liveness is off")
    elif facts.liveness is not None and facts.liveness < settings.liveness_threshold:
        why.append(f"liveness {facts.liveness:.3f}")
    if not facts.quality_ok or facts.quality < settings.template_quality:
        why.append(f"quality {facts.quality:.3f} < {settings.template_quality:.2f}")
    from facedb.vision.capture import NEAR_COPY_SIMILARITY

    if facts.nearest >= NEAR_COPY_SIMILARITY:
        why.append(f"a near-copy of a stored face ({facts.nearest:.3f})")
    elif facts.nearest < facts.threshold + extra:
        why.append(f"the face alone is {facts.nearest:.3f} from the person")
    if facts.recent_additions >= settings.template_cap:
        why.append(f"{facts.recent_additions} face(s) added in {settings.template_days:g} days")
    if facts.added_now + 1 > settings.template_share * (facts.faces_now + 1):
        why.append(f"added faces would pass {settings.template_share:.0%} of the template")
    if facts.recent_non_matches:
        why.append("a review found a decision for this person was someone else")
    return tuple(why)


def learn(
    settings: Settings,
    session: Session,
    event: AttendanceEvent,
    faces: Sequence[CapturedFace],
    candidates: Sequence[Match] = (),
) -> int | None:
    """Adds the best face of a recorded acceptance to the person's template when every
    guard holds, in ``session`` (the decision's transaction); the addition's id, or
    None. The event's evidence (its thumbnail) is kept with it for review."""
    if (
        settings.template_updates != "on"
        or event.kind != "identify"
        or event.decision != "accepted"
        or event.offline
        or event.user_id is None
        or event.similarity is None
        or event.threshold is None
        or event.model is None
    ):
        return None
    usable = [f for f in faces if f.face.embedding is not None and f.face.quality.accepted]
    if not usable:
        return None
    best = max(usable, key=lambda f: f.face.quality.score)
    vector = np.asarray(best.face.embedding, dtype=np.float32)
    stored = templates.person_vectors(session, event.user_id, event.model)
    if stored.shape[0] == 0:
        return None
    now = event.occurred_at
    facts = Facts(
        similarity=event.similarity,
        threshold=event.threshold,
        runner_up=event.runner_up,
        liveness=event.liveness,
        quality_ok=best.face.quality.accepted,
        quality=best.face.quality.score,
        nearest=float((stored @ vector).max()),
        recent_additions=templates.additions_since(
            session, event.user_id, now - timedelta(days=settings.template_days)
        ),
        added_now=templates.added_faces_now(session, event.user_id, event.model),
        faces_now=int(stored.shape[0]),
        recent_non_matches=templates.non_matches_since(
            session, event.user_id, now - timedelta(days=settings.evidence_days)
        ),
    )
    if refusals(settings, facts):
        return None
    try:
        with session.begin_nested():  # learning never fails the decision
            return _add(session, event, best, vector, facts, candidates)
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        log.warning("could not add the face of event %s: %s", event.event_id, exc)
    except SQLAlchemyError as exc:
        log.warning("could not add the face of event %s: %s", event.event_id, exc)
    return None


def _add(
    session: Session,
    event: AttendanceEvent,
    best: CapturedFace,
    vector: np.ndarray,
    facts: Facts,
    candidates: Sequence[Match],
) -> int:
    assert event.user_id is not None and event.model is not None
    added = templates.add_face(
        session,
        user_id=event.user_id,
        event_id=event.event_id,
        model=event.model,
        vector=vector,
        det_score=best.face.face.score,
        quality=facts.quality,
        similarity=facts.similarity,
        threshold=facts.threshold,
        runner_up=facts.runner_up,
        liveness=facts.liveness,
        nearest=facts.nearest,
        added_at=event.occurred_at,
    )
    kept = collect(event, [best], candidates)
    if kept is not None:
        evidence.insert_evidence(session, kept)
    return added


def check_non_matches(
    settings: Settings,
    matcher: Matcher,
    verdict: Verdict,
    probe: np.ndarray,
    model: str,
    *,
    refused: str = "ambiguous",
) -> Verdict:
    """An acceptance as X, unless the probe is about as close to a probe a review found
    was not X: then ``refused`` (ambiguous for a search, to review; rejected for a
    claim), with the reason."""
    person = verdict.person
    if verdict.decision != "accepted" or person is None or verdict.similarity is None:
        return verdict
    closest = matcher.closest_non_match(person.user_id, model, probe)
    needed = settings.margin + settings.template_margin
    if closest is None or verdict.similarity - closest >= needed:
        return verdict
    reason = (
        f"{person.name!r} ({verdict.similarity:.3f}) is less than {needed:.2f} above a face "
        f"a review found was not them ({closest:.3f})"
    )
    return Verdict(refused, None, verdict.similarity, verdict.runner_up, (reason,))


def not_the_person(
    session: Session, event_id: uuid.UUID, action: str, *, by: str, instead: int | None = None
) -> None:
    """A review found the accepted event ``event_id`` was not the person it accepted
    (reassigned to ``instead``, or dismissed): its probe becomes a known non-match of
    that person and a face learned from it leaves the template."""
    row = templates.accepted_event(session, event_id)
    if row is None:
        return
    user_id, model = row
    if instead is not None and instead == user_id:
        return
    probe = templates.evidence_probe(session, event_id)
    if probe is not None and model is not None:
        templates.add_non_match(
            session,
            user_id=user_id,
            event_id=event_id,
            model=model,
            vector=probe,
            action=action,
            created_by=by,
        )
    learned = templates.added_from_event(session, event_id)
    if learned:
        templates.remove_added(
            session, learned, by=by, why=f"review {action}", at=datetime.now(UTC)
        )


# -- the administrator's view: `facedb users faces` ----------------------------------


def added_faces(rt: Runtime, name: str) -> list[AddedFace]:
    """The faces learned for the person, removed ones included, oldest first."""
    with rt.transaction() as session:
        return templates.list_added(session, gallery.get_user(session, name).id)


def remove_added_face(rt: Runtime, name: str, added_id: int, *, by: str) -> AddedFace:
    """Takes one learned face out of the person's template (its record stays)."""
    with rt.transaction() as session:
        person = gallery.get_user(session, name)
        found = [a for a in templates.list_added(session, person.id) if a.id == added_id]
        if not found:
            raise InvalidInputError(
                f"{person.name} has no added face {added_id} (see facedb users faces list)"
            )
        if not found[0].active:
            raise InvalidInputError(f"added face {added_id} of {person.name} was removed already")
        templates.remove_added(
            session, [added_id], by=clean_name(by), why="removed", at=datetime.now(UTC)
        )
        after = next(a for a in templates.list_added(session, person.id) if a.id == added_id)
    rt.galleries.clear()
    return after
