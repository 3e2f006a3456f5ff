"""The application of `facedb serve`: the /v1 API, its OpenAPI schema, the kiosk.

    create_app(settings)      one app = one FaceService: models loaded once, one engine
    create_app_from_env()     the same on Settings.load(), for uvicorn --factory / workers

Routes: /v1/... (facedb.api.faces, facedb.api.records), /openapi.json and /docs, and
the admin console at /admin (facedb.api.console), the static kiosk pages at / (index.html:
the kiosk; enrol.html: enrolment).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from facedb import __version__
from facedb.api import console, errors, faces, headers, records
from facedb.api import review as review_api
from facedb.api import timesheet as timesheet_api
from facedb.api.guard import AttemptLimiter
from facedb.api.limits import BodyLimitMiddleware
from facedb.api.pages import KioskPages
from facedb.api.state import ApiState
from facedb.config import Settings
from facedb.errors import ConfigError
from facedb.events import serving
from facedb.service import FacePipeline, FaceService

DESCRIPTION = """Face verification and attendance on PostgreSQL + pgvector.

Send an API key (`facedb keys create`) as `Authorization: Bearer <key>` or
`X-API-Key: <key>`. Roles: **kiosk** (verify, identify), **reporter** (attendance,
report), **admin** (everything). Images go as multipart/form-data `image` parts or as
JSON with base64 strings. Errors are `{"error": {"code": ..., "message": ...}}`.
"""


def create_app(settings: Settings, *, pipeline: FacePipeline | None = None) -> FastAPI:
    """The API and kiosk over ``settings``. ``pipeline``: already loaded models to
    share (tests); by default the app loads its own at startup."""
    if settings.api_max_request_mb <= 0:
        raise ConfigError(f"api_max_request_mb must be above 0, not {settings.api_max_request_mb}")
    if settings.verify_rate_limit < 0:
        raise ConfigError(f"verify_rate_limit must be 0 or more, not {settings.verify_rate_limit}")
    state = ApiState(
        settings,
        FaceService(settings, pipeline=pipeline),
        attempts=AttemptLimiter(settings.verify_rate_limit),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await state.run(state.service.warm_up)  # failures logged: /v1/health says why
        delivery = await state.run(lambda: serving.start(state.service))  # facedb/events
        try:
            yield
        finally:
            if delivery is not None:
                delivery.stop()
            state.service.close()

    app = FastAPI(
        title="facedb",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from the package by headers.install_docs: no CDN
        redoc_url=None,
    )
    app.state.facedb = state
    errors.install(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=int(settings.api_max_request_mb * 1_000_000))
    app.include_router(faces.router)
    app.include_router(records.router)
    app.include_router(review_api.router)  # the admin review page's (docs/REVIEW.md)
    app.include_router(timesheet_api.router)  # docs/TIME_AND_ATTENDANCE.md
    headers.install_docs(app, "facedb")
    app.add_middleware(headers.ApiHeadersMiddleware)
    serving.install(app)  # /metrics, request timing
    console.install(app)  # /admin (docs/CONSOLE.md)
    app.mount("/", KioskPages(), name="kiosk")
    return app


def create_app_from_env() -> FastAPI:
    """create_app on the settings of the environment (FACEDB_*, config file)."""
    return create_app(Settings.load())
