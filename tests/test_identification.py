"""The 1:N threshold policy: the impostor tail, the FPIR it predicts, and the
threshold that follows for a gallery's size (facedb/identification)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from facedb.decision import judge_claim, judge_search
from facedb.domain.people import Match
from facedb.identification import selfsearch
from facedb.identification.policy import (
    PRIOR_PAIRS,
    Calibration,
    open_set_threshold,
    predicted_fpir,
    threshold_for_fpir,
)
from facedb.identification.tail import ImpostorTail, fit_scores
from facedb.policy import GalleryStateCache
from facedb.store.calibration import GallerySize
from facedb.vision.models import load_manifest

SIGMA = 0.07  # the spread of unrelated faces' cosine similarities with this embedder


def _gaussian_survival(t: float) -> float:
    return 0.5 * math.erfc(t / (SIGMA * math.sqrt(2)))


@pytest.fixture(scope="module")
def gaussian_tail() -> ImpostorTail:
    scores = np.random.default_rng(0).normal(0.0, SIGMA, 400_000)
    tail = fit_scores(scores)
    assert tail is not None
    return tail


def test_tail_follows_the_data_where_there_is_data(gaussian_tail: ImpostorTail) -> None:
    for t in (0.05, 0.1, 0.15, 0.2):
        assert gaussian_tail.survival_at(t) == pytest.approx(_gaussian_survival(t), rel=0.15)


def test_extrapolated_tail_errs_on_the_strict_side(gaussian_tail: ImpostorTail) -> None:
    """Beyond the data, the exponential tail overstates a Gaussian one: the false-match
    rates it predicts are upper bounds, so thresholds from it are never too lax."""
    for t in (0.3, 0.35, 0.4, 0.5):
        assert gaussian_tail.survival_at(t) > _gaussian_survival(t)
    # ... but not absurdly so at the thresholds that matter (within a factor of 100).
    assert gaussian_tail.survival_at(0.35) < 100 * _gaussian_survival(0.35)


def test_tail_is_monotonic_and_round_trips_as_json(gaussian_tail: ImpostorTail) -> None:
    grid = np.linspace(-0.5, 0.9, 300)
    values = [gaussian_tail.survival_at(float(t)) for t in grid]
    assert all(a >= b for a, b in itertools.pairwise(values))
    again = ImpostorTail.from_json(gaussian_tail.to_json())
    assert again.survival_at(0.4) == pytest.approx(gaussian_tail.survival_at(0.4), rel=1e-3)


def test_too_few_scores_give_no_tail() -> None:
    assert fit_scores(np.zeros(10)) is None


def test_threshold_rises_with_the_gallery_and_meets_its_target(
    gaussian_tail: ImpostorTail,
) -> None:
    cal = Calibration(gaussian_tail, None)
    thresholds = [threshold_for_fpir(cal, 0.01, faces) for faces in (30, 300, 3000, 30_000)]
    assert all(b - a > 0.02 for a, b in itertools.pairwise(thresholds))
    for faces, t in zip((30, 300, 3000, 30_000), thresholds, strict=True):
        assert predicted_fpir(cal, t, faces) == pytest.approx(0.01, rel=1e-3)
    # A stricter target asks for a higher threshold.
    assert threshold_for_fpir(cal, 0.001, 300) > thresholds[1] + 0.02


def test_the_policy_keeps_its_target_up_to_ten_thousand_people() -> None:
    """With the shipped model calibration: FPIR predicted at or under 1 % for galleries
    of 10 to 10,000 people of 3 to 5 faces each."""
    prior = load_manifest()["w600k_mbf_int8"].impostor_tail
    assert prior is not None
    cal = Calibration(ImpostorTail.from_json(prior), None)
    previous = -1.0
    for persons in (10, 100, 1000, 10_000):
        for per_person in (3, 5):
            faces = persons * per_person
            chosen = open_set_threshold(
                cal, fpir=0.01, persons=persons, faces=faces, one_to_one=0.25
            )
            assert chosen.predicted_fpir is not None and chosen.predicted_fpir <= 0.01 + 1e-9
        assert chosen.value > previous
        previous = chosen.value


def test_the_threshold_never_falls_below_the_one_to_one_threshold(
    gaussian_tail: ImpostorTail,
) -> None:
    cal = Calibration(gaussian_tail, None)
    lax = threshold_for_fpir(cal, 0.01, 2)
    chosen = open_set_threshold(cal, fpir=0.01, persons=1, faces=2, one_to_one=lax + 0.1)
    assert chosen.value == pytest.approx(lax + 0.1)
    assert chosen.source == "1:1 floor"


def test_the_gallerys_own_calibration_takes_over_as_it_grows() -> None:
    rng = np.random.default_rng(1)
    heavy = fit_scores(rng.normal(0.0, 0.09, 200_000))
    light = fit_scores(rng.normal(0.0, 0.06, 2_000_000))
    small_light = fit_scores(rng.normal(0.0, 0.06, 500))
    assert heavy is not None and light is not None and small_light is not None
    prior_only = threshold_for_fpir(Calibration(heavy, None), 0.01, 3000)
    few = threshold_for_fpir(Calibration(heavy, small_light), 0.01, 3000)
    many = threshold_for_fpir(Calibration(heavy, light), 0.01, 3000)
    own = threshold_for_fpir(Calibration(None, light), 0.01, 3000)
    assert Calibration(heavy, light).gallery_weight() == pytest.approx(
        light.pairs / (light.pairs + PRIOR_PAIRS)
    )
    assert prior_only - few < 0.02  # 500 pairs barely move it
    # Two million pairs of the gallery's own outweigh the model's 50,000: the threshold
    # moves most of the way to the gallery's own (the model's heavier tail still counts
    # with its small weight, on the strict side).
    assert own < many < prior_only
    assert many - own < 0.5 * (prior_only - own)


def test_self_search_compares_only_different_people() -> None:
    rng = np.random.default_rng(2)
    people = rng.normal(size=(40, 512))
    faces = np.repeat(people, 3, axis=0) + 0.3 * rng.normal(size=(120, 512))
    faces /= np.linalg.norm(faces, axis=1, keepdims=True)
    owners = np.repeat(np.arange(40), 3)
    tail = selfsearch.impostor_tail(faces.astype(np.float32), owners)
    assert tail is not None
    assert tail.pairs == 120 * 117 // 2  # each pair of faces of different people, once
    # A handful of people says too little about a tail: the model's alone counts.
    assert selfsearch.impostor_tail(faces[:30].astype(np.float32), owners[:30]) is None
    # Faces of one person are ~0.9 alike; none of that leaks into the impostor tail.
    assert tail.survival_at(0.5) < 1e-6


def _match(name: str, similarity: float) -> Match:
    return Match(hash(name) % 1000, name, similarity)


def test_search_decisions_threshold_and_margin() -> None:
    alice, bob = _match("alice", 0.62), _match("bob", 0.20)
    assert judge_search([alice, bob], 0.35, 0.05).decision == "accepted"
    assert judge_search([_match("alice", 0.30), bob], 0.35, 0.05).decision == "unknown"
    close = judge_search([alice, _match("bob", 0.60)], 0.35, 0.05)
    assert close.decision == "ambiguous" and close.person is None
    assert close.runner_up == pytest.approx(0.60)
    assert "margin" in close.reasons[0]
    assert judge_search([], 0.35, 0.05).decision == "unknown"
    assert judge_search([alice], 0.35, 0.05).decision == "accepted"  # nobody second


def test_claim_decisions() -> None:
    alice = _match("alice", 0.0)
    accepted = judge_claim(alice, 0.5, 0.25)
    assert accepted.decision == "accepted" and accepted.person is not None
    assert accepted.person.similarity == pytest.approx(0.5)
    assert judge_claim(alice, 0.1, 0.25).decision == "rejected"
    assert judge_claim(alice, None, 0.25).decision == "rejected"  # no face of this model


class _CountingMatcher:
    """Answers the two questions the cache asks, counting them."""

    offline = False

    def __init__(self) -> None:
        self.calls = 0

    def gallery_size(self, model: str, scope: object = None) -> GallerySize:
        self.calls += 1
        return GallerySize(10 + self.calls, 30)

    def gallery_tail(self, model: str) -> None:
        return None


def test_searches_reuse_the_gallery_state_until_it_expires_or_changes() -> None:
    matcher = _CountingMatcher()
    cache = GalleryStateCache(ttl_s=60.0)
    first = cache.get(matcher, "m", None)  # type: ignore[arg-type]
    assert cache.get(matcher, "m", None) is first  # type: ignore[arg-type]
    assert cache.get(matcher, "m", [1, 2]).size.persons == 12  # type: ignore[arg-type]
    cache.clear()  # an enrolment in this process
    assert cache.get(matcher, "m", None).size.persons == 13  # type: ignore[arg-type]
    expired = GalleryStateCache(ttl_s=0.0)
    expired.get(matcher, "m", None)  # type: ignore[arg-type]
    expired.get(matcher, "m", None)  # type: ignore[arg-type]
    assert matcher.calls == 5
