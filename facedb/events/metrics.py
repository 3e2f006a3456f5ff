"""Prometheus metrics of one facedb process (`facedb serve` at /metrics,
`facedb watch --metrics-port`), in facedb's own registry.

    facedb_decisions_total{kind,decision,device,offline}   decisions recorded (rows
                                                           written and committed;
                                                           repeats and the looks
                                                           of a presence are not)
    facedb_looks_total{kind,decision,device,offline,outcome}  every decision, by what
                                                           became of it: logged,
                                                           joined (a look of a
                                                           presence), repeat (the
                                                           cooldown), dropped (no
                                                           usable face at a kiosk)
    facedb_search_stage_decisions_total{stage}             1:N decisions recorded, by
                                                           the stage of the search that
                                                           decided: index (a clear
                                                           accept) or exact
                                                           (store/search.py)
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

A leaf: nothing here imports facedb. Work is timed where it happens (``timed`` in
the detector, embedder and liveness model; events/monitoring.py times SQL and
reads the gauges at scrape time), and decisions are counted by the Recorder
(usecases/recording.py) once their transaction committed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

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
LOOKS = Counter(
    "facedb_looks",
    "Every decision, by what became of it (logged, joined, repeat, dropped)",
    ["kind", "decision", "device", "offline", "outcome"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "facedb_event_deliveries",
    "Event delivery attempts (webhook, mqtt) by outcome (ok, failed)",
    ["sink", "outcome"],
    registry=REGISTRY,
)


def count_decision(kind: str, decision: str, device: str, offline: bool) -> None:
    """One row recorded (and committed)."""
    DECISIONS.labels(kind, decision, device, str(offline).lower()).inc()


def count_look(kind: str, decision: str, device: str, offline: bool, outcome: str) -> None:
    """One decision, whatever became of it."""
    LOOKS.labels(kind, decision, device, str(offline).lower(), outcome).inc()


def count_search_stage(stage: str) -> None:
    """One 1:N decision recorded (and committed), by the stage that decided it."""
    SEARCH_STAGE_DECISIONS.labels(stage).inc()


def count_watch_frame(frame: Any) -> None:
    """facedb watch's on_frame callback (a WatchFrame)."""
    WATCH_FRAMES.labels(str(bool(frame.detected)).lower()).inc()


def record_delivery(sink: str, ok: bool) -> None:
    DELIVERIES.labels(sink, "ok" if ok else "failed").inc()


@contextmanager
def timed(stage: str) -> Iterator[None]:
    """Times the work of one stage (a model run: detect counts a frame too)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        STAGE_SECONDS.labels(stage).observe(time.perf_counter() - start)
        if stage == "detect":
            FRAMES.inc()


def exposition() -> bytes:
    """The metrics in Prometheus's text format."""
    return generate_latest(REGISTRY)


def serve_http(port: int, host: str = "127.0.0.1") -> None:
    """Serves /metrics on its own thread (facedb watch --metrics-port)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=REGISTRY)
