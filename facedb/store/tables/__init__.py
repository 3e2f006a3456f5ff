"""The tables, as SQLAlchemy 2.0 typed models, one module per group, on the leaf
``base`` (Base, column helpers, the embedding dimension). Importing the package
registers every table on Base.metadata (what migrations and tests/test_migrations.py
compare), whichever module a caller needs."""

from facedb.store.tables import core, evidence, org, outbox, search, templates, time_attendance

__all__ = ["core", "evidence", "org", "outbox", "search", "templates", "time_attendance"]
