"""The schema: alembic migrations, the ORM models, the HNSW index, vector validation."""

from __future__ import annotations

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DataError, StatementError

from facedb.errors import MigrationNotAppliedError
from facedb.store import migrate
from facedb.store.engine import make_engine
from facedb.store.tables.base import Base

TABLES = {"users", "face_embeddings", "attendance", "thresholds", "api_keys"}


def test_head_revision_is_the_scripts_head() -> None:
    # Commands compare the database with HEAD_REVISION without reading the scripts:
    # a new migration must move it.
    assert migrate.head_revision() == migrate.scripts_head()


def test_upgrade_downgrade_upgrade_round_trip(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert not TABLES & set(inspect(engine).get_table_names())
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert "attendance_daily" in inspect(engine).get_view_names()
    engine.dispose()


def test_models_agree_with_migrations(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_object": lambda obj, name, type_, reflected, compare_to: (
                    name != "alembic_version"
                )
            },
        )
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


def _random_unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, 512)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_planner_uses_hnsw_index_for_nearest_neighbours(database_url: str) -> None:
    engine = make_engine(database_url)
    vectors = _random_unit_vectors(3000)
    with engine.begin() as conn:
        user_id = conn.execute(
            text("INSERT INTO users (name) VALUES ('many') RETURNING id")
        ).scalar()
        conn.execute(
            text(
                "INSERT INTO face_embeddings (user_id, embedding, model) "
                "SELECT :uid, v::vector, 'm' FROM unnest(CAST(:vs AS text[])) AS v"
            ),
            {"uid": user_id, "vs": [str(v.tolist()) for v in vectors]},
        )
        conn.execute(text("ANALYZE face_embeddings"))
        plan = (
            conn.execute(
                text(
                    "EXPLAIN SELECT id FROM face_embeddings "
                    "ORDER BY embedding <=> CAST(:q AS vector) LIMIT 10"
                ),
                {"q": str(vectors[0].tolist())},
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert any("face_embeddings_embedding_hnsw_idx" in line for line in plan), plan


@pytest.mark.parametrize(
    ("vector", "message"),
    [
        ([0.1] * 513, "expected 512 dimensions, not 513"),
        ([float("nan")] + [0.1] * 511, "NaN not allowed in vector"),
    ],
)
def test_invalid_vectors_are_refused(database_url: str, vector: list[float], message: str) -> None:
    engine = make_engine(database_url)
    with pytest.raises((DataError, StatementError)) as caught, engine.begin() as conn:
        user_id = conn.execute(text("INSERT INTO users (name) VALUES ('x') RETURNING id")).scalar()
        conn.execute(
            text(
                "INSERT INTO face_embeddings (user_id, embedding, model) "
                "VALUES (:uid, CAST(:v AS vector), 'm')"
            ),
            {"uid": user_id, "v": "[" + ",".join(str(x) for x in vector) + "]"},
        )
    assert message in str(caught.value)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 0
    engine.dispose()


def test_a_timesheet_function_changed_by_hand_stops_the_upgrade_with_one_line(
    empty_database_url: str,
) -> None:
    engine = make_engine(empty_database_url)
    migrate.upgrade(engine, "0008_evidence")
    with engine.begin() as conn:
        definition = conn.execute(
            text("SELECT pg_get_functiondef('timesheet(date,date,text,bigint[])'::regprocedure)")
        ).scalar_one()
        changed = definition.replace("extract(epoch FROM", "date_part('epoch',", 1)
        conn.execute(text(changed).execution_options(no_parameters=True))
    with pytest.raises(MigrationNotAppliedError, match="not the one facedb created"):
        migrate.upgrade(engine)
    assert migrate.current_revision(engine) == "0008_evidence"
    engine.dispose()
