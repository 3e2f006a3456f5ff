"""Time and attendance: shifts, assignments, holidays, leave, append-only corrections,
locked pay periods, the attendance_effective view and the timesheet() function.

Nothing existing changes: the attendance log is read, never altered; a person with
no shift gets the day they had before (first seen to last seen).

Revision ID: 0007_time_attendance
Revises: 0006_outbox
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_time_attendance"
down_revision = "0006_outbox"
branch_labels = None
depends_on = None

# Every accepted event and every added punch, minus the voided ones (the latest of
# void/restore wins), with its person after reassignment and its direction: the
# added punch's own, else its device's role, else 'both' (an unregistered device).
ATTENDANCE_EFFECTIVE = """
CREATE VIEW attendance_effective AS
WITH state AS (
    SELECT DISTINCT ON (event_id) event_id, action
    FROM attendance_corrections
    WHERE action IN ('void', 'restore')
    ORDER BY event_id, id DESC
), owner AS (
    SELECT DISTINCT ON (event_id) event_id, user_id
    FROM attendance_corrections
    WHERE action = 'reassign'
    ORDER BY event_id, id DESC
), punches AS (
    SELECT a.event_id, a.user_id, a.occurred_at, a.device, NULL::text AS direction,
           'log'::text AS source
    FROM attendance a
    WHERE a.decision = 'accepted'
    UNION ALL
    SELECT c.event_id, c.user_id, c.occurred_at, c.device, c.direction, 'correction'
    FROM attendance_corrections c
    WHERE c.action = 'add'
)
SELECT p.event_id,
       coalesce(o.user_id, p.user_id) AS user_id,
       p.occurred_at,
       p.device,
       coalesce(p.direction, d.role, 'both') AS direction,
       p.source
FROM punches p
LEFT JOIN owner o ON o.event_id = p.event_id
LEFT JOIN state s ON s.event_id = p.event_id
LEFT JOIN devices d ON d.name = p.device
WHERE s.action IS DISTINCT FROM 'void'
"""

# One row per person and work day: docs/TIME_AND_ATTENDANCE.md says what each
# column means and how a work day's window is drawn.
TIMESHEET = """
CREATE FUNCTION timesheet(p_from date, p_to date,
                          p_default_tz text DEFAULT current_setting('TimeZone'),
                          p_user_ids bigint[] DEFAULT NULL)
RETURNS TABLE (
    user_id bigint, name text, external_id text, site text, timezone text, work_day date,
    shift text,
    scheduled_start timestamptz, scheduled_end timestamptz, scheduled_minutes integer,
    first_in timestamptz, last_out timestamptz, punches integer, mode text,
    worked_minutes integer, late_minutes integer, early_leave_minutes integer,
    missing_clock_out boolean, absent boolean, leave text, leave_minutes integer,
    holiday text, expected_minutes integer, overtime_minutes integer, status text)
LANGUAGE sql STABLE
-- The planner cannot estimate these CTEs; a nested loop over events x days is
-- quadratic, hash and merge joins are linear (docs/BENCHMARKS.md).
SET enable_nestloop = off
AS $fn$
WITH people AS (
    SELECT u.id AS user_id, u.name::text AS name, u.external_id, u.active, s.id AS site_id,
           s.name::text AS site, coalesce(s.timezone, p_default_tz) AS tz
    FROM users u
    LEFT JOIN user_sites us ON us.user_id = u.id
    LEFT JOIN sites s ON s.id = us.site_id
    WHERE p_user_ids IS NULL OR u.id = ANY (p_user_ids)
), days AS (
    SELECT p_from - 1 + i AS day FROM generate_series(0, p_to - p_from + 2) AS i
), candidates AS (
    SELECT sa.user_id, sa.shift_id, sa.valid_from, sa.valid_to, sa.id, 1 AS own
    FROM shift_assignments sa WHERE sa.user_id IS NOT NULL
    UNION ALL
    SELECT gm.user_id, sa.shift_id, sa.valid_from, sa.valid_to, sa.id, 0
    FROM shift_assignments sa JOIN group_members gm ON gm.group_id = sa.group_id
), assigned AS (
    SELECT DISTINCT ON (c.user_id, d.day) c.user_id, d.day, c.shift_id
    FROM candidates c
    JOIN days d ON d.day >= c.valid_from AND (c.valid_to IS NULL OR d.day <= c.valid_to)
    ORDER BY c.user_id, d.day, c.own DESC, c.valid_from DESC, c.id DESC
), zone_days AS (
    -- Local midnights and shift times per zone and day, not per person: timezone()
    -- runs a few hundred times instead of three times per person-day.
    SELECT z.tz, d.day, timezone(z.tz, d.day::timestamp) AS midnight
    FROM (SELECT DISTINCT tz FROM people) z CROSS JOIN days d
), shift_days AS (
    SELECT zd.tz, zd.day, sh.id AS shift_id, sh.name::text AS shift, sh.break_minutes,
           sh.grace_minutes,
           extract(isodow FROM zd.day)::smallint = ANY (sh.weekdays) AS scheduled,
           timezone(zd.tz, zd.day + sh.start_time) AS start_at,
           timezone(zd.tz, zd.day + sh.end_time
                    + CASE WHEN sh.end_time <= sh.start_time
                           THEN interval '1 day' ELSE interval '0' END) AS end_at
    FROM zone_days zd CROSS JOIN shifts sh
), plan AS (
    SELECT p.user_id, p.tz, d.day, zd.midnight, sd.shift, sd.break_minutes,
           sd.grace_minutes, a.shift_id IS NOT NULL AS has_plan,
           coalesce(sd.scheduled, false) AS scheduled,
           CASE WHEN sd.scheduled THEN sd.start_at END AS s_start,
           CASE WHEN sd.scheduled THEN sd.end_at END AS s_end
    FROM people p
    CROSS JOIN days d
    JOIN zone_days zd ON zd.tz = p.tz AND zd.day = d.day
    LEFT JOIN assigned a ON a.user_id = p.user_id AND a.day = d.day
    LEFT JOIN shift_days sd ON sd.tz = p.tz AND sd.day = d.day AND sd.shift_id = a.shift_id
), windows AS (
    -- A work day starts at local midnight, or 4 hours after the previous day's
    -- scheduled end when that is later (but at most 2 hours before this day's own
    -- start): a night shift's punches belong to the day it starts on, and so does
    -- a late clock-out after an evening shift.
    SELECT l.*,
           CASE WHEN l.prev_end IS NULL THEN l.midnight
                ELSE greatest(l.midnight, least(l.prev_end + interval '4 hours',
                                                l.s_start - interval '2 hours'))
           END AS b_start
    FROM (SELECT pl.*, lag(pl.s_end) OVER (PARTITION BY pl.user_id ORDER BY pl.day) AS prev_end
          FROM plan pl) l
), ev AS MATERIALIZED (
    -- Each event's local calendar day; it belongs to that work day, or to the day
    -- before when it comes before that day's start (a night shift's morning).
    SELECT e.user_id, e.event_id, e.occurred_at, e.direction,
           (e.occurred_at AT TIME ZONE p.tz)::date AS local_day
    FROM attendance_effective e
    JOIN people p ON p.user_id = e.user_id
    WHERE e.occurred_at >= timezone('UTC', (p_from - 2)::timestamp)
      AND e.occurred_at < timezone('UTC', (p_to + 3)::timestamp)
), dayev AS (
    SELECT x.* FROM (
        SELECT w.user_id,
               CASE WHEN e.occurred_at < w.b_start THEN w.day - 1 ELSE w.day END AS day,
               e.event_id, e.occurred_at, e.direction
        FROM ev e
        JOIN windows w ON w.user_id = e.user_id AND w.day = e.local_day
    ) x
    WHERE x.day BETWEEN p_from AND p_to
), ordered AS (
    SELECT de.*,
           lag(de.direction) OVER o AS prev_dir,
           lead(de.direction) OVER o AS next_dir,
           bool_and(de.direction <> 'both') OVER (PARTITION BY de.user_id, de.day) AS paired
    FROM dayev de
    WINDOW o AS (PARTITION BY de.user_id, de.day
                 ORDER BY de.occurred_at, de.direction, de.event_id)
), pairs AS (
    -- Paired mode: the first 'in' of a run of ins and the last 'out' of a run of
    -- outs; each kept 'in' followed by a kept 'out' is a worked interval.
    SELECT o.user_id, o.day, o.occurred_at, o.direction,
           lead(o.direction) OVER k AS k_next_dir,
           lead(o.occurred_at) OVER k AS k_next_at
    FROM ordered o
    WHERE o.paired
      AND ((o.direction = 'in' AND o.prev_dir IS DISTINCT FROM 'in')
           OR (o.direction = 'out' AND o.next_dir IS DISTINCT FROM 'out'))
    WINDOW k AS (PARTITION BY o.user_id, o.day ORDER BY o.occurred_at, o.direction)
), paired_sum AS (
    SELECT pr.user_id, pr.day,
           sum(CASE WHEN pr.direction = 'in' AND pr.k_next_dir = 'out'
                    THEN extract(epoch FROM pr.k_next_at - pr.occurred_at) ELSE 0 END)
               AS worked_s,
           min(pr.occurred_at) FILTER (WHERE pr.direction = 'in') AS first_in,
           max(pr.occurred_at) FILTER (WHERE pr.direction = 'out') AS last_out,
           bool_or(pr.direction = 'in' AND pr.k_next_dir IS NULL) AS missing
    FROM pairs pr
    GROUP BY pr.user_id, pr.day
), all_sum AS (
    SELECT o.user_id, o.day, count(*)::int AS punches, min(o.occurred_at) AS first_at,
           max(o.occurred_at) AS last_at, bool_and(o.paired) AS paired
    FROM ordered o
    GROUP BY o.user_id, o.day
), lv AS (
    SELECT DISTINCT ON (l.user_id, d.day) l.user_id, d.day, l.kind, l.minutes
    FROM leave l
    JOIN days d ON d.day BETWEEN l.day_from AND l.day_to
    ORDER BY l.user_id, d.day, l.minutes DESC NULLS FIRST, l.id DESC
), hol AS (
    SELECT DISTINCT ON (p.user_id, h.day) p.user_id, h.day, h.name
    FROM holidays h
    JOIN people p ON h.site_id = p.site_id OR h.site_id IS NULL
    WHERE h.day BETWEEN p_from AND p_to
    ORDER BY p.user_id, h.day, h.site_id NULLS LAST
), measured AS (
    SELECT w.*, pp.name, pp.external_id, pp.active, pp.site,
           a.punches, a.paired, a.first_at, a.last_at, ps.worked_s AS paired_s,
           ps.first_in AS paired_in, ps.last_out AS paired_out, ps.missing AS paired_missing,
           lv.kind AS leave_kind, lv.minutes AS leave_part, hol.name AS holiday_name,
           CASE WHEN w.scheduled
                THEN (floor(extract(epoch FROM w.s_end - w.s_start) / 60)
                      - w.break_minutes)::int END AS sched_min
    FROM windows w
    JOIN people pp ON pp.user_id = w.user_id
    LEFT JOIN all_sum a ON a.user_id = w.user_id AND a.day = w.day
    LEFT JOIN paired_sum ps ON ps.user_id = w.user_id AND ps.day = w.day
    LEFT JOIN lv ON lv.user_id = w.user_id AND lv.day = w.day
    LEFT JOIN hol ON hol.user_id = w.user_id AND hol.day = w.day
    WHERE w.day BETWEEN p_from AND p_to
), derived AS (
    SELECT m.*,
           CASE WHEN m.punches IS NULL THEN NULL
                WHEN m.paired THEN m.paired_in ELSE m.first_at END AS f_in,
           CASE WHEN m.punches IS NULL THEN NULL
                WHEN m.paired THEN m.paired_out
                WHEN m.punches >= 2 THEN m.last_at END AS l_out,
           coalesce(m.punches > 0 AND CASE WHEN m.paired THEN coalesce(m.paired_missing, false)
                                           ELSE m.punches = 1 END, false) AS missing,
           floor(CASE WHEN m.punches IS NULL THEN 0
                      WHEN m.paired THEN coalesce(m.paired_s, 0)
                      WHEN m.punches >= 2
                      THEN greatest(extract(epoch FROM m.last_at - m.first_at)
                                    - 60 * coalesce(m.break_minutes, 0), 0)
                      ELSE 0 END / 60)::int AS worked,
           CASE WHEN NOT m.scheduled OR m.holiday_name IS NOT NULL
                     OR (m.leave_kind IS NOT NULL AND m.leave_part IS NULL) THEN 0
                ELSE greatest(m.sched_min - coalesce(m.leave_part, 0), 0) END AS expected
    FROM measured m
)
SELECT d.user_id, d.name, d.external_id, d.site, d.tz, d.day, d.shift, d.s_start, d.s_end, d.sched_min,
       d.f_in, d.l_out, coalesce(d.punches, 0),
       CASE WHEN d.punches IS NULL THEN NULL WHEN d.paired THEN 'paired' ELSE 'span' END,
       d.worked,
       CASE WHEN d.expected > 0 AND d.leave_kind IS NULL
                 AND d.f_in > d.s_start + make_interval(mins => d.grace_minutes)
            THEN floor(extract(epoch FROM d.f_in - d.s_start) / 60)::int ELSE 0 END,
       CASE WHEN d.expected > 0 AND d.leave_kind IS NULL AND NOT d.missing
                 AND d.l_out < d.s_end - make_interval(mins => d.grace_minutes)
            THEN floor(extract(epoch FROM d.s_end - d.l_out) / 60)::int ELSE 0 END,
       d.missing,
       d.expected > 0 AND d.punches IS NULL AND d.active,
       d.leave_kind,
       CASE WHEN d.leave_kind IS NULL THEN NULL ELSE coalesce(d.leave_part, d.sched_min, 0) END,
       d.holiday_name,
       d.expected,
       CASE WHEN d.has_plan THEN greatest(d.worked - d.expected, 0) ELSE 0 END,
       CASE WHEN d.punches IS NOT NULL THEN 'present'
            WHEN d.leave_kind IS NOT NULL AND d.leave_part IS NULL THEN 'leave'
            WHEN d.scheduled AND d.holiday_name IS NOT NULL THEN 'holiday'
            WHEN d.expected > 0 THEN 'absent'
            ELSE 'off' END
FROM derived d
WHERE d.punches IS NOT NULL
   OR (d.active AND (d.scheduled OR (d.leave_kind IS NOT NULL AND NOT d.has_plan)))
ORDER BY lower(d.name), d.user_id, d.day
$fn$
"""

TIMESHEET_TODAY = """
CREATE VIEW timesheet_today AS
SELECT * FROM timesheet(current_date, current_date, current_setting('TimeZone'))
"""

APPEND_ONLY = """
CREATE FUNCTION attendance_corrections_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    -- A forgotten person (users row deleted) only loses the link: ON DELETE SET NULL.
    IF TG_OP = 'UPDATE' AND NEW.user_id IS NULL AND OLD.user_id IS NOT NULL
       AND (to_jsonb(NEW) - 'user_id') = (to_jsonb(OLD) - 'user_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'attendance corrections are append-only: add a correction instead';
END
$fn$;
CREATE TRIGGER attendance_corrections_append_only
BEFORE UPDATE OR DELETE ON attendance_corrections
FOR EACH ROW EXECUTE FUNCTION attendance_corrections_append_only();
"""


def _created() -> sa.Column[sa.DateTime]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def _user(nullable: bool, ondelete: str) -> sa.Column[sa.BigInteger]:
    return sa.Column(
        "user_id", sa.BigInteger(), sa.ForeignKey("users.id", ondelete=ondelete), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "shifts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column("break_minutes", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("grace_minutes", sa.Integer(), nullable=False, server_default=sa.text("5")),
        sa.Column(
            "weekdays",
            postgresql.ARRAY(sa.SmallInteger()),
            nullable=False,
            server_default=sa.text("'{1,2,3,4,5}'"),
        ),
        _created(),
        sa.CheckConstraint(
            "break_minutes >= 0 AND grace_minutes >= 0", name="shifts_minutes_check"
        ),
        sa.CheckConstraint("weekdays <@ '{1,2,3,4,5,6,7}'", name="shifts_weekdays_check"),
    )
    op.create_index("shifts_name_lower_key", "shifts", [sa.text("lower(name)")], unique=True)

    op.create_table(
        "shift_assignments",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "shift_id",
            sa.BigInteger(),
            sa.ForeignKey("shifts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _user(True, "CASCADE"),
        sa.Column(
            "group_id",
            sa.BigInteger(),
            sa.ForeignKey("groups.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        _created(),
        sa.CheckConstraint("(user_id IS NULL) <> (group_id IS NULL)", name="shift_assignments_one"),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from", name="shift_assignments_dates"
        ),
    )
    op.create_index("shift_assignments_user_id_idx", "shift_assignments", ["user_id"])
    op.create_index("shift_assignments_group_id_idx", "shift_assignments", ["group_id"])

    op.create_table(
        "holidays",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "site_id", sa.BigInteger(), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
    )
    op.create_index(
        "holidays_site_day_key",
        "holidays",
        [sa.text("coalesce(site_id, 0)"), "day"],
        unique=True,
    )

    op.create_table(
        "leave",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        _user(False, "CASCADE"),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("day_from", sa.Date(), nullable=False),
        sa.Column("day_to", sa.Date(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        _created(),
        sa.CheckConstraint("kind IN ('vacation', 'sick', 'other')", name="leave_kind_check"),
        sa.CheckConstraint("day_to >= day_from", name="leave_dates_check"),
        sa.CheckConstraint("minutes IS NULL OR minutes > 0", name="leave_minutes_check"),
    )
    op.create_index("leave_user_id_idx", "leave", ["user_id"])

    op.create_table(
        "attendance_corrections",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False),
        _user(True, "SET NULL"),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("device", sa.Text(), nullable=True),
        sa.Column("direction", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        _created(),
        sa.CheckConstraint(
            "action IN ('add', 'void', 'restore', 'reassign')", name="corrections_action_check"
        ),
        sa.CheckConstraint(
            "reason IN ('missed_punch', 'false_accept', 'wrong_person', 'device_fault', 'other')",
            name="corrections_reason_check",
        ),
        sa.CheckConstraint(
            "direction IS NULL OR direction IN ('in', 'out', 'both')",
            name="corrections_direction_check",
        ),
        sa.CheckConstraint(
            "action <> 'add' OR occurred_at IS NOT NULL", name="corrections_add_check"
        ),
    )
    op.create_index(
        "attendance_corrections_event_id_idx", "attendance_corrections", ["event_id"]
    )
    op.create_index("attendance_corrections_user_id_idx", "attendance_corrections", ["user_id"])
    op.execute(APPEND_ONLY)

    op.create_table(
        "pay_periods",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("day_from", sa.Date(), nullable=False),
        sa.Column("day_to", sa.Date(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("locked_by", sa.Text(), nullable=False),
        sa.Column(
            "locked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("unlocked_by", sa.Text(), nullable=True),
        sa.Column("unlocked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unlock_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("day_to >= day_from", name="pay_periods_dates_check"),
    )

    op.execute(ATTENDANCE_EFFECTIVE)
    op.execute(TIMESHEET)
    op.execute(TIMESHEET_TODAY)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS timesheet_today")
    op.execute("DROP FUNCTION IF EXISTS timesheet(date, date, text, bigint[])")
    op.execute("DROP VIEW IF EXISTS attendance_effective")
    op.drop_table("pay_periods")
    op.drop_table("attendance_corrections")
    op.execute("DROP FUNCTION IF EXISTS attendance_corrections_append_only()")
    op.drop_table("leave")
    op.drop_table("holidays")
    op.drop_table("shift_assignments")
    op.drop_table("shifts")
