"""`facedb init`: everything a new installation needs, each step done once.

The models (fetched from their pinned sources, a mirror, or a local folder), the
database (the embedded server under FACEDB_HOME, or FACEDB_DATABASE_URL, migrated),
the first site and its time zone, and an admin and a kiosk key of the HTTP API. Run
again, every step finds its work done and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from facedb import access
from facedb.config import Settings
from facedb.service import FaceService
from facedb.store import api_keys, embedded, migrate, org
from facedb.store.engine import open_database
from facedb.timezones import check_zone, local_zone
from facedb.usecases import models as model_files

DONE = "done"
ALREADY = "already"
# The keys `facedb init` makes: name -> role.
KEYS = {"admin": "admin", "kiosk": "kiosk"}
NEXT_COMMANDS = (
    'facedb enrol --name "Alice Martin" --source alice.jpg   # or --from-dir staff/',
    "facedb verify --source 0                                # who is at the camera?",
    "facedb report --date today",
    "facedb serve        # the kiosk page and the API (the kiosk key above)",
)


@dataclass(frozen=True)
class Step:
    name: str  # models | database | site | key admin | key kiosk
    status: str  # done (now) or already
    detail: str


@dataclass(frozen=True)
class SetupResult:
    home: Path
    steps: list[Step]
    keys: dict[str, str] = field(default_factory=dict)  # name -> token, made now only
    next: tuple[str, ...] = NEXT_COMMANDS

    @property
    def changed(self) -> bool:
        return any(s.status == DONE for s in self.steps)


def models_step(
    source: Path | None,
    mirror: str | None,
    accept: Callable[[model_files.FetchPlan], None],
    progress: Callable[[str, int, int], None],
) -> Step:
    """The models the settings select, installed and verified; ``accept`` asks for
    (or records) the acknowledgement of their licences before a download."""
    plan = model_files.plan_fetch((), False, source, None)
    accept(plan)
    result = model_files.fetch(plan, source, mirror, retries=3, timeout=30.0, progress=progress)
    if result.errors:
        raise result.errors[-1]
    fresh = [i.name or "" for i in result.installed if i.status != "already installed"]
    status = DONE if fresh else ALREADY
    detail = f"{', '.join(fresh) or 'all'} in {plan.target}" if fresh else f"in {plan.target}"
    return Step("models", status, detail)


def database_step(service: FaceService) -> Step:
    settings = service.settings
    changed = settings.database_url is None and not embedded.pgdata_dir(settings.home).exists()
    if settings.database_url is not None:
        # An external server is migrated by `facedb db upgrade`: init does it once.
        database = open_database(settings, require_schema=False)
        try:
            if migrate.current_revision(database.engine) != migrate.head_revision():
                migrate.upgrade(database.engine)
                changed = True
        finally:
            database.engine.dispose()
    with service.transaction():
        pass  # connecting creates (embedded) and migrates the database
    return Step("database", DONE if changed else ALREADY, service.database.masked_url())


def site_step(service: FaceService, name: str | None, zone: str | None) -> Step:
    with service.transaction() as session:
        sites = org.list_sites(session)
        wanted = name or (sites[0].name if sites else "Office")
        existing = org.find_site(session, wanted)
        if existing is not None:
            return Step("site", ALREADY, f"{existing.name} ({existing.timezone})")
        if sites and name is None:
            return Step("site", ALREADY, f"{sites[0].name} ({sites[0].timezone})")
        created = org.create_site(session, wanted, check_zone(zone or local_zone()))
    return Step("site", DONE, f"{created.name} ({created.timezone})")


def key_steps(service: FaceService) -> tuple[list[Step], dict[str, str]]:
    with service.transaction() as session:
        live = {k.name for k in api_keys.list_keys(session)}
    steps: list[Step] = []
    tokens: dict[str, str] = {}
    for name, role in KEYS.items():
        if name in live:
            steps.append(Step(f"key {name}", ALREADY, f"{role} key (`facedb keys list`)"))
            continue
        tokens[name] = access.create_key(service, name, role).token
        steps.append(Step(f"key {name}", DONE, f"{role} key, shown once"))
    return steps, tokens


def set_up(
    settings: Settings,
    models: Step,
    site: str | None,
    zone: str | None,
) -> SetupResult:
    """The steps after the models: database, site, keys."""
    if zone is not None:
        check_zone(zone)
    service = FaceService(settings)
    try:
        steps = [models, database_step(service), site_step(service, site, zone)]
        keys, tokens = key_steps(service)
    finally:
        service.close()
    return SetupResult(settings.home, [*steps, *keys], tokens)
