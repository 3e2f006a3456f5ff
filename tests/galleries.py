"""A gallery of real faces, enrolled in a test database (shared by module fixtures)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from facedb.config import Settings
from facedb.service import FaceService


def enrol_celeba(
    database_url: str,
    faces_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    identities: Sequence[str],
    photos: int = 4,
) -> FaceService:
    """Enrols the first ``photos`` photos of each CelebA identity, one person each
    (cooldown 0); returns the service, open, for the caller to close."""
    people = tmp_path_factory.mktemp("people")
    for identity in identities:
        (people / identity).mkdir()
        for photo in sorted((faces_dir / "celeba" / identity).glob("*.jpg"))[:photos]:
            shutil.copy(photo, people / identity / photo.name)
    settings = Settings.load(
        {
            "database_url": database_url,
            "home": str(tmp_path_factory.mktemp("home")),
            "cooldown": 0,
        }
    )
    service = FaceService(settings)
    outcomes = service.enrol_folders(people)
    assert [o.status for o in outcomes] == ["enrolled"] * len(identities), outcomes
    return service
