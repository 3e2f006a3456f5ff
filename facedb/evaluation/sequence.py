"""Visits in order, with and without guarded template updates (docs/ACCURACY.md
"Templates that keep up").

Half the people (drawn at random) are enrolled from one photo each; the other half are
strangers. The enrolled people's other photos are visits, in rounds a week apart (so
that a cap of one learned face a week is not what limits learning): in round r each
enrolled person presents photo r + 1. After every round each stranger presents one
photo too. Each visit is decided with facedb's rule (facedb/decision.py) at the
threshold facedb uses for the gallery as it is at the start of the round (the policy
at FACEDB_FPIR for its people and faces, as eval-1n: learned faces raise it), and with
updates on, an accepted visit's face is learned when the guards of
facedb/usecases/template_updates.py hold (quality is the photo gate's: every face here
passed it; liveness does not apply to photos). A photo with no usable face is no visit.
``draws`` random halves are run and their counts summed.

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
    accepted: int  # visits accepted as the right person
    wrong_person: int  # accepted as somebody else
    stranger_searches: int
    strangers_accepted: int  # stranger searches accepted as anyone (FPIR)
    learned: int  # faces learned in this round
    threshold: float  # mean over the draws


@dataclass(frozen=True)
class SequenceRun:
    updates: bool
    rounds: tuple[RoundResult, ...]

    @property
    def later_accepted(self) -> float:
        """Share of the visits after the first round accepted as the right person."""
        later = self.rounds[1:] or self.rounds
        return sum(r.accepted for r in later) / max(sum(r.visits for r in later), 1)

    @property
    def fpir(self) -> float:
        searches = sum(r.stranger_searches for r in self.rounds)
        return sum(r.strangers_accepted for r in self.rounds) / max(searches, 1)


@dataclass(frozen=True)
class AdversarialRun:
    strangers: int
    searches: int
    accepted: int  # stranger searches accepted as anyone
    learned: int  # stranger faces learned into anyone's template


@dataclass(frozen=True)
class SequenceResult:
    enrolled: int  # per draw
    strangers: int
    draws: int
    fpir_target: float
    without: SequenceRun
    with_updates: SequenceRun
    adversarial: AdversarialRun


@dataclass(frozen=True)
class _Rules:
    fpir: float
    margin: float
    one_to_one: float
    prior: ImpostorTail | None


def evaluate_sequence(
    people: Sequence[Person],
    *,
    fpir: float,
    margin: float,
    one_to_one: float,
    prior: ImpostorTail | None,
    guard: Guard,
    repeats: int = 5,
    draws: int = 10,
    seed: int = 0,
) -> SequenceResult:
    """``people``: each with one gallery face (the enrolment photo) and probes in order."""
    usable = [p for p in people if len(p.gallery) and len(p.probes)]
    rules = _Rules(fpir, margin, one_to_one, prior)
    rng = np.random.default_rng(seed)
    without: list[list[RoundResult]] = []
    learning: list[list[RoundResult]] = []
    adversarial = AdversarialRun(0, 0, 0, 0)
    half = len(usable) // 2
    for _ in range(draws):
        order = rng.permutation(len(usable))
        enrolled = [usable[i] for i in sorted(order[:half])]
        strangers = [usable[i] for i in sorted(order[half:])]
        without.append(_visits(enrolled, strangers, rules, None))
        learning.append(_visits(enrolled, strangers, rules, guard))
        run = _adversarial(enrolled, strangers, rules, guard, repeats)
        adversarial = AdversarialRun(
            run.strangers,
            adversarial.searches + run.searches,
            adversarial.accepted + run.accepted,
            adversarial.learned + run.learned,
        )
    return SequenceResult(
        half,
        len(usable) - half,
        draws,
        fpir,
        SequenceRun(False, _sum(without)),
        SequenceRun(True, _sum(learning)),
        adversarial,
    )


def _sum(runs: list[list[RoundResult]]) -> tuple[RoundResult, ...]:
    rounds = []
    for r in range(max(len(run) for run in runs)):
        these = [run[r] for run in runs if r < len(run)]
        rounds.append(
            RoundResult(
                r + 1,
                sum(x.visits for x in these),
                sum(x.accepted for x in these),
                sum(x.wrong_person for x in these),
                sum(x.stranger_searches for x in these),
                sum(x.strangers_accepted for x in these),
                sum(x.learned for x in these),
                float(np.mean([x.threshold for x in these])),
            )
        )
    return tuple(rounds)


class _Gallery:
    def __init__(self, people: Sequence[Person], rules: _Rules) -> None:
        self.rules = rules
        self.faces = [p.gallery[:1].astype(np.float32) for p in people]
        self.learned = [0] * len(people)
        self.last_learned = [-99] * len(people)  # the round of the last face learned
        vectors = np.concatenate(self.faces)
        owners = np.arange(len(people))
        self.calibration = Calibration(rules.prior, selfsearch.impostor_tail(vectors, owners))
        self.threshold = 0.0
        self.recalibrate()

    def recalibrate(self) -> None:
        """The policy's threshold for the gallery's people and faces now."""
        self.threshold = open_set_threshold(
            self.calibration,
            fpir=self.rules.fpir,
            persons=len(self.faces),
            faces=sum(len(f) for f in self.faces),
            one_to_one=self.rules.one_to_one,
        ).value

    def search(self, probe: np.ndarray) -> list[Match]:
        scores = [float((faces @ probe).max()) for faces in self.faces]
        best = np.argsort(scores)[::-1][:2]
        return [Match(int(i), str(i), scores[int(i)]) for i in best]

    def decide(self, probe: np.ndarray) -> tuple[list[Match], Match | None]:
        found = self.search(probe)
        return found, judge_search(found, self.threshold, self.rules.margin).person

    def consider(
        self, who: int, probe: np.ndarray, found: list[Match], now: int, guard: Guard
    ) -> bool:
        similarity = found[0].similarity
        runner_up = found[1].similarity if len(found) > 1 else None
        nearest = float((self.faces[who] @ probe).max())
        recent = 1 if now - self.last_learned[who] < 1 else 0  # rounds are a week apart
        faces = len(self.faces[who])
        learned, threshold = self.learned[who], self.threshold
        if not guard(similarity, runner_up, nearest, learned, faces, recent, threshold):
            return False
        self.faces[who] = np.concatenate([self.faces[who], probe[None, :]])
        self.learned[who] += 1
        self.last_learned[who] = now
        return True


def _visits(
    enrolled: Sequence[Person],
    strangers: Sequence[Person],
    rules: _Rules,
    guard: Guard | None,
) -> list[RoundResult]:
    gallery = _Gallery(enrolled, rules)
    rounds = []
    for r in range(max(len(p.probes) for p in enrolled)):
        gallery.recalibrate()
        visits = right = wrong = learned = 0
        for who, person in enumerate(enrolled):
            if r >= len(person.probes):
                continue
            probe = person.probes[r].astype(np.float32)
            found, person_found = gallery.decide(probe)
            visits += 1
            if person_found is None:
                continue
            if person_found.user_id != who:
                wrong += 1
                continue
            right += 1
            if guard is not None and gallery.consider(who, probe, found, r, guard):
                learned += 1
        accepted = 0
        for stranger in strangers:  # one photo of each stranger after every round
            photos = np.concatenate([stranger.gallery, stranger.probes])
            _, taken = gallery.decide(photos[r % len(photos)].astype(np.float32))
            accepted += taken is not None
        rounds.append(
            RoundResult(
                r + 1, visits, right, wrong, len(strangers), accepted, learned, gallery.threshold
            )
        )
    return rounds


def _adversarial(
    enrolled: Sequence[Person],
    strangers: Sequence[Person],
    rules: _Rules,
    guard: Guard,
    repeats: int,
) -> AdversarialRun:
    gallery = _Gallery(enrolled, rules)
    searches = accepted = learned = 0
    now = 0
    for _ in range(repeats):
        gallery.recalibrate()
        for person in strangers:
            for probe in np.concatenate([person.gallery, person.probes]).astype(np.float32):
                now += 1  # each presentation a week after the last: the cap never binds
                found, taken = gallery.decide(probe)
                searches += 1
                if taken is None:
                    continue
                accepted += 1
                learned += gallery.consider(taken.user_id, probe, found, now, guard)
    return AdversarialRun(len(strangers), searches, accepted, learned)
