"""What facedb serve and facedb watch --metrics-port report beside the counters of
events/metrics.py: the gauges read at scrape time (spool depth, gallery cache age,
outbox backlog and dead letters, the loaded models and their providers) and the
time of every SQL statement."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from facedb.events import metrics
from facedb.offline import gallery_cache
from facedb.service import FaceService
from facedb.store import outbox

log = logging.getLogger(__name__)


class _StateCollector(Collector):
    """Gauges read when Prometheus scrapes: spool, cache, outbox, models."""

    def __init__(self, service: FaceService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        spool = GaugeMetricFamily(
            "facedb_spool_depth", "Offline events waiting to be written to the database"
        )
        try:
            spool.add_metric([], self.service.spool_status().pending)
        except OSError as exc:
            log.debug("spool unreadable: %s", exc)
        yield spool
        cache = GaugeMetricFamily(
            "facedb_gallery_cache_age_seconds", "Age of the newest offline gallery cache"
        )
        written = []
        for path in gallery_cache.cached_files(self.service.settings.home):
            try:
                written.append(path.stat().st_mtime)
            except OSError:  # deleted since it was listed
                continue
        if written:
            cache.add_metric([], max(0.0, time.time() - max(written)))
        yield cache
        backlog = GaugeMetricFamily("facedb_outbox_backlog", "Event deliveries pending")
        dead = GaugeMetricFamily("facedb_outbox_dead", "Event deliveries dead-lettered")
        try:
            with self.service.transaction() as session:
                pending, dead_lettered = outbox.pending_and_dead(session)
            time_sql(self.service.database.engine)
            backlog.add_metric([], pending)
            dead.add_metric([], dead_lettered)
        except Exception as exc:  # a scrape must answer while the database is down
            log.debug("outbox unreadable: %s", exc)
        yield backlog
        yield dead
        models = GaugeMetricFamily(
            "facedb_model_info",
            "Loaded models and their execution provider",
            labels=["model", "provider"],
        )
        for model, provider in self.service.pipeline.providers().items():
            models.add_metric([model, provider], 1)
        yield models


_bound: _StateCollector | None = None


def instrument(service: FaceService) -> None:
    """Reports the service's spool, cache, outbox and models at scrape time and times
    its SQL statements (from the first scrape that reaches the database, if it is
    down now). Loads the detector and embedder: a missing model raises ModelError
    after the rest is in place."""
    global _bound
    if _bound is not None:
        metrics.REGISTRY.unregister(_bound)
    _bound = _StateCollector(service)
    metrics.REGISTRY.register(_bound)
    try:
        time_sql(service.database.engine)
    except Exception as exc:  # the database may come later
        log.info("SQL not timed yet: %s", getattr(exc, "message", exc))
    service.pipeline.load()  # the model runs time themselves (metrics.timed)


def time_sql(engine: Any) -> None:
    """Times every statement of this engine (once, however often called)."""
    from sqlalchemy import event

    if not event.contains(engine, "before_cursor_execute", _before_sql):
        event.listen(engine, "before_cursor_execute", _before_sql)
        event.listen(engine, "after_cursor_execute", _after_sql)


def _before_sql(
    conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any
) -> None:
    conn.info.setdefault("facedb_sql_start", []).append(time.perf_counter())


def _after_sql(
    conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any
) -> None:
    starts = conn.info.get("facedb_sql_start")
    if starts:
        metrics.STAGE_SECONDS.labels(sql_stage(str(statement))).observe(
            time.perf_counter() - starts.pop()
        )


def sql_stage(statement: str) -> str:
    """match: a nearest-neighbour query (pgvector's <=>); write: an INSERT, UPDATE or
    DELETE; database: any other statement."""
    if "<=>" in statement:
        return "match"
    if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
        return "write"
    return "database"
