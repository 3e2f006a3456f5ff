"""What `facedb serve` adds for events and monitoring: /metrics, request timing and
the delivery worker, started and stopped with the application."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from facedb.errors import FacedbError
from facedb.events import metrics, monitoring
from facedb.events.worker import DeliveryWorker
from facedb.service import FaceService

log = logging.getLogger(__name__)

# The request metrics' method label: any other method string (a client chooses it
# freely) is counted as "other", so that requests cannot add series without bound.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def install(app: FastAPI) -> None:
    """GET /metrics (Prometheus text format, no API key, like /v1/health) and the
    timing of every request by its route template. Call before mounting pages at /.
    Every label comes from a closed set: the method (HTTP_METHODS, else "other"), the
    route template (else "unmatched") and the status code the server answered."""

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    @app.middleware("http")
    async def time_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = request.method if request.method in HTTP_METHODS else "other"
            metrics.HTTP_SECONDS.labels(method, template, str(status)).observe(
                time.perf_counter() - start
            )


def start(service: FaceService) -> DeliveryWorker | None:
    """Instruments the service and starts its delivery worker (a thread); None when
    the worker cannot start (a configuration error, logged)."""
    from facedb.events import hooks

    try:
        monitoring.instrument(service)
    except FacedbError as exc:
        log.warning("metrics of the models unavailable: %s", exc.message)
    try:
        worker = hooks.worker(service)
    except FacedbError as exc:
        log.error("event delivery not started: %s", exc.message)
        return None
    worker.start()
    return worker
