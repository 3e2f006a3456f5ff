"""The demo: enrol people from a folder of per-person folders, verify held-out
photos of them and of strangers, and report, on the service it is given (`facedb
demo` gives it one in a home of its own)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from facedb.config import Settings
from facedb.errors import InvalidInputError, SourceError
from facedb.media.images import IMAGE_EXTENSIONS
from facedb.service import FaceService
from facedb.usecases.results import BulkOutcome, VerifyResult

MIN_PHOTOS = 3
# In the demo's home: it is the demo's, `facedb demo --clean` may delete it.
MARK = ".facedb-demo"


@dataclass(frozen=True)
class DemoPlan:
    enrol: dict[str, list[Path]]  # name -> enrolment photos
    probes: list[tuple[str, Path, bool]]  # (true name, held-out photo, enrolled?)


@dataclass(frozen=True)
class DemoProbe:
    true_name: str
    enrolled: bool
    photo: Path
    result: VerifyResult

    @property
    def correct(self) -> bool:
        if self.enrolled:
            return self.result.name == self.true_name
        return self.result.name is None


def plan(people_dir: Path, people: int, strangers: int) -> DemoPlan:
    """Takes the first people with enough photos: all but the last photo are enrolled,
    the last is the probe; the next few people are strangers, never enrolled."""
    if not people_dir.is_dir():
        raise SourceError(f"{people_dir} is not a folder of per-person folders")
    folders = []
    for folder in sorted(p for p in people_dir.iterdir() if p.is_dir()):
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if len(photos) >= MIN_PHOTOS:
            folders.append((folder.name, photos))
    if len(folders) < people + strangers:
        raise SourceError(
            f"{people_dir} has {len(folders)} folders with {MIN_PHOTOS}+ photos; "
            f"the demo needs {people + strangers}"
        )
    enrolled = folders[:people]
    unknown = folders[people : people + strangers]
    return DemoPlan(
        enrol={name: photos[:-1] for name, photos in enrolled},
        probes=[(name, photos[-1], True) for name, photos in enrolled]
        + [(name, photos[-1], False) for name, photos in unknown],
    )


def run(
    service: FaceService,
    demo: DemoPlan,
    on_person: Callable[[BulkOutcome], None] | None = None,
) -> tuple[list[BulkOutcome], list[DemoProbe]]:
    staging = Path(tempfile.mkdtemp(prefix="facedb-demo-"))
    try:
        for name, photos in demo.enrol.items():
            (staging / name).mkdir()
            for photo in photos:
                shutil.copy(photo, staging / name / photo.name)
        outcomes = service.enrol_folders(staging, on_person=on_person)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    probes = [
        DemoProbe(name, enrolled, photo, service.verify(str(photo)))
        for name, photo, enrolled in demo.probes
    ]
    return outcomes, probes


def demo_settings(settings: Settings, home: Path | None) -> Settings:
    """The user's settings (models, thresholds) with the demo's own home and embedded
    database (never FACEDB_DATABASE_URL), a kiosk name of its own and no cooldown."""
    home = home or settings.home.with_name(f"{settings.home.name}-demo")
    if home.resolve() == settings.home.resolve():
        raise InvalidInputError(f"--home {home} is the real FACEDB_HOME: the demo needs its own")
    return settings.replace(home=home, database_url=None, device_name="demo", cooldown=0.0)


def claim(home: Path) -> None:
    """Marks the demo's home as the demo's; refuses a folder that holds something else."""
    if home.is_dir() and not (home / MARK).exists() and any(home.iterdir()):
        raise InvalidInputError(f"{home} is not empty and not a demo home: give another --home")
    home.mkdir(parents=True, exist_ok=True)
    (home / MARK).touch()


def clean(home: Path) -> bool:
    """Stops the demo's database and deletes its home; False when there was none."""
    from facedb.store import embedded

    if not home.exists():
        return False
    if not (home / MARK).exists():
        raise InvalidInputError(f"{home} was not made by `facedb demo`: not removed")
    with embedded.home_lock(home):
        embedded.stop(home)
    shutil.rmtree(home)
    return True
