"""Prometheus metrics of one facedb process (`facedb serve` at /metrics,
`facedb watch --metrics-port`), in facedb's own registry.

    facedb_decisions_total{kind,decision,device,offline}   decisions logged (rows
                                                           written; repeats within
                                                           the cooldown are not)
    facedb_search_stage_decisions_total{stage}   1:N decisions logged, by the
                                           stage of the search that decided: index
                                           (a clear accept) or exact (store/search.py)
    facedb_stage_seconds{stage}            detect, embed, liveness (model runs),
                                           match, write, database (SQL statements:
                                           nearest-neighbour, INSERT/UPDATE/DELETE, other)
    facedb_http_request_seconds{method,route,status}       facedb serve's requests
    facedb_frames_total                    images the detector ran on (each region
                                           of a frame, with facedb watch --roi)
    facedb_watch_frames_total{detected}    frames facedb watch processed
    facedb_event_deliveries_total{sink,outcome}            webhook / MQTT attempts
    facedb_outbox_backlog                  deliveries pending (every sink)
    facedb_outbox_dead                     deliveries dead-lettered
    facedb_spool_depth                     offline events waiting for the database
    facedb_gallery_cache_age_seconds       age of the newest offline gallery cache
    facedb_model_info{model,provider}      1 per loaded model and its provider

Nothing here imports the rest of facedb at module level: store/outbox.py counts
decisions through ``count_decisions``.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from facedb.domain.attendance import AttendanceEvent
    from facedb.events.webhooks import Outcome
    from facedb.service import FaceService

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STAGES = ("detect", "embed", "liveness", "match", "write", "database")
# Seconds: a model run on a CPU takes 2 ms to 2 s, a request up to several seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REGISTRY = CollectorRegistry(auto_describe=True)
DECISIONS = Counter(
    "facedb_decisions",
    "Decisions logged (attendance rows written)",
    ["kind", "decision", "device", "offline"],
    registry=REGISTRY,
)
SEARCH_STAGE_DECISIONS = Counter(
    "facedb_search_stage_decisions",
    "1:N decisions logged, by the search stage that decided (index or exact)",
    ["stage"],
    registry=REGISTRY,
)
STAGE_SECONDS = Histogram(
    "facedb_stage_seconds",
    "Time per stage: detect, embed, liveness (model runs); match, write, database (SQL)",
    ["stage"],
    buckets=BUCKETS,
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "facedb_http_request_seconds",
    "HTTP requests of facedb serve, by route template",
    ["method", "route", "status"],
    buckets=BUCKETS,
    registry=REGISTRY,
)
FRAMES = Counter("facedb_frames", "Images the face detector ran on", registry=REGISTRY)
WATCH_FRAMES = Counter(
    "facedb_watch_frames",
    "Frames processed by facedb watch (detected: the detector ran, else boxes were tracked)",
    ["detected"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "facedb_event_deliveries",
    "Event delivery attempts (webhook, mqtt) by outcome (ok, failed)",
    ["sink", "outcome"],
    registry=REGISTRY,
)


def count_decisions(events: Sequence[AttendanceEvent]) -> None:
    for event in events:
        DECISIONS.labels(event.kind, event.decision, event.device, str(event.offline).lower()).inc()
        if event.search_stage is not None:
            SEARCH_STAGE_DECISIONS.labels(event.search_stage).inc()


def count_watch_frame(frame: Any) -> None:
    """facedb watch's on_frame callback (a WatchFrame)."""
    WATCH_FRAMES.labels(str(bool(frame.detected)).lower()).inc()


def record_delivery(sink: str, outcome: Outcome) -> None:
    DELIVERIES.labels(sink, "ok" if outcome.ok else "failed").inc()


def _timed(stage: str, method: Callable[..., Any]) -> Callable[..., Any]:
    histogram = STAGE_SECONDS.labels(stage)

    @functools.wraps(method)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            histogram.observe(time.perf_counter() - start)
            if stage == "detect":
                FRAMES.inc()

    timed.__facedb_timed__ = True  # type: ignore[attr-defined]
    return timed


def _wrap(target: object, attribute: str, stage: str) -> None:
    method = getattr(target, attribute)
    if not getattr(method, "__facedb_timed__", False):
        setattr(target, attribute, _timed(stage, method))


class _StateCollector(Collector):
    """Gauges read when Prometheus scrapes: spool, cache, outbox, models."""

    def __init__(self, service: FaceService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        from facedb.offline import gallery_cache
        from facedb.store import outbox

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
    """Reports the service's spool, cache, outbox and models at scrape time, times
    its SQL statements (from the first scrape that reaches the database, if it is
    down now) and its model runs. Loads the detector and embedder: a missing model
    raises ModelError after the rest is in place."""
    global _bound
    if _bound is not None:
        REGISTRY.unregister(_bound)
    _bound = _StateCollector(service)
    REGISTRY.register(_bound)
    try:
        time_sql(service.database.engine)
    except Exception as exc:  # the database may come later
        log.info("SQL not timed yet: %s", getattr(exc, "message", exc))
    pipeline = service.pipeline
    _wrap(pipeline.detector, "detect", "detect")
    _wrap(pipeline.detector, "detect_at", "detect")  # the regions of watch --roi
    _wrap(pipeline.embedder, "embed", "embed")
    if pipeline.liveness_available():
        _wrap(pipeline.liveness, "scores", "liveness")


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
        STAGE_SECONDS.labels(sql_stage(str(statement))).observe(time.perf_counter() - starts.pop())


def sql_stage(statement: str) -> str:
    """match: a nearest-neighbour query (pgvector's <=>); write: an INSERT, UPDATE or
    DELETE; database: any other statement."""
    if "<=>" in statement:
        return "match"
    if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
        return "write"
    return "database"


def exposition() -> bytes:
    """The metrics in Prometheus's text format."""
    return generate_latest(REGISTRY)


def serve_http(port: int, host: str = "127.0.0.1") -> None:
    """Serves /metrics on its own thread (facedb watch --metrics-port)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=REGISTRY)
