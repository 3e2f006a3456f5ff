"""`facedb users merge`: one person enrolled twice under two names becomes one. The
database part is store/merge.py (one transaction); then OTHER is dropped from this
kiosk's gallery caches and the gallery calibration is recomputed."""

from __future__ import annotations

import logging
from dataclasses import replace

from facedb.offline import gallery_cache
from facedb.store.merge import MergeResult, merge_in_session
from facedb.usecases import thresholds
from facedb.usecases.runtime import Runtime

log = logging.getLogger(__name__)


def merge_users(rt: Runtime, keep: str, other: str) -> MergeResult:
    """Merges OTHER into KEEP (one transaction), then drops OTHER from this kiosk's
    gallery caches and recomputes the gallery calibration."""
    with rt.transaction() as session:
        result, other_id = merge_in_session(session, keep, other)
    caches = gallery_cache.purge_user(rt.settings.home, other_id)
    thresholds.recalibrate_gallery_quietly(rt)
    log.info(
        "merged %s into %s: %d face(s), %d attendance row(s)",
        result.other,
        result.keep,
        result.faces,
        result.attendance_rows,
    )
    return replace(result, cache_files=caches)
