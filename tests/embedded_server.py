"""A separate embedded PostgreSQL that a test stops and starts (tests/test_outage.py,
tests/test_hardening_offline.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from facedb.store import embedded
from facedb.store.engine import make_engine


@dataclass(frozen=True)
class Server:
    home: Path
    url: str

    def stop(self) -> None:
        with embedded.home_lock(self.home):
            assert embedded.stop(self.home)

    def start(self) -> None:
        with embedded.home_lock(self.home):
            embedded.start(self.home)

    def rows(self, sql: str) -> list[Any]:
        """The rows of a query, on a connection of its own."""
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql)).all())
        finally:
            engine.dispose()

    def scalar(self, sql: str) -> object:
        rows = self.rows(sql)
        return rows[0][0] if rows else None
