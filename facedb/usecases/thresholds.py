"""Thresholds and the decision policy: the 1:1 threshold, the 1:N policy of a search
(which follows the gallery's size and calibration), stored calibrations, look-alikes,
and the open-set evaluation of the pipeline."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from facedb import policy
from facedb.decision import Policy, ThresholdChoice
from facedb.domain.thresholds import StoredThreshold
from facedb.errors import FacedbError
from facedb.evaluation.detplot import det_svg
from facedb.evaluation.metrics import CalibrationResult
from facedb.evaluation.openset import OpenSetResult as OpenSetResult  # for facedb/cli/eval1n.py
from facedb.evaluation.openset import evaluate_open_set
from facedb.matching import Matcher, SqlMatcher
from facedb.store import calibration, org
from facedb.store.thresholds import save_threshold, stored_thresholds
from facedb.usecases.runtime import Runtime

log = logging.getLogger(__name__)


def threshold(rt: Runtime, session: Session, override: float | None = None) -> ThresholdChoice:
    """The 1:1 accept threshold: --threshold, else FACEDB_THRESHOLD, else the value
    calibrated for this embedder in the database, else the embedder's default."""
    return choose_threshold(rt, SqlMatcher(session, rt.settings.ef_search), override)


def choose_threshold(rt: Runtime, matcher: Matcher, override: float | None) -> ThresholdChoice:
    """The 1:1 accept threshold, read through ``matcher`` (the database or the cache)."""
    model = rt.pipeline.embedder_name
    default = rt.pipeline.registry.spec(model).threshold
    return policy.one_to_one(rt.settings, matcher, model, default, override)


def search_policy(
    rt: Runtime, matcher: Matcher, override: float | None, scope: list[int] | None
) -> Policy:
    """The 1:N policy of a search through ``matcher`` of the people in ``scope``
    (None: everybody)."""
    model = rt.pipeline.embedder_name
    prior = rt.pipeline.registry.spec(model).impostor_tail
    chosen = choose_threshold(rt, matcher, override)
    state = rt.galleries.get(matcher, model, scope)
    return policy.search_policy(rt.settings, state, prior, chosen)


def scoped_policy(rt: Runtime, session: Session, site: str | None, group: str | None) -> Policy:
    """The 1:N policy a search of this scope would use now (for status displays)."""
    matcher = SqlMatcher(session, rt.settings.ef_search)
    return search_policy(rt, matcher, None, org.user_ids_in_scope(session, site, group))


def policy_status(rt: Runtime, site: str | None, group: str | None) -> policy.PolicyStatus:
    """The decision policy in force now, and how it would grow with the gallery."""
    model = rt.pipeline.embedder_name
    prior = rt.pipeline.registry.spec(model).impostor_tail
    with rt.transaction() as session:
        matcher = SqlMatcher(session, rt.settings.ef_search)
        scope = org.user_ids_in_scope(session, site, group)
        rules = search_policy(rt, matcher, None, scope)
        stored = calibration.load_calibration(session, model)
    cal = policy.calibration_of(prior, stored.tail if stored else None)
    return policy.status(rt.settings, model, rules, cal, stored)


def recalibrate_gallery(rt: Runtime, force: bool = False) -> calibration.StoredCalibration | None:
    """Searches the gallery against itself and stores its impostor tail (done after
    enrolments when the stored one is stale; ``force``: now)."""
    with rt.transaction() as session:
        return policy.refresh_gallery_calibration(session, rt.pipeline.embedder_name, force=force)


def recalibrate_gallery_quietly(rt: Runtime) -> None:
    """After a change of the gallery: its calibration, and a fresh size for searches."""
    rt.galleries.clear()
    try:
        recalibrate_gallery(rt)
    except (FacedbError, DBAPIError) as exc:
        log.warning("could not update the gallery calibration: %s", exc)


def save_calibration(rt: Runtime, result: CalibrationResult, source: str) -> ThresholdChoice:
    """Stores a threshold calibrated for the current embedder; verify and enrol
    on every kiosk sharing the database use it from then on."""
    with rt.transaction() as session:
        save_threshold(
            session,
            rt.pipeline.embedder_name,
            result.threshold,
            result.far,
            result.tar,
            result.n_genuine + result.n_impostor,
            source,
        )
    return ThresholdChoice(result.threshold, "calibrated")


def calibrations(rt: Runtime) -> list[StoredThreshold]:
    with rt.transaction() as session:
        return stored_thresholds(session)


def lookalikes(rt: Runtime) -> list[calibration.LookalikeRow]:
    with rt.transaction() as session:
        return calibration.list_lookalikes(session)


def open_set(
    rt: Runtime,
    people: Path,
    *,
    strangers: Path | None,
    sizes: Sequence[int],
    draws: int,
    per_person: int,
    progress: Callable[[int, int], None] | None,
    det_plot: Path | None,
) -> OpenSetResult:
    """1:N error rates of this pipeline and decision policy on folders of people
    (facedb/evaluation/openset.py), and their DET curves as SVG in ``det_plot``;
    needs no database."""
    model = rt.pipeline.embedder_name
    spec = rt.pipeline.registry.spec(model)
    from facedb.evaluation.acquire import acquire  # the vision stack, on first use

    acquired = acquire(
        people,
        rt.pipeline,
        per_person=per_person,
        strangers_root=strangers,
        progress=progress,
    )
    one_to_one = rt.settings.threshold if rt.settings.threshold is not None else spec.threshold
    result = evaluate_open_set(
        acquired.people,
        acquired.strangers,
        sizes=sizes,
        draws=draws,
        fpir=rt.settings.fpir,
        margin=rt.settings.margin,
        one_to_one=one_to_one if one_to_one is not None else -1.0,
        prior=policy.calibration_of(spec.impostor_tail, None).prior,
        fixed=rt.settings.threshold,
        images=acquired.images,
        failures=acquired.failures,
        failed_photos=[str(path) for path in acquired.failed],
    )
    if det_plot is not None:
        title = f"{people.name}: DET at FPIR target {result.fpir_target:g}"
        det_plot.write_text(det_svg(result.sizes, title), encoding="utf-8")
    return result
