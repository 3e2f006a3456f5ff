"""The thresholds of an attempt, from the settings, the model and what the gallery
knows about itself: the 1:1 threshold of a claim, the 1:N threshold of a search
(identification/policy.py) for the scope searched, the duplicate check's threshold at
enrolment, and the upkeep of the gallery's own calibration."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from facedb.config import Settings
from facedb.decision import Policy, ThresholdChoice
from facedb.errors import InvalidInputError
from facedb.identification import selfsearch
from facedb.identification.policy import (
    Calibration,
    OpenSetThreshold,
    open_set_threshold,
    predicted_fpir,
    threshold_for_fpir,
)
from facedb.identification.tail import ImpostorTail
from facedb.matching import Matcher
from facedb.store import calibration
from facedb.store.calibration import GallerySize, StoredCalibration

log = logging.getLogger(__name__)

# The self-search reads at most this many faces (a random sample above it).
SAMPLE_FACES = 20_000
# A stored calibration is recomputed when the gallery's faces changed by more than
# this share (small galleries, whose self-search is cheap: at any change).
STALE_SHARE = 0.1
# The duplicate check never refuses below this per-comparison false-match rate.
DUPLICATE_FAR = 1e-6
# How long searches reuse a gallery's size and calibration: counting its faces scans
# face_embeddings (10 ms at 20,000 faces on the development machine, growing with the
# table), and a few people more or less move the threshold by thousandths.
GALLERY_STATE_TTL_S = 30.0
_MAX_SCOPES_CACHED = 64


@dataclass(frozen=True)
class GalleryState:
    """What the 1:N threshold of a search depends on, besides the settings."""

    size: GallerySize
    tail: dict[str, Any] | None  # the gallery's own calibration (ImpostorTail JSON)


class GalleryStateCache:
    """GalleryState per (online or offline, model, scope), reused for a few seconds;
    cleared by whoever changes the gallery in this process."""

    def __init__(self, ttl_s: float = GALLERY_STATE_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[tuple[object, ...], tuple[float, GalleryState]] = {}
        self._lock = threading.Lock()

    def get(self, matcher: Matcher, model: str, scope: Sequence[int] | None) -> GalleryState:
        key = (matcher.offline, model, None if scope is None else tuple(scope))
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        state = GalleryState(matcher.gallery_size(model, scope), matcher.gallery_tail(model))
        with self._lock:
            if len(self._entries) >= _MAX_SCOPES_CACHED:
                self._entries.clear()
            self._entries[key] = (now + self.ttl_s, state)
        return state

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def one_to_one(
    settings: Settings, matcher: Matcher, model: str, default: float | None, override: float | None
) -> ThresholdChoice:
    """--threshold, else FACEDB_THRESHOLD, else the value calibrated for the embedder
    in the database (`facedb calibrate`), else the embedder's default."""
    if override is not None:
        return ThresholdChoice(override, "option")
    if settings.threshold is not None:
        return ThresholdChoice(settings.threshold, "setting")
    calibrated = matcher.calibrated_threshold(model)
    if calibrated is not None:
        return ThresholdChoice(calibrated, "calibrated")
    if default is None:
        raise InvalidInputError(
            f"no threshold is known for the embedder {model}: run `facedb calibrate` "
            "or set FACEDB_THRESHOLD"
        )
    return ThresholdChoice(default, "default")


def calibration_of(prior: dict[str, Any] | None, gallery: dict[str, Any] | None) -> Calibration:
    """The 1:N calibration from the model's tail and the gallery's (stored JSON);
    an unreadable one is left out with a warning."""
    own = _tail(gallery, "the gallery's")
    if own is not None and own.pairs < selfsearch.MIN_GALLERY_PAIRS:
        own = None  # stored by an earlier version from too few pairs
    return Calibration(_tail(prior, "the model's"), own)


def _tail(data: dict[str, Any] | None, whose: str) -> ImpostorTail | None:
    if data is None:
        return None
    try:
        return ImpostorTail.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("%s impostor calibration is unreadable (%s): not used", whose, exc)
        return None


def search_policy(
    settings: Settings,
    state: GalleryState,
    prior: dict[str, Any] | None,
    one_to_one_choice: ThresholdChoice,
) -> Policy:
    """The policy of a 1:N search of a gallery in ``state``. A threshold given as an
    option or setting is used as it is (no gallery-size policy)."""
    size = state.size
    if one_to_one_choice.source in ("option", "setting"):
        fixed = OpenSetThreshold(
            one_to_one_choice.value,
            one_to_one_choice.source,
            None,
            None,
            size.persons,
            size.faces,
            "none",
        )
        return Policy(one_to_one_choice, fixed, settings.margin)
    cal = calibration_of(prior, state.tail)
    open_set = open_set_threshold(
        cal,
        fpir=settings.fpir,
        persons=size.persons,
        faces=size.faces,
        one_to_one=one_to_one_choice.value,
    )
    return Policy(one_to_one_choice, open_set, settings.margin)


def duplicate_threshold(
    settings: Settings, cal: Calibration, gallery_faces: int, new_faces: int, one_to_one: float
) -> float:
    """The similarity above which a new person's face is taken for an enrolled
    person's: a different person would reach it in fewer than ``duplicate_rate`` of
    enrolments at this gallery's size, and in fewer than DUPLICATE_FAR comparisons."""
    if not cal.usable:
        return one_to_one
    comparisons = max(gallery_faces * max(new_faces, 1), 1)
    per_enrolment = threshold_for_fpir(cal, settings.duplicate_rate, comparisons)
    per_comparison = threshold_for_fpir(cal, DUPLICATE_FAR, 1)
    return max(per_enrolment, per_comparison, one_to_one)


def refresh_gallery_calibration(
    session: Session, model: str, *, force: bool = False
) -> StoredCalibration | None:
    """Searches the gallery against itself and stores the tail of its impostor scores,
    when the stored one is missing or stale (or ``force``). None when the gallery has
    too few people to say anything."""
    size = calibration.gallery_size(session, model)
    stored = calibration.load_calibration(session, model)
    if not force and stored is not None and not _stale(stored, size.faces):
        return stored
    vectors, owners = calibration.sample_faces(session, model, SAMPLE_FACES)
    tail = selfsearch.impostor_tail(vectors, owners) if len(set(owners.tolist())) > 1 else None
    if tail is None:
        calibration.delete_calibration(session, model)
        return None
    calibration.save_calibration(session, model, size, tail.pairs, tail.to_json())
    return calibration.load_calibration(session, model)


def _stale(stored: StoredCalibration, faces: int) -> bool:
    if stored.faces == faces:
        return False
    if faces <= selfsearch.ALL_PAIRS_UP_TO:
        return True
    return abs(faces - stored.faces) > STALE_SHARE * max(stored.faces, 1)


# Gallery sizes `facedb policy` projects the threshold to.
PROJECTED_PERSONS = (10, 100, 1_000, 10_000, 100_000)


@dataclass(frozen=True)
class Projection:
    persons: int
    faces: int
    threshold: float
    fpir_at_current_threshold: float  # if the threshold were left where it is now


@dataclass(frozen=True)
class PolicyStatus:
    model: str
    one_to_one: ThresholdChoice
    # The chance that one comparison of a claim with a stranger's face is accepted
    # (per claimed face: a claim compares with each of the person's faces).
    one_to_one_far: float | None
    search: OpenSetThreshold | None
    margin: float
    calibration: str  # gallery+model, model, gallery, none
    gallery_pairs: int | None  # impostor pairs of the gallery's own calibration
    calibrated_at: datetime | None
    projections: tuple[Projection, ...]


def status(
    settings: Settings,
    model: str,
    rules: Policy,
    cal: Calibration,
    stored: StoredCalibration | None,
) -> PolicyStatus:
    search = rules.open_set
    per_person = (search.faces / search.persons) if search and search.persons else 3.0
    projections = []
    if cal.usable:
        for persons in PROJECTED_PERSONS:
            faces = max(round(persons * per_person), 1)
            threshold = threshold_for_fpir(cal, settings.fpir, faces)
            projections.append(
                Projection(
                    persons,
                    faces,
                    max(threshold, rules.one_to_one.value),
                    predicted_fpir(cal, rules.search_threshold, faces),
                )
            )
    return PolicyStatus(
        model=model,
        one_to_one=rules.one_to_one,
        one_to_one_far=cal.survival_at(rules.one_to_one.value) if cal.usable else None,
        search=search,
        margin=rules.margin,
        calibration=cal.source,
        gallery_pairs=stored.pairs if stored else None,
        calibrated_at=stored.computed_at if stored else None,
        projections=tuple(projections),
    )
