"""What every use case runs on for the life of a command: the settings, the models
(loaded on first use), the database (opened on first use) and its transactions, this
kiosk's spool, and the gallery sizes the 1:N policy follows."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from facedb.config import Settings
from facedb.offline import identity
from facedb.offline.spool import Spool
from facedb.store import replica
from facedb.store.engine import Database, open_database, transaction

if TYPE_CHECKING:  # loaded on first use: `facedb report` never needs the vision stack
    from facedb import policy
    from facedb.media.frames import FrameSource
    from facedb.vision.capture import Capture
    from facedb.vision.pipeline import FacePipeline


class Runtime:
    """Owns the loaded models and the database engine for the life of a command."""

    _galleries: policy.GalleryStateCache | None  # made on first use (galleries)

    def __init__(
        self,
        settings: Settings,
        pipeline: FacePipeline | None = None,
        database: Database | None = None,
    ) -> None:
        self.settings = settings
        self._pipeline = pipeline
        self._database = database
        self._replica = replica.Replica(settings.replica_url)
        # One runtime may serve concurrent requests (facedb serve): the first use of
        # the models or the database happens once.
        self._lock = threading.Lock()
        self.spool = Spool(settings.home, database=identity.target(settings))
        self._galleries = None

    @property
    def galleries(self) -> policy.GalleryStateCache:
        """The 1:N policy's cache of gallery sizes (made on first use: a report never
        loads the policy's numpy stack)."""
        if self._galleries is None:
            from facedb.policy import GalleryStateCache

            with self._lock:
                if self._galleries is None:
                    self._galleries = GalleryStateCache()
        return self._galleries

    @galleries.setter
    def galleries(self, cache: policy.GalleryStateCache) -> None:
        """Another cache (a test's longer time to live)."""
        self._galleries = cache

    @property
    def pipeline(self) -> FacePipeline:
        if self._pipeline is None:
            from facedb.vision.pipeline import FacePipeline

            recipe = self._held_flip_recipe()  # before the lock: it opens the database
            with self._lock:
                if self._pipeline is None:
                    self._pipeline = FacePipeline(self.settings, recipe=recipe)
        return self._pipeline

    def _held_flip_recipe(self) -> str | None:
        """With FACEDB_EMBEDDER_FLIP=on, the flip recipe the gallery was enrolled with
        (vision/recipes.py: the older ``+flip`` one keeps being searched with); when
        the database cannot be reached, the one of this kiosk's offline gallery cache.
        None: the recipe the settings give a new gallery."""
        if self.settings.embedder_flip != "on":
            return None
        from facedb.errors import DatabaseUnavailable
        from facedb.offline import gallery_cache
        from facedb.store import gallery
        from facedb.vision import recipes

        names = recipes.flip_names(self.settings.embedder)
        try:
            with self.transaction() as session:
                held = gallery.faces_by_model(session, names)
        except DatabaseUnavailable:
            home = self.settings.home
            held = {n: 1 for n in names if gallery_cache.cache_path(home, n).is_file()}
        return recipes.held_flip(self.settings.embedder, held)

    @property
    def database(self) -> Database:
        """The database, opened on first use; the command that opens it first calls
        on_connect (FaceService sends the events spooled while it was unreachable)."""
        database, opened = self.connect()
        if opened:
            self.on_connect()
        return database

    def on_connect(self) -> None:
        """Called once, by the first use of the database; nothing to do here."""

    def connect(self) -> tuple[Database, bool]:
        """The database, and whether this call opened it (without on_connect)."""
        if self._database is not None:
            return self._database, False
        with self._lock:
            if self._database is not None:
                return self._database, False
            self._database = open_database(self.settings)
            return self._database, True

    def transaction(self) -> AbstractContextManager[Session]:
        """A session in one transaction, committed at the end (store.engine.transaction)."""
        return transaction(self.settings, lambda: self.database)

    def reading(self, primary: Session) -> AbstractContextManager[Session]:
        """A session for a search's or a report's reads: on the replica
        (FACEDB_REPLICA_URL) once it has every write committed so far, else
        ``primary`` (store/replica.py)."""
        return replica.reading(primary, self._replica.engine(), self.settings.replica_wait)

    def close(self) -> None:
        if self._database is not None:
            self._database.engine.dispose()
        self._replica.dispose()

    def capture(
        self,
        source: str | FrameSource,
        *,
        wanted: int,
        timeout: float | None = None,
        on_frame: Callable[[Capture], None] | None = None,
        recursive: bool = False,
        aligned: bool = False,
        varied: bool = False,
    ) -> Capture:
        """The faces of a source for one decision, with liveness where it applies.
        ``source``: a spec for open_source, or an open FrameSource (closed after use);
        ``varied``: enrolment's (vision.capture.capture_faces)."""
        from facedb.media.frames import open_source
        from facedb.vision.capture import capture_faces

        frames = open_source(source, recursive=recursive) if isinstance(source, str) else source
        with frames:
            return capture_faces(
                frames,
                self.pipeline,
                wanted=wanted,
                timeout=timeout,
                on_frame=on_frame,
                liveness=self.pipeline.liveness_enabled(frames.is_live or frames.from_camera),
                aligned=aligned,
                varied=varied,
            )


def describe(source: str | FrameSource) -> str:
    """A source as messages name it."""
    return source if isinstance(source, str) else source.description


def capture_reasons(capture: Capture) -> tuple[str, ...]:
    """Why the faces of a capture were refused, each reason once, in order."""
    reasons: list[str] = []
    for _, face_reasons in capture.rejected:
        for reason in face_reasons:
            if reason not in reasons:
                reasons.append(reason)
    return tuple(reasons)
