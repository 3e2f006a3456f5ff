"""Section 4: enrolment from folders (benchmarks/enrolment.py measures it)."""

from __future__ import annotations

from typing import Any

from benchmarks.render.common import Measured, table, verdict
from benchmarks.targets import BY_KEY


def section(e: dict[str, Any]) -> str:
    skipped = "; ".join(f"{n}: {why}" for n, why in e["skipped"]) or "none"
    target = BY_KEY["enrolment.db_share"]
    return "\n\n".join(
        [
            "## 4. Enrolment from folders",
            f"`FaceService.enrol_folders` (what `facedb enrol --from-dir` runs) on "
            f"{e['people']} CelebA people of ../shared/faces/celeba, 5 photos each, into an "
            "empty embedded database, 1 detector and embedder session with default threads. "
            "The database share is the time spent inside the service's transactions (the "
            "duplicate-identity check, writing the person and faces) over the whole run; the "
            "SQL statements alone took the time in the *SQL* column.\n\n"
            + table(
                [
                    "people",
                    "images",
                    "embeddings",
                    "total s",
                    "images/s",
                    "people/s",
                    "DB s",
                    "SQL s",
                    "DB share",
                    f"target {target.bound()}",
                ],
                [
                    [
                        e["people"],
                        e["images"],
                        e["embeddings"],
                        f"{e['total_s']:.1f}",
                        f"{e['images_per_s']:.2f}",
                        f"{e['people_per_s']:.2f}",
                        f"{e['db_s']:.2f}",
                        f"{e['sql_s']:.2f}",
                        f"{e['db_share']:.1%}",
                        verdict(target, e["db_share"]),
                    ]
                ],
            ),
            f"Skipped: {skipped}. The rest of the time is the vision pipeline (decode, detect, "
            "align, quality gate, embed: section 1).",
        ]
    )


def measurements(e: dict[str, Any]) -> list[Measured]:
    return [
        Measured(
            "enrolment.db_share",
            e["db_share"],
            f"{e['db_share']:.1%}",
            f"{e['people']} people",
        )
    ]
