"""Attendance: the decisions kiosks log (AttendanceEvent), the log as it is read back
(AttendanceRow), and the report: who came, who did not, how many attempts of each
decision."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class AttendanceEvent:
    """One decision of a kiosk, as logged."""

    event_id: uuid.UUID
    occurred_at: datetime  # timezone-aware
    kind: str  # verify (1:1) or identify (1:N)
    decision: str  # accepted, rejected, unknown, ambiguous, no_face, spoof, bad_quality
    user_id: int | None
    claimed_user_id: int | None
    similarity: float | None
    threshold: float | None
    liveness: float | None
    device: str
    model: str
    offline: bool = False
    # The policy that decided (store/tables/core.py's Attendance has the meaning of each).
    threshold_source: str | None = None
    gallery_persons: int | None = None
    gallery_faces: int | None = None
    fpir_target: float | None = None
    runner_up: float | None = None
    scope: str | None = None
    # 1:N: which stage of the search decided (store/search.py): index or exact.
    search_stage: str | None = None


@dataclass(frozen=True)
class AttendanceRow:
    event_id: uuid.UUID
    occurred_at: datetime
    kind: str
    decision: str
    name: str | None
    claimed_name: str | None
    similarity: float | None
    threshold: float | None
    liveness: float | None
    device: str | None
    model: str | None
    offline: bool
    # The zone of the person's days (their site's, else the installation's): times
    # are printed in it unless --tz asks for another (docs/TIME_AND_ATTENDANCE.md).
    timezone: str = "UTC"
    # The looks (kiosk polls) this row stands for: one presence (usecases/recording.py).
    looks: int = 1
    last_seen_at: datetime | None = None


@dataclass(frozen=True)
class PersonDay:
    name: str
    day: date  # a local date in ``timezone``
    first_seen: datetime
    last_seen: datetime
    accepted: int
    timezone: str = "UTC"  # the person's zone: their site's, else the installation's


@dataclass(frozen=True)
class Report:
    date_from: date
    date_to: date
    timezone: str  # the installation's zone: of people with no site, and of the attempts
    present: list[PersonDay]
    absent: list[str]  # enrolled, active, never accepted in the period
    # decision -> attendance rows, for every decision in the period: one per presence
    # (a stranger polled for a minute at a kiosk is one attempt of many looks).
    attempts: dict[str, int]
