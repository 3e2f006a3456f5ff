"""Visits in order, with and without guarded template updates (docs/ACCURACY.md
"Templates that keep up").

Half the people (drawn at random) are enrolled from one photo each; the other half are
strangers. The enrolled people's other photos are visits, in rounds a week apart (so
that a cap of one learned face a week is not what limits learning): in round r each
enrolled person presents photo r + 1. After every round each stranger presents one
photo too. Each visit is decided with facedb's rule (facedb/decision.py) at the
threshold facedb uses for the gallery (the policy at FACEDB_FPIR, as eval-1n), and
with updates on, an accepted visit's face is learned when the guards of
facedb/usecases/template_updates.py hold (quality is the photo gate's: every face here
passed it; liveness does not apply to photos). The gallery's threshold is set once,
at enrolment, as a kiosk's would be between calibrations.

The adversarial run: each stranger presents all their photos ``repeats`` times over
(each search finds the enrolled person most like them: their look-alike), with updates
on and no cap in the way, and every acceptance as anyone and every face learned is
counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from facedb.decision import judge_search
from facedb.domain.people import Match
from facedb.evaluation.openset import Person
from facedb.identification import selfsearch
from facedb.identification.policy import Calibration, open_set_threshold
from facedb.identification.tail import ImpostorTail

# The guards, as facedb/usecases/template_updates.py applies them: (similarity,
# runner_up, nearest stored face of the person, learned so far, faces, learned in
# the last period, threshold) -> learn?
Guard = Callable[[float, float | None, float, int, int, int, float], bool]


@dataclass(frozen=True)
class RoundResult:
    round: int  # 1: the first photo after the enrolment one
    visits: int
    accepted: float  # share of visits accepted as the right person
    wrong_person: float  # share accepted as somebody else
    strangers_accepted: float  # share of the strangers' searches accepted (FPIR)
    learned: int  # faces learned in this round


@dataclass(frozen=True)
class SequenceRun:
    updates: bool
    rounds: tuple[RoundResult, ...]

    @property
    def later_accepted(self) -> float:
        """Share of all visits after the first round accepted as the right person."""
        later = self.rounds[1:] or self.rounds
        visits = sum(r.visits for r in later)
        return sum(r.accepted * r.visits for r in later) / max(visits, 1)


@dataclass(frozen=True)
class AdversarialRun:
    strangers: int
    searches: int
    accepted: int  # stranger searches accepted as anyone
    learned: int  # stranger faces learned into anyone's template


@dataclass(frozen=True)
class SequenceResult:
    enrolled: int
    strangers: int
    threshold: float
    fpir_target: float
    without: SequenceRun
    with_updates: SequenceRun
    adversarial: AdversarialRun


def evaluate_sequence(
    people: Sequence[Person],
    *,
    fpir: float,
    margin: float,
    one_to_one: float,
    prior: ImpostorTail | None,
    guard: Guard,
    repeats: int = 5,
    seed: int = 0,
) -> SequenceResult:
    """``people``: each with one gallery face (the enrolment photo) and probes in order."""
    usable = [p for p in people if len(p.gallery) and len(p.probes)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(usable))
    enrolled = [usable[i] for i in sorted(order[: len(usable) // 2])]
    strangers = [usable[i] for i in sorted(order[len(usable) // 2 :])]
    vectors = np.concatenate([p.gallery[:1] for p in enrolled]).astype(np.float32)
    owners = np.arange(len(enrolled))
    cal = Calibration(prior, selfsearch.impostor_tail(vectors, owners))
    threshold = open_set_threshold(
        cal, fpir=fpir, persons=len(enrolled), faces=len(vectors), one_to_one=one_to_one
    ).value
    runs = [
        _visits(enrolled, strangers, threshold, margin, guard if updates else None)
        for updates in (False, True)
    ]
    adversarial = _adversarial(enrolled, strangers, threshold, margin, guard, repeats)
    return SequenceResult(
        len(enrolled), len(strangers), threshold, fpir, runs[0], runs[1], adversarial
    )


class _Gallery:
    def __init__(self, people: Sequence[Person], threshold: float) -> None:
        self.threshold = threshold
        self.faces = [p.gallery[:1].astype(np.float32) for p in people]
        self.learned = [0] * len(people)
        self.last_learned = [-99] * len(people)  # the round of the last face learned

    def search(self, probe: np.ndarray) -> list[Match]:
        scores = [float((faces @ probe).max()) for faces in self.faces]
        best = np.argsort(scores)[::-1][:2]
        return [Match(int(i), str(i), scores[int(i)]) for i in best]

    def consider(
        self, who: int, probe: np.ndarray, found: list[Match], now: int, guard: Guard
    ) -> bool:
        similarity = found[0].similarity
        runner_up = found[1].similarity if len(found) > 1 else None
        nearest = float((self.faces[who] @ probe).max())
        recent = 1 if now - self.last_learned[who] < 1 else 0  # rounds are a week apart
        faces = len(self.faces[who])
        if not guard(
            similarity, runner_up, nearest, self.learned[who], faces, recent, self.threshold
        ):
            return False
        self.faces[who] = np.concatenate([self.faces[who], probe[None, :]])
        self.learned[who] += 1
        self.last_learned[who] = now
        return True


def _visits(
    enrolled: Sequence[Person],
    strangers: Sequence[Person],
    threshold: float,
    margin: float,
    guard: Guard | None,
) -> SequenceRun:
    gallery = _Gallery(enrolled, threshold)
    rounds = []
    for r in range(max(len(p.probes) for p in enrolled)):
        visits = right = wrong = learned = 0
        for who, person in enumerate(enrolled):
            if r >= len(person.probes):
                continue
            probe = person.probes[r].astype(np.float32)
            found = gallery.search(probe)
            verdict = judge_search(found, threshold, margin)
            visits += 1
            if verdict.person is None:
                continue
            if verdict.person.user_id != who:
                wrong += 1
                continue
            right += 1
            if guard is not None and gallery.consider(who, probe, found, r, guard):
                learned += 1
        searches = accepted = 0
        for person in strangers:  # one photo of each stranger after every round
            photos = np.concatenate([person.gallery, person.probes])
            probe = photos[r % len(photos)].astype(np.float32)
            searches += 1
            accepted += judge_search(gallery.search(probe), threshold, margin).person is not None
        rounds.append(
            RoundResult(
                r + 1,
                visits,
                right / max(visits, 1),
                wrong / max(visits, 1),
                accepted / max(searches, 1),
                learned,
            )
        )
    return SequenceRun(guard is not None, tuple(rounds))


def _adversarial(
    enrolled: Sequence[Person],
    strangers: Sequence[Person],
    threshold: float,
    margin: float,
    guard: Guard,
    repeats: int,
) -> AdversarialRun:
    gallery = _Gallery(enrolled, threshold)
    searches = accepted = learned = 0
    now = 0
    for _ in range(repeats):
        for person in strangers:
            for probe in np.concatenate([person.gallery, person.probes]).astype(np.float32):
                now += 1  # each presentation a week after the last: the cap never binds
                found = gallery.search(probe)
                verdict = judge_search(found, threshold, margin)
                searches += 1
                if verdict.person is None:
                    continue
                accepted += 1
                learned += gallery.consider(verdict.person.user_id, probe, found, now, guard)
    return AdversarialRun(len(strangers), searches, accepted, learned)
