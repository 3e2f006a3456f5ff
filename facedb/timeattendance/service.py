"""Time and attendance use cases: sites, groups, devices, shifts, holidays, leave,
corrections, locked periods and timesheets. People are named as in `facedb users`;
every call is one transaction; no face models are loaded."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from facedb.config import Settings
from facedb.errors import InvalidInputError
from facedb.store import corrections, org, schedules
from facedb.store.corrections import CorrectionInfo, EventHistory, PeriodInfo
from facedb.store.engine import Database, open_database, transaction
from facedb.store.event_lookup import arrived_before, resolve_event_id
from facedb.store.gallery import get_user
from facedb.store.org import DeviceInfo, GroupInfo, Membership, SiteInfo
from facedb.store.schedules import AssignmentInfo, HolidayInfo, LeaveInfo, ShiftInfo
from facedb.store.timesheet import PersonTotals, TimesheetDay, timesheet_days, totals
from facedb.timezones import check_period, localise, zone_or_local

# How far back a departure added by hand looks for its arrival (a night shift's
# departure is on the next day).
ARRIVAL_WINDOW = timedelta(hours=24)


class TimeAttendance:
    """The use cases, on the database of ``settings`` (opened on first use; no
    models are loaded); ``zone`` is the default time zone (of people with no site
    and of unregistered devices), else the system's."""

    def __init__(
        self, settings: Settings, zone: str | None = None, database: Database | None = None
    ) -> None:
        self.settings = settings
        self.zone = zone_or_local(zone)
        self._database = database
        self._lock = threading.Lock()

    @property
    def database(self) -> Database:
        with self._lock:
            if self._database is None:
                self._database = open_database(self.settings)
            return self._database

    def transaction(self) -> AbstractContextManager[Session]:
        """A session in one transaction, committed at the end (store.engine.transaction)."""
        return transaction(self.settings, lambda: self.database)

    def close(self) -> None:
        if self._database is not None:
            self._database.engine.dispose()

    # -- sites, groups, devices ---------------------------------------------------

    def add_site(self, name: str, timezone: str | None) -> SiteInfo:
        with self.transaction() as s:
            return org.create_site(s, name, timezone or self.zone)

    def sites(self) -> list[SiteInfo]:
        with self.transaction() as s:
            return org.list_sites(s)

    def add_group(self, name: str, kind: str) -> GroupInfo:
        with self.transaction() as s:
            return org.create_group(s, name, kind)

    def groups(self) -> list[GroupInfo]:
        with self.transaction() as s:
            return org.list_groups(s)

    def assign_site(self, people: Sequence[str], site: str | None) -> list[Membership]:
        with self.transaction() as s:
            ids = [get_user(s, name, loose=True).id for name in people]
            for user_id in ids:
                org.assign_site(s, user_id, site)
            return [org.membership(s, user_id) for user_id in ids]

    def join_group(self, group: str, people: Sequence[str], *, leave: bool) -> list[Membership]:
        with self.transaction() as s:
            ids = [get_user(s, name, loose=True).id for name in people]
            for user_id in ids:
                if leave:
                    org.remove_from_group(s, user_id, group)
                else:
                    org.add_to_group(s, user_id, group)
            return [org.membership(s, user_id) for user_id in ids]

    def membership(self, person: str) -> Membership:
        with self.transaction() as s:
            return org.membership(s, get_user(s, person, loose=True).id)

    def set_device(
        self, name: str, site: str | None, timezone: str | None, role: str
    ) -> DeviceInfo:
        with self.transaction() as s:
            return org.register_device(
                s, name, site=site, timezone=timezone, role=role, default_zone=self.zone
            )

    def devices(self) -> list[DeviceInfo]:
        with self.transaction() as s:
            return org.list_devices(s, default_zone=self.zone, include_seen=True)

    def remove_device(self, name: str) -> bool:
        with self.transaction() as s:
            return org.remove_device(s, name)

    # -- schedules ----------------------------------------------------------------

    def add_shift(
        self,
        name: str,
        start: time,
        end: time,
        weekdays: tuple[int, ...],
        break_minutes: int,
        grace_minutes: int,
    ) -> ShiftInfo:
        with self.transaction() as s:
            return schedules.create_shift(
                s,
                name,
                start,
                end,
                weekdays=weekdays,
                break_minutes=break_minutes,
                grace_minutes=grace_minutes,
            )

    def shifts(self) -> list[ShiftInfo]:
        with self.transaction() as s:
            return schedules.list_shifts(s)

    def assign_shift(
        self,
        shift: str,
        *,
        person: str | None,
        group: str | None,
        valid_from: date,
        valid_to: date | None,
    ) -> AssignmentInfo:
        with self.transaction() as s:
            user_id = get_user(s, person, loose=True).id if person is not None else None
            new_id = schedules.assign_shift(
                s, shift, user_id=user_id, group=group, valid_from=valid_from, valid_to=valid_to
            )
            return next(a for a in schedules.list_assignments(s) if a.id == new_id)

    def assignments(self) -> list[AssignmentInfo]:
        with self.transaction() as s:
            return schedules.list_assignments(s)

    def remove_assignment(self, assignment_id: int) -> bool:
        with self.transaction() as s:
            return schedules.remove_assignment(s, assignment_id)

    def add_holiday(self, day: date, name: str, site: str | None) -> HolidayInfo:
        with self.transaction() as s:
            return schedules.add_holiday(s, day, name, site)

    def holidays(self, date_from: date | None, date_to: date | None) -> list[HolidayInfo]:
        if date_from is not None and date_to is not None and date_to < date_from:
            raise InvalidInputError(f"the last day {date_to} is before the first day {date_from}")
        with self.transaction() as s:
            return schedules.list_holidays(s, date_from, date_to)

    def remove_holiday(self, day: date, site: str | None) -> bool:
        with self.transaction() as s:
            return schedules.remove_holiday(s, day, site)

    def add_leave(
        self,
        person: str,
        kind: str,
        day_from: date,
        day_to: date,
        minutes: int | None,
        note: str | None,
        by: str,
    ) -> LeaveInfo:
        with self.transaction() as s:
            user_id = get_user(s, person, loose=True).id
            leave_id = schedules.add_leave(
                s, user_id, kind, day_from, day_to, minutes=minutes, note=note, created_by=by
            )
            return next(lv for lv in schedules.list_leave(s, user_id) if lv.id == leave_id)

    def leave(self, person: str | None, date_from: date | None) -> list[LeaveInfo]:
        with self.transaction() as s:
            user_id = get_user(s, person, loose=True).id if person is not None else None
            return schedules.list_leave(s, user_id, date_from)

    def remove_leave(self, leave_id: int) -> bool:
        with self.transaction() as s:
            return schedules.remove_leave(s, leave_id)

    # -- corrections and periods --------------------------------------------------

    def add_punch(
        self,
        person: str,
        when: datetime,
        *,
        device: str | None,
        direction: str | None,
        reason: str,
        note: str | None,
        by: str,
    ) -> CorrectionInfo:
        """A missed punch; a time without a zone is read in the person's site's zone
        (one the clocks skip or show twice is refused: timezones.localise). A departure
        with no arrival in the 24 hours before it is refused: it would be read as the
        day's first punch (docs/TIME_AND_ATTENDANCE.md, Corrections)."""
        with self.transaction() as s:
            user_id = get_user(s, person, loose=True).id
            zone = org.person_zone(s, user_id, self.zone)
            if when.tzinfo is None:
                when = localise(when, zone)
            role = direction
            if role is None and device is not None:
                role = org.device_info(s, device, default_zone=self.zone).role
            if role == "out" and not arrived_before(s, user_id, when, ARRIVAL_WINDOW):
                local = when.astimezone(ZoneInfo(zone))
                raise InvalidInputError(
                    f"{person} has no arrival in the 24 hours before {local:%Y-%m-%d %H:%M}: "
                    "a departure needs one, or it is read as the day's first punch; add the "
                    "arrival first (--direction in), or add this punch with --direction in"
                )
            return corrections.add_punch(
                s,
                user_id,
                when,
                device=device,
                direction=direction,
                reason=reason,
                note=note,
                created_by=by,
            )

    def correct(
        self,
        event_id: str,
        action: str,
        *,
        reason: str,
        note: str | None,
        by: str,
        person: str | None = None,
    ) -> CorrectionInfo:
        with self.transaction() as s:
            event = resolve_event_id(s, event_id)
            user_id = get_user(s, person, loose=True).id if person is not None else None
            return corrections.correct_event(
                s, event, action, reason=reason, note=note, created_by=by, user_id=user_id
            )

    def corrections(self, since: datetime | None) -> list[CorrectionInfo]:
        with self.transaction() as s:
            return corrections.list_corrections(s, since)

    def history(self, event_id: str) -> EventHistory:
        with self.transaction() as s:
            return corrections.event_history(s, resolve_event_id(s, event_id))

    def lock(self, day_from: date, day_to: date, by: str) -> PeriodInfo:
        with self.transaction() as s:
            return corrections.lock_period(s, day_from, day_to, self.zone, by)

    def unlock(self, day_from: date, day_to: date, by: str, reason: str) -> PeriodInfo:
        with self.transaction() as s:
            return corrections.unlock_period(s, day_from, day_to, by, reason)

    def periods(self) -> list[PeriodInfo]:
        with self.transaction() as s:
            return corrections.list_periods(s)

    # -- timesheets ---------------------------------------------------------------

    def scope(
        self, *, site: str | None = None, group: str | None = None, person: str | None = None
    ) -> list[int] | None:
        """The ids of the people of this site, group and person (all given: in all),
        None for everyone; an unknown name is an error, never an empty scope."""
        with self.transaction() as s:
            scope = org.user_ids_in_scope(s, site, group)
            if person is not None:
                user_id = get_user(s, person, loose=True).id
                scope = [user_id] if scope is None or user_id in scope else []
            return scope

    def timesheet(
        self,
        date_from: date,
        date_to: date,
        *,
        site: str | None = None,
        group: str | None = None,
        person: str | None = None,
        now: datetime | None = None,
    ) -> tuple[list[TimesheetDay], list[PersonTotals]]:
        """The days as known at ``now`` (default: now): the days that have not
        happened yet are ``upcoming``, and the totals are of the others."""
        check_period(date_from, date_to)
        scope = self.scope(site=site, group=group, person=person)
        with self.transaction() as s:
            days = timesheet_days(s, date_from, date_to, self.zone, scope, now)
        return days, totals(days)

    def exceptions(
        self, date_from: date, date_to: date, now: datetime | None = None
    ) -> list[TimesheetDay] | None:
        """The days someone was late, absent or did not clock out; None when no shift
        is set up (a site with no schedules sees no change in its reports)."""
        with self.transaction() as s:
            if not schedules.list_shifts(s):
                return None
        days, _ = self.timesheet(date_from, date_to, now=now)
        return [d for d in days if d.late_minutes > 0 or d.absent or d.missing_clock_out]
