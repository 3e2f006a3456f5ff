"""Verification: who is in front of the camera (1:N), or is it the claimed person
(1:1)? One decision (facedb/decision.py), logged once, online or against the kiosk's
gallery cache during an outage; and the look-up of every face of one image."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from facedb.decision import Policy, Verdict, judge_claim, judge_search, least_live, screen
from facedb.domain.attendance import AttendanceEvent
from facedb.domain.names import clean_name
from facedb.domain.people import Match
from facedb.errors import DatabaseUnreachableError, NoGalleryCacheError, UnknownUserError
from facedb.matching import Matcher, SqlMatcher
from facedb.media.frames import FrameSource
from facedb.offline.gallery_cache import CachedUser
from facedb.offline.matcher import CacheMatcher
from facedb.review.keep import keep_evidence
from facedb.store import gallery, org
from facedb.store.schema import User
from facedb.usecases import offline, template_updates
from facedb.usecases.results import FaceBox, IdentifiedFace, IdentifyResult, VerifyResult
from facedb.usecases.runtime import Runtime, capture_reasons
from facedb.usecases.thresholds import choose_threshold, search_policy
from facedb.vision.capture import Capture, CapturedFace, mean_embedding

log = logging.getLogger(__name__)

# A verification decides on the template (mean embedding) of its best faces.
FACES_PER_DECISION = 3


@dataclass(frozen=True)
class _Attempt:
    """One verification, whatever answers it: the faces, the claim, and the event's
    identity (the same event_id online and, after a failure, offline)."""

    capture: Capture
    used: list[CapturedFace]
    claimed: User | CachedUser | None
    threshold: float | None  # --threshold
    device: str
    log_no_face: bool
    event_id: uuid.UUID
    occurred_at: datetime
    site: str | None = None  # 1:N scope: only the people of this site and/or group
    group: str | None = None

    @property
    def scope(self) -> str | None:
        parts = [f"site:{self.site}"] if self.site else []
        parts += [f"group:{self.group}"] if self.group else []
        return ",".join(parts) or None


def verify(
    rt: Runtime,
    source: str | FrameSource,
    *,
    name: str | None,
    frames: int,
    timeout: float | None,
    threshold: float | None,
    on_frame: Callable[[Capture], None] | None,
    log_no_face: bool,
    device: str | None,
    aligned: bool,
    site: str | None,
    group: str | None,
) -> VerifyResult:
    """Who is in front of the camera (1:N), or is it the claimed person (1:1)?
    ``source``: a spec for open_source, or an open FrameSource (closed after use).
    Logs one attendance row, except a repeat within the cooldown, and except a
    no_face decision when ``log_no_face`` is off (a kiosk polling an empty scene).
    ``device``: the kiosk to log, when not this machine (settings.device_name).
    ``aligned``: the images are face crops aligned to the ArcFace template.
    ``site``/``group``: a search considers only the people of this site and/or
    group (the threshold follows the scope's size); a claim is not scoped.

    While the database is unreachable the decision is made against this kiosk's
    gallery cache, marked offline, and the event is spooled (facedb/offline/spool.py) until
    a later command reaches the database; with no usable cache the attempt is
    spooled as unknown and NoGalleryCacheError raised."""
    claimed = _claimed_user(rt, name, device) if name is not None else None
    capture = rt.capture(source, wanted=frames, timeout=timeout, on_frame=on_frame, aligned=aligned)
    attempt = _Attempt(
        capture=capture,
        used=capture.best(FACES_PER_DECISION),
        claimed=claimed,
        threshold=threshold,
        device=device or rt.settings.device_name,
        log_no_face=log_no_face,
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        site=site or rt.settings.search_site,
        group=group or rt.settings.search_group,
    )
    if not isinstance(claimed, CachedUser):  # a claim found offline is decided offline
        try:
            with rt.transaction() as session:
                result = _decide(rt, SqlMatcher(session, rt.settings.ef_search), attempt)
        except DatabaseUnreachableError as exc:
            # Said once in the answer (offline) rather than on stderr at every attempt.
            log.info("deciding offline: %s", exc)
        else:
            offline.sync_quietly(rt, refresh_cache=True)
            return result
    return _decide_offline(rt, attempt)


def _decide(rt: Runtime, matcher: Matcher, attempt: _Attempt) -> VerifyResult:
    """The decision on one attempt (facedb/decision.py), logged (or spooled)
    through ``matcher``."""
    capture, used, claimed = attempt.capture, attempt.used, attempt.claimed
    model = rt.pipeline.embedder_name
    scope: list[int] | None = None
    if claimed is not None:
        rules = Policy(choose_threshold(rt, matcher, attempt.threshold), None, 0.0)
    else:
        if attempt.scope is not None and isinstance(matcher, SqlMatcher):
            scope = org.user_ids_in_scope(matcher.session, attempt.site, attempt.group)
        rules = search_policy(rt, matcher, attempt.threshold, scope)
    candidates: list[Match] = []
    verdict = screen(
        used,
        capture.rejected_faces,
        capture_reasons(capture),
        rt.settings.liveness_threshold,
    )
    if verdict is None and claimed is not None:
        probe = mean_embedding(used)
        similarity = matcher.similarity_to_user(claimed.id, probe, model)
        person = Match(claimed.id, claimed.name, similarity or 0.0)
        verdict = judge_claim(person, similarity, rules.one_to_one.value)
        if isinstance(matcher, SqlMatcher):  # "this is not X" (usecases/template_updates.py)
            verdict = template_updates.check_non_matches(
                rt.settings, matcher.session, verdict, probe, model, refused="rejected"
            )
    elif verdict is None:
        probe = mean_embedding(used)
        candidates = matcher.identify(probe, model, scope)
        verdict = judge_search(candidates, rules.search_threshold, rules.margin)
        if isinstance(matcher, SqlMatcher):  # "this is not X" (usecases/template_updates.py)
            verdict = template_updates.check_non_matches(
                rt.settings, matcher.session, verdict, probe, model
            )
    weakest = least_live(used or capture.rejected_faces)
    liveness = weakest.face.liveness if weakest is not None else None
    open_set = rules.open_set
    threshold = rules.one_to_one.value if claimed is not None else rules.search_threshold
    source = rules.one_to_one.source if claimed is not None else rules.search_source
    event = AttendanceEvent(
        event_id=attempt.event_id,
        occurred_at=attempt.occurred_at,
        kind="verify" if claimed is not None else "identify",
        decision=verdict.decision,
        user_id=verdict.person.user_id if verdict.person else None,
        claimed_user_id=claimed.id if claimed is not None else None,
        similarity=verdict.similarity,
        threshold=threshold,
        liveness=liveness,
        device=attempt.device,
        model=model,
        offline=matcher.offline,
        threshold_source=source,
        gallery_persons=open_set.persons if open_set else None,
        gallery_faces=open_set.faces if open_set else None,
        fpir_target=open_set.fpir_target if open_set else None,
        runner_up=verdict.runner_up,
        scope=attempt.scope if claimed is None else None,
    )
    logged = _log(rt, matcher, event, verdict, attempt.log_no_face)
    if logged:  # a doubtful decision's face, with its event (docs/REVIEW.md)
        keep_evidence(rt.settings, matcher, event, used or capture.rejected_faces, candidates)
        if isinstance(matcher, SqlMatcher):
            template_updates.learn(rt.settings, matcher.session, event, used, candidates)
    return VerifyResult(
        decision=verdict.decision,
        kind=event.kind,
        name=verdict.person.name if verdict.person else None,
        claimed=claimed.name if claimed is not None else None,
        similarity=verdict.similarity,
        threshold=threshold,
        threshold_source=source,
        frames=capture.frames,
        faces_used=len(used),
        logged=logged,
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        model=model,
        reasons=verdict.reasons,
        candidates=candidates,
        faces=tuple(_face_box(c) for c in used),
        offline=matcher.offline,
        liveness=liveness,
        runner_up=verdict.runner_up,
        gallery_persons=event.gallery_persons,
        gallery_faces=event.gallery_faces,
        fpir_target=event.fpir_target,
        predicted_fpir=open_set.predicted_fpir if open_set else None,
        scope=event.scope,
    )


def _log(
    rt: Runtime, matcher: Matcher, event: AttendanceEvent, verdict: Verdict, log_no_face: bool
) -> bool:
    """Logs the event, except a repeat acceptance within the cooldown (checked under
    a lock on the person, so concurrent attempts log once) and, when not
    ``log_no_face``, a no_face. True if logged."""
    if verdict.decision == "no_face" and not log_no_face:
        return False
    if verdict.person is not None and rt.settings.cooldown > 0:
        since = event.occurred_at - timedelta(seconds=rt.settings.cooldown)
        if matcher.accepted_since(verdict.person.user_id, event.device, since):
            return False
    matcher.log_event(event)
    return True


def identify_faces(rt: Runtime, image: np.ndarray, *, top: int) -> IdentifyResult:
    """Every face of one uint8 BGR image and who it is (1:N each, one SQL query
    for all faces). Only faces that pass the quality gate get a name. Nothing is
    logged: this is a look-up, not an attendance decision. While the database is
    unreachable, the gallery cache answers (NoGalleryCacheError without one)."""
    faces = sorted(rt.pipeline.analyse([image])[0], key=lambda f: f.face.area, reverse=True)
    model = rt.pipeline.embedder_name
    probes = [f.embedding for f in faces if f.embedding is not None]
    try:
        with rt.transaction() as session:
            rules = search_policy(rt, SqlMatcher(session, rt.settings.ef_search), None, None)
            matches = (
                gallery.identify(
                    session, np.stack(probes), model, top=top, ef_search=rt.settings.ef_search
                )
                if probes
                else []
            )
    except DatabaseUnreachableError as exc:
        log.info("identifying offline: %s", exc)
        cache = offline.offline_matcher(rt)
        rules = search_policy(rt, cache, None, None)
        matches = [cache.identify(probe, model)[:top] for probe in probes]
    identified = []
    for face, candidates in zip(faces, matches, strict=True):
        best = candidates[0] if candidates else None
        verdict = judge_search(candidates, rules.search_threshold, rules.margin)
        known = face.quality.accepted and verdict.person is not None
        identified.append(
            IdentifiedFace(
                box=_box(face.face.box),
                det_score=face.face.score,
                quality_ok=face.quality.accepted,
                reasons=face.quality.reasons,
                name=best.name if known and best is not None else None,
                similarity=best.similarity if best is not None else None,
                candidates=candidates,
            )
        )
    return IdentifyResult(identified, rules.search_threshold, rules.search_source, model)


def _claimed_user(rt: Runtime, name: str, device: str | None) -> User | CachedUser:
    """The claimed person, from the database, else from the gallery cache."""
    try:
        with rt.transaction() as session:
            return gallery.get_user(session, name)
    except DatabaseUnreachableError as exc:
        log.info("looking up the claimed person offline: %s", exc)
    try:
        cache = offline.load_cache(rt)
    except NoGalleryCacheError as exc:
        offline.spool_unknown(rt, "verify", None, device)
        raise offline.offline_refusal(exc) from None
    person = cache.find_user(name)
    if person is None:
        raise UnknownUserError(
            f"no enrolled person is called {clean_name(name)!r} "
            "(offline: the database is unreachable, the kiosk's gallery cache was checked)"
        )
    return person


def _decide_offline(rt: Runtime, attempt: _Attempt) -> VerifyResult:
    cache, missing = None, None
    try:
        cache = offline.load_cache(rt)
    except NoGalleryCacheError as exc:
        missing = exc  # decisions that need no gallery (no face, spoof) still work
    try:
        return _decide(rt, CacheMatcher(cache, rt.spool, missing), attempt)
    except NoGalleryCacheError as exc:
        claimed_id = attempt.claimed.id if attempt.claimed is not None else None
        kind = "identify" if attempt.claimed is None else "verify"
        offline.spool_unknown(
            rt,
            kind,
            claimed_id,
            attempt.device,
            event_id=attempt.event_id,
            occurred_at=attempt.occurred_at,
            threshold=attempt.threshold,
        )
        raise offline.offline_refusal(exc) from None


def _box(box: np.ndarray) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (round(float(v), 1) for v in box[:4])
    return (x1, y1, x2, y2)


def _face_box(captured: CapturedFace) -> FaceBox:
    face = captured.face
    return FaceBox(captured.origin, _box(face.face.box), face.face.score, face.quality.score)
