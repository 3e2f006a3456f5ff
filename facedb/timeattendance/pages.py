"""A timesheet a page of people at a time (the admin console's grid): the rows of
the same timesheet() function for the people of one page, in name order, with their
totals. A month of a thousand people is 31,000 days; a page of them is what a browser
shows in a second."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from facedb.store.timesheet import (
    PersonTotals,
    TimesheetDay,
    people_by_name,
    timesheet_days,
    totals,
)
from facedb.timeattendance.service import TimeAttendance
from facedb.timezones import check_period


@dataclass(frozen=True)
class TimesheetPage:
    days: list[TimesheetDay]
    totals: list[PersonTotals]
    people: int  # in the scope, on every page
    pages: int


def timesheet_page(
    ta: TimeAttendance,
    date_from: date,
    date_to: date,
    *,
    site: str | None,
    group: str | None,
    page: int,
    size: int,
) -> TimesheetPage:
    """Page ``page`` (from 1) of ``size`` people of the site or group (everyone when
    neither), in name order; a person with no work day in the period has no row."""
    check_period(date_from, date_to)
    scope = ta.scope(site=site, group=group)
    with ta.transaction() as s:
        ids = people_by_name(s, scope)
        chosen = ids[(page - 1) * size : page * size]
        days = timesheet_days(s, date_from, date_to, ta.zone, chosen) if chosen else []
    return TimesheetPage(days, totals(days), len(ids), max(1, -(-len(ids) // size)))
