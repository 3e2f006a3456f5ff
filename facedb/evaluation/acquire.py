"""Faces for a 1:N evaluation, acquired as the product acquires them: each photo is
read, analysed as a photo (the photo quality gate), and its largest face that passes
the gate is used; a photo with none is a failure to acquire."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facedb.errors import ImageError, SourceError
from facedb.evaluation.openset import Person
from facedb.media.images import IMAGE_EXTENSIONS, read_image
from facedb.vision.capture import main_face
from facedb.vision.pipeline import FacePipeline

BATCH = 8
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Acquired:
    people: list[Person]  # enrolled in the draws: the first photos make the gallery
    strangers: list[np.ndarray]  # photos of people never enrolled, one array a person
    images: int
    failures: int  # photos with no usable face
    failed: tuple[Path, ...] = ()  # those photos


def person_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise SourceError(f"{root} is not a folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise SourceError(f"{root} has no subfolders: one folder per person is expected")
    return folders


def _photos(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def acquire(
    people_root: Path,
    pipeline: FacePipeline,
    *,
    per_person: int,
    strangers_root: Path | None = None,
    progress: ProgressCallback | None = None,
) -> Acquired:
    """Each person folder of ``people_root``: its first ``per_person`` usable photos
    are the gallery, the others probes; each of ``strangers_root``: probes only."""
    folders = person_folders(people_root)
    extra = person_folders(strangers_root) if strangers_root is not None else []
    photos = {f: _photos(f) for f in [*folders, *extra]}
    total = sum(len(v) for v in photos.values())
    done = 0
    failures = 0
    failed: list[Path] = []
    vectors: dict[Path, list[np.ndarray | None]] = {}
    for folder, paths in photos.items():
        found: list[np.ndarray | None] = []
        for start in range(0, len(paths), BATCH):
            found.extend(_embed(paths[start : start + BATCH], pipeline))
            done += len(paths[start : start + BATCH])
            if progress is not None:
                progress(done, total)
        failures += sum(v is None for v in found)
        failed += [path for path, v in zip(paths, found, strict=True) if v is None]
        vectors[folder] = found
    people = [_person(f.name, vectors[f], per_person) for f in folders]
    strangers = [_stack([v for v in vectors[f] if v is not None]) for f in extra]
    return Acquired(people, strangers, total, failures, tuple(failed))


def _person(name: str, found: Sequence[np.ndarray | None], per_person: int) -> Person:
    """The first ``per_person`` usable photos enrol (a photo that fails before then is a
    failure to enrol, not a search); every later photo is a search, and a later photo
    with no usable face a search that failed to acquire (a miss)."""
    gallery: list[np.ndarray] = []
    probes: list[np.ndarray] = []
    misses = 0
    for vector in found:
        if len(gallery) < per_person:
            if vector is not None:
                gallery.append(vector)
        elif vector is not None:
            probes.append(vector)
        else:
            misses += 1
    return Person(name, _stack(gallery), _stack(probes), probe_failures=misses)


def _stack(vectors: Sequence[np.ndarray]) -> np.ndarray:
    if not vectors:
        return np.zeros((0, 512), np.float32)
    return np.stack(vectors).astype(np.float32)


def _embed(paths: Sequence[Path], pipeline: FacePipeline) -> list[np.ndarray | None]:
    images: list[np.ndarray | None] = []
    for path in paths:
        try:
            images.append(read_image(path))
        except ImageError:
            images.append(None)
    readable = [i for i in images if i is not None]
    analysed = iter(pipeline.analyse(readable)) if readable else iter([])
    out: list[np.ndarray | None] = []
    for image in images:
        if image is None:
            out.append(None)
            continue
        good = [f for f in next(analysed) if f.quality.accepted and f.embedding is not None]
        main = main_face(good, image.shape[1], image.shape[0]) if good else None
        out.append(np.asarray(main.embedding, np.float32) if main is not None else None)
    return out
