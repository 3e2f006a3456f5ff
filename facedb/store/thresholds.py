"""Calibrated accept thresholds, one per embedding model, shared by every kiosk."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from facedb.domain.thresholds import StoredThreshold
from facedb.store.tables.core import Threshold


def save_threshold(
    session: Session,
    model: str,
    threshold: float,
    far: float,
    tar: float | None,
    pairs: int,
    source: str | None,
) -> None:
    """Stores (or replaces) the model's threshold."""
    values = {
        "threshold": threshold,
        "far": far,
        "tar": tar,
        "pairs": pairs,
        "source": source,
        "calibrated_at": func.now(),
    }
    session.execute(
        insert(Threshold)
        .values(model=model, **values)
        .on_conflict_do_update(index_elements=[Threshold.model], set_=values)
    )


def stored_thresholds(session: Session) -> list[StoredThreshold]:
    return [
        StoredThreshold(t.model, t.threshold, t.far, t.tar, t.pairs, t.source, t.calibrated_at)
        for t in session.scalars(select(Threshold).order_by(Threshold.model))
    ]
