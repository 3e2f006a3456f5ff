"""Time and attendance: shifts, their assignments, holidays, leave, corrections and
locked pay periods. The daily status is computed by the SQL function ``timesheet``
(migration 0007_time_attendance; docs/TIME_AND_ATTENDANCE.md)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import column, table

from facedb.domain.constants import REASON_CODES
from facedb.domain.names import NAME_MAX_LENGTH
from facedb.store.tables.base import Base, one_of

LEAVE_KINDS = ("vacation", "sick", "other")
CORRECTION_ACTIONS = ("add", "void", "restore", "reassign")
DIRECTIONS = ("in", "out", "both")
DEFAULT_GRACE_MINUTES = 5


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Shift(Base):
    """A shift template: start and end in the site's local time (an end at or before
    the start ends on the next day), on ISO weekdays (1 = Monday ... 7 = Sunday)."""

    __tablename__ = "shifts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH), nullable=False)
    start_time: Mapped[time] = mapped_column(Time, nullable=False)
    end_time: Mapped[time] = mapped_column(Time, nullable=False)
    break_minutes: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    grace_minutes: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("5"))
    weekdays: Mapped[list[int]] = mapped_column(
        ARRAY(SmallInteger), nullable=False, server_default=text("'{1,2,3,4,5}'")
    )
    created_at: Mapped[datetime] = _created()

    __table_args__ = (
        Index("shifts_name_lower_key", func.lower(name), unique=True),
        CheckConstraint("break_minutes >= 0 AND grace_minutes >= 0", name="shifts_minutes_check"),
        CheckConstraint("weekdays <@ '{1,2,3,4,5,6,7}'", name="shifts_weekdays_check"),
    )


class ShiftAssignment(Base):
    """A shift for a person or for a group, from a day to a day (inclusive; NULL: open).
    A person's own assignment wins over their groups'; then the latest valid_from."""

    __tablename__ = "shift_assignments"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    shift_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("shifts.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE")
    )
    group_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("groups.id", ondelete="CASCADE")
    )
    valid_from: Mapped[date] = mapped_column(Date, nullable=False)
    valid_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = _created()

    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (group_id IS NULL)", name="shift_assignments_one"),
        CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from", name="shift_assignments_dates"
        ),
        Index("shift_assignments_user_id_idx", "user_id"),
        Index("shift_assignments_group_id_idx", "group_id"),
    )


class Holiday(Base):
    """A public holiday of one site (site_id NULL: of every site)."""

    __tablename__ = "holidays"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    site_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("sites.id", ondelete="CASCADE")
    )
    day: Mapped[date] = mapped_column(Date, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (
        # One holiday a day per site, and one a day for every site (site_id NULL).
        Index("holidays_site_day_key", func.coalesce(site_id, 0), day, unique=True),
    )


class Leave(Base):
    """Leave entered by an administrator, days inclusive; minutes NULL: whole days,
    else that many minutes of each day (a part day)."""

    __tablename__ = "leave"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    day_from: Mapped[date] = mapped_column(Date, nullable=False)
    day_to: Mapped[date] = mapped_column(Date, nullable=False)
    minutes: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = _created()

    __table_args__ = (
        CheckConstraint(one_of("kind", LEAVE_KINDS), name="leave_kind_check"),
        CheckConstraint("day_to >= day_from", name="leave_dates_check"),
        CheckConstraint("minutes IS NULL OR minutes > 0", name="leave_minutes_check"),
        Index("leave_user_id_idx", "user_id"),
    )


class Correction(Base):
    """One correction of the attendance log, never changed once written (a trigger
    refuses UPDATE and DELETE). ``event_id`` is the event concerned; for ``add`` it
    is the new punch's own id, so that an added punch can itself be voided."""

    __tablename__ = "attendance_corrections"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    # add: the person punching; reassign: the person the event now belongs to.
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    device: Mapped[str | None] = mapped_column(Text)
    direction: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = _created()

    __table_args__ = (
        CheckConstraint(one_of("action", CORRECTION_ACTIONS), name="corrections_action_check"),
        CheckConstraint(one_of("reason", REASON_CODES), name="corrections_reason_check"),
        CheckConstraint(
            "direction IS NULL OR " + one_of("direction", DIRECTIONS),
            name="corrections_direction_check",
        ),
        CheckConstraint("action <> 'add' OR occurred_at IS NOT NULL", name="corrections_add_check"),
        Index("attendance_corrections_event_id_idx", "event_id"),
        Index("attendance_corrections_user_id_idx", "user_id"),
    )


class PayPeriod(Base):
    """A locked pay period: days inclusive, read in ``timezone``. Unlocking fills the
    unlocked_* columns (the row stays, as the log of who locked and unlocked)."""

    __tablename__ = "pay_periods"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    day_from: Mapped[date] = mapped_column(Date, nullable=False)
    day_to: Mapped[date] = mapped_column(Date, nullable=False)
    timezone: Mapped[str] = mapped_column(Text, nullable=False)
    locked_by: Mapped[str] = mapped_column(Text, nullable=False)
    locked_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    unlocked_by: Mapped[str | None] = mapped_column(Text)
    unlocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unlock_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (CheckConstraint("day_to >= day_from", name="pay_periods_dates_check"),)


# The view of the log as corrected (migration 0007_time_attendance): every accepted
# event and added punch, minus the voided ones, with its person after reassignment.
# Not a model (a view); reports select from it.
attendance_effective = table(
    "attendance_effective",
    column("event_id", UUID(as_uuid=True)),
    column("user_id", BigInteger),
    column("occurred_at", DateTime(timezone=True)),
    column("device", Text),
    column("direction", Text),
    column("source", Text),
)
