"""FaceService: the use cases (facedb/usecases/) on one runtime, for the front ends
(facedb/cli/, the HTTP API, watch, the kiosk, import, review). Each method is one use case;
the work is in its module."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facedb.domain.constants import FACES_PER_DECISION, KEEP_PER_PERSON
from facedb.lazy_module import LazyModule
from facedb.usecases.runtime import Runtime

if TYPE_CHECKING:  # loaded on first use: `facedb report` needs none of the vision stack
    import numpy as np
    from sqlalchemy.orm import Session

    from facedb import policy
    from facedb.decision import Policy, ThresholdChoice
    from facedb.domain.attendance import AttendanceRow, Report
    from facedb.domain.people import UserSummary
    from facedb.domain.thresholds import StoredThreshold
    from facedb.evaluation.metrics import CalibrationResult
    from facedb.evaluation.openset import OpenSetResult
    from facedb.matching import Matcher
    from facedb.offline import gallery_cache
    from facedb.offline.matcher import CacheMatcher
    from facedb.offline.spool import ReplayResult, SpoolStatus
    from facedb.store.calibration import LookalikeRow, StoredCalibration
    from facedb.usecases import (
        claims,
        edge,
        enrolment,
        health,
        offline,
        people,
        reports,
        results,
        thresholds,
        verification,
    )
else:
    claims = LazyModule("facedb.usecases.claims")
    edge = LazyModule("facedb.usecases.edge")
    enrolment = LazyModule("facedb.usecases.enrolment")
    health = LazyModule("facedb.usecases.health")
    offline = LazyModule("facedb.usecases.offline")
    people = LazyModule("facedb.usecases.people")
    reports = LazyModule("facedb.usecases.reports")
    thresholds = LazyModule("facedb.usecases.thresholds")
    verification = LazyModule("facedb.usecases.verification")

if TYPE_CHECKING:  # loaded on first use (facedb.usecases.runtime)
    from facedb.media.frames import FrameSource
    from facedb.vision.capture import Capture
    from facedb.vision.pipeline import FacePipeline as FacePipeline


def __getattr__(name: str) -> Any:
    """``facedb.service.FacePipeline``, the models a front end may share, imported
    when asked for (the vision stack is not loaded by commands that do not use it)."""
    if name == "FacePipeline":
        from facedb.vision.pipeline import FacePipeline

        return FacePipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class FaceService(Runtime):
    """Owns the loaded models and the database engine for the life of a command
    (Runtime), and offers the use cases on them."""

    def on_connect(self) -> None:
        # The command that reaches the database first sends what was spooled meanwhile.
        offline.sync_quietly(self, refresh_cache=False)

    def threshold(self, session: Session, override: float | None = None) -> ThresholdChoice:
        return thresholds.threshold(self, session, override)

    def decision_policy(self, matcher: Matcher, override: float | None = None) -> Policy:
        """The 1:N policy of an unscoped search through ``matcher`` (what verify uses;
        facedb watch decides with it)."""
        return thresholds.search_policy(self, matcher, override, None)

    def search_policy(
        self, session: Session, *, site: str | None = None, group: str | None = None
    ) -> Policy:
        return thresholds.scoped_policy(self, session, site, group)

    def policy_status(
        self, *, site: str | None = None, group: str | None = None
    ) -> policy.PolicyStatus:
        return thresholds.policy_status(self, site, group)

    def recalibrate_gallery(self, *, force: bool = False) -> StoredCalibration | None:
        return thresholds.recalibrate_gallery(self, force)

    def recalibrate_gallery_quietly(self) -> None:
        thresholds.recalibrate_gallery_quietly(self)

    def save_calibration(self, calibration: CalibrationResult, source: str) -> ThresholdChoice:
        return thresholds.save_calibration(self, calibration, source)

    def calibrations(self) -> list[StoredThreshold]:
        return thresholds.calibrations(self)

    def lookalikes(self) -> list[LookalikeRow]:
        return thresholds.lookalikes(self)

    def evaluate_open_set(
        self,
        people: Path,
        *,
        strangers: Path | None = None,
        sizes: Sequence[int],
        draws: int,
        per_person: int,
        progress: Callable[[int, int], None] | None = None,
        det_plot: Path | None = None,
    ) -> OpenSetResult:
        return thresholds.open_set(
            self,
            people,
            strangers=strangers,
            sizes=sizes,
            draws=draws,
            per_person=per_person,
            progress=progress,
            det_plot=det_plot,
        )

    def enrol(
        self,
        name: str,
        source: str | FrameSource,
        *,
        frames: int = KEEP_PER_PERSON,
        timeout: float | None = None,
        add: bool = False,
        largest: bool = False,
        force: bool = False,
        recursive: bool = False,
        on_frame: Callable[[Capture], None] | None = None,
    ) -> results.EnrolResult:
        return enrolment.enrol(
            self,
            name,
            source,
            frames=frames,
            timeout=timeout,
            add=add,
            largest=largest,
            force=force,
            recursive=recursive,
            on_frame=on_frame,
        )

    def enrol_capture(
        self,
        name: str,
        capture: Capture,
        source: str,
        *,
        add: bool = False,
        largest: bool = False,
        force: bool = False,
    ) -> results.EnrolResult:
        return enrolment.enrol_capture(
            self, name, capture, source, add=add, largest=largest, force=force
        )

    def enrol_faces(
        self,
        name: str,
        capture: Capture,
        source: str,
        *,
        add: bool = False,
        largest: bool = False,
        force: bool = False,
        replace: bool = False,
        external_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> results.EnrolResult:
        return enrolment.enrol_faces(
            self,
            name,
            capture,
            source,
            add=add,
            largest=largest,
            force=force,
            replace=replace,
            external_id=external_id,
            meta=meta,
        )

    def enrol_folders(
        self,
        root: Path,
        *,
        add: bool = False,
        force: bool = False,
        largest: bool = True,
        on_person: Callable[[results.BulkOutcome], None] | None = None,
    ) -> list[results.BulkOutcome]:
        return enrolment.enrol_folders(
            self, root, add=add, force=force, largest=largest, on_person=on_person
        )

    def verify(
        self,
        source: str | FrameSource | Capture,
        *,
        name: str | None = None,
        frames: int = FACES_PER_DECISION,
        timeout: float | None = None,
        threshold: float | None = None,
        on_frame: Callable[[Capture], None] | None = None,
        presence: bool = False,
        device: str | None = None,
        aligned: bool = False,
        site: str | None = None,
        group: str | None = None,
    ) -> results.VerifyResult:
        return verification.verify(
            self,
            source,
            name=name,
            frames=frames,
            timeout=timeout,
            threshold=threshold,
            on_frame=on_frame,
            presence=presence,
            device=device,
            aligned=aligned,
            site=site,
            group=group,
        )

    def verify_embedding(
        self,
        embedding: Sequence[float],
        *,
        model: str,
        device: str,
        name: str | None = None,
        liveness: float | None = None,
    ) -> results.VerifyResult:
        return edge.verify_embedding(
            self, embedding, model=model, device=device, name=name, liveness=liveness
        )

    def refuse_unknown_claim(
        self, source: FrameSource, claimed: str, device: str
    ) -> results.VerifyResult:
        """A kiosk key's claim of a name nobody is enrolled under (usecases/claims.py)."""
        return claims.refuse_unknown_claim(self, source, claimed, device)

    def identify_faces(self, image: np.ndarray, *, top: int = 3) -> results.IdentifyResult:
        return verification.identify_faces(self, image, top=top)

    def offline_matcher(self) -> CacheMatcher:
        return offline.offline_matcher(self)

    def sync(self, *, refresh_cache: bool = True) -> None:
        """What verify does once it reached the database: replays the spool and
        refreshes the gallery cache when due; a failure is logged (facedb watch)."""
        offline.sync_quietly(self, refresh_cache=refresh_cache)

    def replay_spool(self, *, wait: bool = True) -> ReplayResult:
        return offline.replay_spool(self, wait=wait)

    def spool_status(self) -> SpoolStatus:
        return offline.spool_status(self)

    def refresh_cache(self) -> gallery_cache.GalleryCache | None:
        return offline.refresh(self)

    def cache_files(self) -> list[gallery_cache.GalleryCache]:
        return offline.cache_files(self)

    def clear_cache(self) -> int:
        return offline.clear_cache(self)

    def report(self, date_from: date, date_to: date, tz: str | None = None) -> Report:
        return reports.report(self, date_from, date_to, tz)

    def attendance(
        self, since: datetime | None = None, name: str | None = None, limit: int = 100
    ) -> list[AttendanceRow]:
        return reports.attendance(self, since, name, limit)

    def users(self) -> list[UserSummary]:
        return people.users(self)

    def user(self, name: str) -> UserSummary:
        return people.user(self, name)

    def rename_user(self, old: str, new: str) -> UserSummary:
        return people.rename_user(self, old, new)

    def remove_user(self, name: str, *, shred: bool = True) -> int:
        return people.remove_users(self, [name], shred=shred)[0][1]

    def remove_users(self, names: Sequence[str], *, shred: bool = True) -> list[tuple[str, int]]:
        return people.remove_users(self, names, shred=shred)

    def forget_user(
        self, name: str, attendance_policy: str = "anonymise", *, shred: bool = True
    ) -> results.ForgetResult:
        return people.forget_user(self, name, attendance_policy, shred=shred)

    def purge_attendance(self, older_than: timedelta) -> int:
        return people.purge_attendance(self, older_than)

    def warm_up(self) -> None:
        health.warm_up(self)

    def health(self) -> health.Health:
        return health.check(self)
