"""What a server (`facedb serve`) readies before its first request and reports of
itself (/v1/health): whether the database answers and the models load."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from facedb.errors import FacedbError
from facedb.offline import identity, key_cache
from facedb.store.engine import check_connection
from facedb.usecases.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelStatus:
    name: str
    role: str  # detector or embedder
    provider: str | None  # the execution provider it runs on; None when not loaded


@dataclass(frozen=True)
class Health:
    database_error: str | None  # None: the database answers
    models: list[ModelStatus]
    models_error: str | None  # None: the models are loaded
    # The database is unreachable but kiosks are still answered: the models are loaded
    # and a local copy of the API keys is usable (verifications are decided on the
    # gallery cache and spooled).
    offline: bool


def warm_up(rt: Runtime) -> None:
    """Loads and runs the models (onnxruntime's first runs would otherwise be the first
    request's: FacePipeline.warm_up) and opens the database. Failures are logged, not
    raised: until they work, requests answer 503 and /v1/health says why."""
    try:
        pipeline = rt.pipeline
        pipeline.warm_up(liveness=pipeline.liveness_enabled(is_live=True))  # verify uploads
        log.info("models loaded: %s", rt.pipeline.providers())
    except FacedbError as exc:
        log.error("models unusable: %s", exc.message)
    try:
        _ = rt.database  # opening it checks the server and the schema
    except FacedbError as exc:
        log.warning("database not available yet: %s", exc.message)


def check(rt: Runtime) -> Health:
    """Asks the database for SELECT 1 and loads the models (once), each failure kept
    as its message; without the database, whether kiosks can still be answered."""
    try:
        check_connection(rt.database.engine)
        database_error = None
    except FacedbError as exc:
        database_error = exc.message
    pipeline = rt.pipeline
    models_error = None
    try:
        pipeline.load()
    except FacedbError as exc:
        models_error = exc.message
    providers = pipeline.providers()
    models = [
        ModelStatus(name, role, providers.get(name))
        for name, role in (
            (pipeline.detector_name, "detector"),
            (pipeline.embedder_name, "embedder"),
        )
    ]
    offline = (
        database_error is not None
        and models_error is None
        and key_cache.load(
            rt.settings.home, rt.settings.cache_max_age, identity.target(rt.settings)
        )
        is not None
    )
    return Health(database_error, models, models_error, offline)
