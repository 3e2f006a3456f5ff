"""Embedding recipes: how an embedder's vectors are made, named as stored with each one.

Vectors of two recipes are never compared (a gallery is searched with its own):

- ``<embedder>``: the manifest's model as it is, one image a face;
- ``<embedder>+flip``: each face embedded with its mirror image and the two averaged,
  on the model as it is (for w600k_mbf_int8, whose manifest entry says one crop a run:
  two runs a face; the FACEDB_EMBEDDER_FLIP=on of galleries enrolled before 8 Dec 2026);
- ``<embedder>+float+flip``: the same on the model's float form (dequantize.py), whose
  outputs do not depend on the batch: a face and its mirror image in one run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from facedb.errors import ConfigError

SEPARATOR = "+"
FLIP = "flip"
FLOAT_FLIP = "float+flip"


@dataclass(frozen=True)
class Recipe:
    name: str  # as stored with every vector
    model: str  # the manifest name of the embedder
    flip: bool  # each face averaged with its mirror image
    float_activations: bool  # run on the model's float form (dequantize.py)


def parse(name: str) -> Recipe:
    """The recipe stored as ``name``; ConfigError for an unknown suffix."""
    model, _, suffix = name.partition(SEPARATOR)
    if suffix not in ("", FLIP, FLOAT_FLIP):
        raise ConfigError(f"unknown embedding recipe {name!r}")
    return Recipe(name, model, suffix != "", suffix == FLOAT_FLIP)


def flip_names(model: str) -> tuple[str, str]:
    """The flip recipes of ``model``: on the model as it is, on its float form."""
    return f"{model}{SEPARATOR}{FLIP}", f"{model}{SEPARATOR}{FLOAT_FLIP}"


def for_settings(model: str, flip: str, one_crop_a_run: bool) -> str:
    """The recipe FACEDB_EMBEDDER_FLIP (``flip``: on or off) gives a new gallery: the
    flip on the float form when the model takes one crop a run (dynamically
    quantised: manifest max_batch = 1), else on the model as it is."""
    if flip != "on":
        return model
    on_model, on_float = flip_names(model)
    return on_float if one_crop_a_run else on_model


def held_flip(model: str, held: Mapping[str, int]) -> str | None:
    """The flip recipe of ``model`` that a database holding ``held`` faces of each
    recipe (name -> faces) holds most faces of; None when it holds none (a gallery
    enrolled with a flip recipe keeps being searched with it)."""
    faces, name = max((held.get(name, 0), name) for name in flip_names(model))
    return name if faces > 0 else None
