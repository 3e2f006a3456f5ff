"""Verification: who is in front of the camera (1:N), or is it the claimed person
(1:1)? One decision (facedb/decision.py), logged once, online or against the kiosk's
gallery cache during an outage; and the look-up of every face of one image."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from facedb.decision import Policy, judge_claim, judge_search, screen
from facedb.domain.constants import FACES_PER_DECISION
from facedb.domain.names import clean_name
from facedb.domain.people import Match
from facedb.errors import DatabaseUnreachableError, NoGalleryCacheError, UnknownUserError
from facedb.matching import Matcher, SqlMatcher
from facedb.offline.gallery_cache import CachedUser
from facedb.offline.matcher import CacheMatcher
from facedb.store import gallery
from facedb.store.tables.core import User
from facedb.usecases import offline, template_updates
from facedb.usecases.recording import Decision, Recorder, Recording
from facedb.usecases.results import FaceBox, IdentifiedFace, IdentifyResult, VerifyResult
from facedb.usecases.runtime import Runtime, capture_reasons
from facedb.usecases.thresholds import choose_threshold, search_policy

if TYPE_CHECKING:  # the vision stack is loaded when a face is seen
    from facedb.media.frames import FrameSource
    from facedb.vision.capture import Capture, CapturedFace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Attempt:
    """One verification, whatever answers it: the faces, the claim, and the event's
    identity (the same event_id online and, after a failure, offline)."""

    capture: Capture
    used: list[CapturedFace]
    claimed: User | CachedUser | None
    threshold: float | None  # --threshold
    device: str
    presence: bool
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
    source: str | FrameSource | Capture,
    *,
    name: str | None,
    frames: int,
    timeout: float | None,
    threshold: float | None,
    on_frame: Callable[[Capture], None] | None,
    presence: bool,
    device: str | None,
    aligned: bool,
    site: str | None,
    group: str | None,
) -> VerifyResult:
    """Who is in front of the camera (1:N), or is it the claimed person (1:1)?
    ``source``: a spec for open_source, or an open FrameSource (closed after use), or
    faces already captured (a device's own embedding: usecases/edge.py).
    Records the decision through the Recorder (usecases/recording.py): one attendance
    row, except a repeat within the cooldown. ``presence``: one record per presence
    (a polling kiosk): no row for a look without a usable face, and a doubtful look
    that continues the device's last one adds a look to its row.
    ``device``: the kiosk to log, when not this machine (settings.device_name).
    ``aligned``: the images are face crops aligned to the ArcFace template.
    ``site``/``group``: a search considers only the people of this site and/or
    group (the threshold follows the scope's size); a claim is not scoped.

    While the database is unreachable the decision is made against this kiosk's
    gallery cache (which knows the sites and groups), marked offline, and the event is
    spooled (facedb/offline/spool.py) until a later command reaches the database; with
    no usable cache the attempt is spooled as unknown and NoGalleryCacheError raised."""
    claimed = _claimed_user(rt, name, device) if name is not None else None
    from facedb.vision.capture import Capture

    capture = (
        source
        if isinstance(source, Capture)
        else rt.capture(source, wanted=frames, timeout=timeout, on_frame=on_frame, aligned=aligned)
    )
    attempt = _Attempt(
        capture=capture,
        used=capture.best(FACES_PER_DECISION),
        claimed=claimed,
        threshold=threshold,
        device=device or rt.settings.device_name,
        presence=presence,
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        site=site or rt.settings.search_site,
        group=group or rt.settings.search_group,
    )
    recorder = Recorder(rt)
    if not isinstance(claimed, CachedUser):  # a claim found offline is decided offline
        try:
            with recorder.online(replica=True) as recording:
                result = _decide(rt, recording, attempt)
        except DatabaseUnreachableError as exc:
            # Said once in the answer (offline) rather than on stderr at every attempt.
            log.info("deciding offline: %s", exc)
        else:
            offline.sync_quietly(rt, refresh_cache=True)
            return result
    return _decide_offline(rt, recorder, attempt)


def _decide(rt: Runtime, recording: Recording, attempt: _Attempt) -> VerifyResult:
    """The decision on one attempt (facedb/decision.py), recorded by ``recording``."""
    capture, used, claimed = attempt.capture, attempt.used, attempt.claimed
    matcher = recording.matcher
    model = rt.pipeline.embedder_name
    scope: list[int] | None = None
    if claimed is not None:
        rules = Policy(choose_threshold(rt, matcher, attempt.threshold), None, 0.0)
    else:
        scope = matcher.scope(attempt.site, attempt.group)
        rules = search_policy(rt, matcher, attempt.threshold, scope)
    candidates: list[Match] = []
    stage: str | None = None
    verdict = screen(
        used,
        capture.rejected_faces,
        capture_reasons(capture),
        rt.settings.liveness_threshold,
    )
    from facedb.vision.capture import mean_embedding

    if verdict is None and claimed is not None:
        probe = mean_embedding(used)
        similarity = matcher.similarity_to_user(claimed.id, probe, model)
        person = Match(claimed.id, claimed.name, similarity or 0.0)
        verdict = judge_claim(person, similarity, rules.one_to_one.value)
        # "this is not X" (usecases/template_updates.py)
        verdict = template_updates.check_non_matches(
            rt.settings, matcher, verdict, probe, model, refused="rejected"
        )
    elif verdict is None:
        probe = mean_embedding(used)
        found = matcher.search(probe, model, scope, rules.search_threshold, rules.margin)
        candidates, stage = found.matches, found.stage
        verdict = judge_search(candidates, rules.search_threshold, rules.margin)
        verdict = template_updates.check_non_matches(rt.settings, matcher, verdict, probe, model)
    recorded = recording.record(
        Decision(
            verdict=verdict,
            kind="verify" if claimed is not None else "identify",
            policy=rules,
            faces=used or capture.rejected_faces,
            device=attempt.device,
            model=model,
            event_id=attempt.event_id,
            occurred_at=attempt.occurred_at,
            candidates=candidates,
            claimed_id=claimed.id if claimed is not None else None,
            scope=attempt.scope,
            search_stage=stage,
        ),
        presence=attempt.presence,
    )
    event = recorded.event
    open_set = rules.open_set if claimed is None else None
    return VerifyResult(
        decision=verdict.decision,
        kind=event.kind,
        name=verdict.person.name if verdict.person else None,
        claimed=claimed.name if claimed is not None else None,
        similarity=verdict.similarity,
        threshold=rules.one_to_one.value if claimed is not None else rules.search_threshold,
        threshold_source=rules.one_to_one.source if claimed is not None else rules.search_source,
        frames=capture.frames,
        faces_used=len(used),
        logged=recorded.logged,
        event_id=recorded.event_id or event.event_id,
        occurred_at=event.occurred_at,
        model=model,
        reasons=verdict.reasons,
        candidates=candidates,
        faces=tuple(face_box(c) for c in used),
        offline=recording.offline,
        liveness=event.liveness,
        runner_up=verdict.runner_up,
        gallery_persons=event.gallery_persons,
        gallery_faces=event.gallery_faces,
        fpir_target=event.fpir_target,
        predicted_fpir=open_set.predicted_fpir if open_set else None,
        scope=event.scope,
        looks=recorded.looks,
    )


def identify_faces(rt: Runtime, image: np.ndarray, *, top: int) -> IdentifyResult:
    """Every face of one uint8 BGR image and who it is (1:N each, one SQL query
    for all faces). Only faces that pass the quality gate get a name. Nothing is
    logged: this is a look-up, not an attendance decision. While the database is
    unreachable, the gallery cache answers (NoGalleryCacheError without one)."""
    faces = sorted(rt.pipeline.analyse([image])[0], key=lambda f: f.face.area, reverse=True)
    model = rt.pipeline.embedder_name
    probes = [f.embedding for f in faces if f.embedding is not None]

    def look_up(matcher: Matcher) -> tuple[Policy, list[list[Match]]]:
        rules = search_policy(rt, matcher, None, None)
        return rules, matcher.identify_many(np.stack(probes), model, top) if probes else []

    try:
        with rt.transaction() as session:
            rules, matches = look_up(SqlMatcher(session, rt.settings.ef_search))
    except DatabaseUnreachableError as exc:
        log.info("identifying offline: %s", exc)
        rules, matches = look_up(offline.offline_matcher(rt))
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


def _decide_offline(rt: Runtime, recorder: Recorder, attempt: _Attempt) -> VerifyResult:
    cache, missing = None, None
    try:
        cache = offline.load_cache(rt)
    except NoGalleryCacheError as exc:
        missing = exc  # decisions that need no gallery (no face, spoof) still work
    try:
        with recorder.through(CacheMatcher(cache, rt.spool, missing)) as recording:
            return _decide(rt, recording, attempt)
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


def face_box(captured: CapturedFace) -> FaceBox:
    face = captured.face
    return FaceBox(captured.origin, _box(face.face.box), face.face.score, face.quality.score)
