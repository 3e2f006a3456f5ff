"""`facedb report` at scale: 1,000 people, 1M attendance rows over a year.

The rows are made in SQL (generate_series): about 2,700 events a day between 07:00
and 19:00 UTC, 93% accepted. The report of one day, and of 30 days, is timed
through FaceService.report (what `facedb report --date` runs), and each statement it
sends is shown with EXPLAIN (ANALYZE, BUFFERS).
"""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, event, text

from benchmarks.common import percentile
from benchmarks.pg import bench_database
from facedb.config import Settings
from facedb.service import FaceService

PEOPLE = 1_000
FIRST_DAY = date(2025, 1, 1)
REPORT_DAY = date(2025, 7, 1)

_USERS = "INSERT INTO users (name) SELECT 'person-' || lpad(i::text, 5, '0') FROM generate_series(1, :n) i"
_EVENTS = """
INSERT INTO attendance (event_id, occurred_at, kind, decision, user_id, similarity,
                        threshold, device, model)
SELECT gen_random_uuid(),
       timestamptz '2025-01-01 00:00:00+00' + ((i * 365) / :n) * interval '1 day'
           + interval '7 hours' + random() * interval '12 hours',
       'identify', d.decision,
       CASE WHEN d.decision = 'unknown' THEN NULL ELSE 1 + (i * 7919) % :people END,
       0.3 + random() * 0.5, 0.3, 'kiosk-' || (i % 4), 'w600k_mbf_int8'
FROM generate_series(1::bigint, :n) i
CROSS JOIN LATERAL (SELECT CASE WHEN random() < 0.93 THEN 'accepted'
                                WHEN random() < 0.5 THEN 'unknown'
                                ELSE 'rejected' END AS decision WHERE i > 0) d
"""


def fill(engine: Engine, rows: int) -> float:
    """Makes the people and the events; returns the seconds it took."""
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(_USERS), {"n": PEOPLE})
        conn.execute(text(_EVENTS), {"n": rows, "people": PEOPLE})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE attendance"))
        conn.execute(text("ANALYZE users"))
    return time.perf_counter() - t0


def _time_report(service: FaceService, first: date, last: date, reps: int) -> list[float]:
    service.report(first, last, "UTC")  # warm: plans, caches
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        service.report(first, last, "UTC")
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _statements(engine: Engine, service: FaceService) -> list[tuple[str, Any]]:
    """The SQL statements one report sends, with their parameters."""
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        service.report(REPORT_DAY, REPORT_DAY, "UTC")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return sent


def explain(engine: Engine, service: FaceService) -> list[list[str]]:
    plans = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, params in _statements(engine, service):
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, params)
            plans.append([str(row[0]) for row in cursor.fetchall()])
        raw.rollback()
    finally:
        raw.close()
    return plans


def run(quick: bool) -> dict[str, Any]:
    print("benchmarks: reports over the attendance log", file=sys.stderr)
    rows = 100_000 if quick else 1_000_000
    reps = 10 if quick else 30
    with bench_database() as database:
        engine = database.engine
        fill_s = fill(engine, rows)
        service = FaceService(Settings(home=database.home), database=database)
        day = _time_report(service, REPORT_DAY, REPORT_DAY, reps)
        month = _time_report(service, REPORT_DAY, REPORT_DAY + timedelta(days=29), reps)
        plans = explain(engine, service)
        with engine.connect() as conn:
            day_rows = conn.execute(
                text(
                    "SELECT count(*) FROM attendance WHERE occurred_at >= :a AND occurred_at < :b"
                ),
                {"a": REPORT_DAY, "b": REPORT_DAY + timedelta(days=1)},
            ).scalar_one()
    return {
        "rows": rows,
        "people": PEOPLE,
        "fill_s": fill_s,
        "rows_in_day": int(day_rows),
        "day_p50_ms": percentile(day, 50),
        "day_p99_ms": percentile(day, 99),
        "month_p50_ms": percentile(month, 50),
        "month_p99_ms": percentile(month, 99),
        "plans": plans,
        "uses_index": all(any("Index" in line for line in plan) for plan in plans[:1]),
    }
