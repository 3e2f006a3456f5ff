"""`facedb eval-sequence`: visits in order with and without guarded template updates,
and the adversarial run (facedb/evaluation/sequence.py); needs no database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from facedb import policy
from facedb.evaluation.acquire import acquire
from facedb.evaluation.sequence import SequenceResult as SequenceResult  # for facedb/cli
from facedb.evaluation.sequence import evaluate_sequence
from facedb.usecases.runtime import Runtime
from facedb.usecases.template_updates import Facts, refusals


def sequence(
    rt: Runtime,
    people: Path,
    *,
    repeats: int,
    draws: int,
    seed: int,
    progress: Callable[[int, int], None] | None,
) -> SequenceResult:
    settings = rt.settings
    spec = rt.pipeline.registry.spec(rt.pipeline.embedder_name)
    acquired = acquire(people, rt.pipeline, per_person=1, progress=progress)
    one_to_one = settings.threshold if settings.threshold is not None else spec.threshold

    def guard(
        similarity: float,
        runner_up: float | None,
        nearest: float,
        learned: int,
        faces: int,
        recent: int,
        threshold: float,
    ) -> bool:
        facts = Facts(
            similarity=similarity,
            threshold=threshold,
            runner_up=runner_up,
            liveness=None,
            quality_ok=True,
            quality=1.0,
            nearest=nearest,
            recent_additions=recent,
            added_now=learned,
            faces_now=faces,
            recent_non_matches=0,
        )
        return not refusals(settings, facts)

    return evaluate_sequence(
        acquired.people,
        fpir=settings.fpir,
        margin=settings.margin,
        one_to_one=one_to_one if one_to_one is not None else -1.0,
        prior=policy.calibration_of(spec.impostor_tail, None).prior,
        guard=guard,
        repeats=repeats,
        draws=draws,
        seed=seed,
    )
