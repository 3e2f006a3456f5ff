"""Migrations with data: each migration after the initial one, down and up again
with rows in every table, loses nothing the schema keeps. (Downgrading the initial
migration drops every table: tests/test_migrations.py covers that round trip.)"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from sqlalchemy import Engine, inspect, text

from facedb.store import migrate
from facedb.store.engine import make_engine

# Rows for every table at head; a new table needs rows here (the test says so).
FILL = [
    "INSERT INTO users (name, external_id, active, meta) VALUES "
    "('Alice', 'E-1', true, '{\"team\": \"a\"}'), ('Bob', NULL, false, '{}')",
    "INSERT INTO face_embeddings (user_id, embedding, model, det_score, quality, source) "
    "SELECT u.id, CAST(:vector AS vector), 'w600k_mbf_int8', 0.9, 0.8, 'a.jpg' FROM users u",
    "INSERT INTO attendance (event_id, occurred_at, kind, decision, user_id, claimed_user_id, "
    "similarity, threshold, liveness, device, model, offline) "
    "SELECT gen_random_uuid(), now() - make_interval(hours => g), 'verify', 'accepted', u.id, "
    "u.id, 0.7, 0.3, 0.99, 'door', 'w600k_mbf_int8', g % 2 = 0 "
    "FROM users u, generate_series(1, 3) AS g",
    "INSERT INTO thresholds (model, threshold, far, tar, pairs, source) "
    "VALUES ('w600k_mbf_int8', 0.31, 0.001, 0.95, 2000, 'celeba')",
    "INSERT INTO api_keys (name, role, key_hash) VALUES ('door', 'kiosk', :hash)",
    "INSERT INTO gallery_calibrations (model, persons, faces, pairs, tail) VALUES "
    '(\'w600k_mbf_int8\', 2, 2, 1, \'{"pairs": 1, "scores": [0.2], "survival": [0.01], '
    '"scale": 0.03}\')',
    "INSERT INTO lookalikes (user_id, other_user_id, similarity, model) "
    "SELECT a.id, b.id, 0.3, 'w600k_mbf_int8' FROM users a, users b WHERE a.id <> b.id",
    "INSERT INTO event_sinks (kind, target, events, secret) VALUES "
    "('webhook', 'http://127.0.0.1:9/hook', '{accepted}', 's3cret'), ('mqtt', 'mqtt', NULL, NULL)",
    "INSERT INTO outbox (event_id, payload) "
    "SELECT event_id, jsonb_build_object('event_id', event_id) FROM attendance",
    "INSERT INTO outbox_deliveries (message_id, sink_id, status, attempts, last_error) "
    "SELECT o.id, s.id, 'dead', 3, 'HTTP 500' FROM outbox o, event_sinks s",
    "INSERT INTO sites (name, timezone) VALUES ('Paris', 'Europe/Paris')",
    "INSERT INTO groups (name, kind) VALUES ('Kitchen', 'department')",
    "INSERT INTO user_sites (user_id, site_id) SELECT u.id, s.id FROM users u, sites s",
    "INSERT INTO group_members (group_id, user_id) SELECT g.id, u.id FROM groups g, users u",
    "INSERT INTO devices (name, site_id, role) SELECT 'door', id, 'in' FROM sites",
    "INSERT INTO shifts (name, start_time, end_time, break_minutes, weekdays) "
    "VALUES ('night', '22:00', '06:00', 30, '{1,2,3,4,5,6,7}')",
    "INSERT INTO shift_assignments (shift_id, user_id, valid_from) "
    "SELECT s.id, u.id, '2026-01-01' FROM shifts s, users u",
    "INSERT INTO holidays (site_id, day, name) SELECT id, '2026-11-11', 'Armistice' FROM sites",
    "INSERT INTO leave (user_id, kind, day_from, day_to, created_by) "
    "SELECT id, 'sick', '2026-11-02', '2026-11-03', 'hr' FROM users",
    "INSERT INTO attendance_corrections (action, event_id, reason, created_by) "
    "SELECT 'void', event_id, 'false_accept', 'admin' FROM attendance",
    "INSERT INTO pay_periods (day_from, day_to, timezone, locked_by) "
    "VALUES ('2026-10-01', '2026-10-31', 'Europe/Paris', 'payroll')",
    "INSERT INTO evidence (event_id, occurred_at, model, embedding, thumbnail, quality_ok, "
    "quality, det_score, liveness, reasons, candidates) "
    "SELECT event_id, occurred_at, model, CAST(:vector AS vector), '\\xffd8ffd9', true, 0.8, "
    "0.9, 0.99, '[\"blur\"]', '[]' "
    "FROM attendance",
    "INSERT INTO review_actions (event_id, action, user_id, correction_id, note, created_by) "
    "SELECT c.event_id, 'reassign', u.id, c.id, 'checked', 'admin' "
    "FROM attendance_corrections c, users u WHERE u.name = 'Alice'",
    "INSERT INTO template_additions (user_id, face_id, event_id, model, similarity, threshold, "
    "runner_up, liveness, quality, nearest) "
    "SELECT f.user_id, f.id, gen_random_uuid(), f.model, 0.6, 0.3, 0.1, NULL, 0.8, 0.7 "
    "FROM face_embeddings f",
    "INSERT INTO non_matches (user_id, event_id, model, embedding, action, created_by) "
    "SELECT user_id, event_id, model, CAST(:vector AS vector), 'dismiss', 'admin' "
    "FROM attendance WHERE user_id IS NOT NULL",
]


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def _dump(engine: Engine) -> dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
    """Every table's columns and rows (as text, so that vectors and JSON compare)."""
    dump = {}
    with engine.connect() as conn:
        for table in [*sorted(_tables(engine)), "attendance_daily"]:
            result = conn.execute(text(f'SELECT * FROM "{table}"'))
            columns = tuple(result.keys())
            rows = sorted(tuple(_text(v) for v in row) for row in result)
            dump[table] = (columns, rows)
    return dump


def _text(value: Any) -> str:
    # bytea comes back as a memoryview, whose str() is its address
    return bytes(value).hex() if isinstance(value, memoryview | bytes) else str(value)


def _project(
    table: tuple[tuple[str, ...], list[tuple[Any, ...]]], columns: tuple[str, ...]
) -> list[tuple[Any, ...]]:
    names, rows = table
    index = [names.index(c) for c in columns]
    return sorted(tuple(row[i] for i in index) for row in rows)


def test_each_migration_round_trips_with_rows_in_every_table(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    migrate.upgrade(engine)
    vector = np.random.default_rng(0).standard_normal(512)
    with engine.begin() as conn:
        for statement in FILL:
            conn.execute(
                text(statement),
                {"vector": str((vector / np.linalg.norm(vector)).tolist()), "hash": "0" * 64},
            )
    head = _dump(engine)
    empty = [t for t, (_, rows) in head.items() if not rows]
    assert not empty, f"add rows for {empty} to FILL"

    revisions = [revision for revision, _ in migrate.history()]
    for lower, upper in reversed(list(itertools.pairwise(revisions))):
        # Each step starts at its upper revision (the previous step ended above it).
        if migrate.current_revision(engine) != upper:
            migrate.downgrade(engine, upper)
        before = _dump(engine)
        migrate.downgrade(engine, lower)
        down = _dump(engine)
        for table, (columns, rows) in down.items():
            assert table in before, f"{lower} has a table {upper} dropped: {table}"
            assert rows == _project(before[table], columns), f"{table} changed going to {lower}"
        migrate.upgrade(engine, upper)
        up = _dump(engine)
        assert up.keys() == before.keys()
        for table, (columns, rows) in down.items():
            assert _project(up[table], columns) == rows, f"{table} changed going to {upper}"
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    # Rows of tables the round trip kept are all still there, byte for byte.
    after = _dump(engine)
    kept = {t for t in head if t in after and after[t][1]}
    assert kept >= {"users", "face_embeddings", "attendance", "thresholds", "attendance_daily"}
    for table in kept:
        assert after[table] == head[table]
    engine.dispose()
