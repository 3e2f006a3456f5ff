"""The attendance report: who came, who did not, how many attempts of each decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class PersonDay:
    name: str
    day: date
    first_seen: datetime
    last_seen: datetime
    accepted: int


@dataclass(frozen=True)
class Report:
    date_from: date
    date_to: date
    timezone: str
    present: list[PersonDay]
    absent: list[str]  # enrolled, active, never accepted in the period
    attempts: dict[str, int]  # decision -> count, for every decision in the period
