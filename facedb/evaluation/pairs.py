"""Pairs files: which two images, same person or not, and (LFW View 2) which fold.

Two formats, told apart by their first non-empty line:

- **CSV** with a header row naming the columns ``path1,path2,same`` (any order,
  case-insensitive; an optional ``fold`` column of integers). ``same`` is one of
  1/0, true/false, yes/no (case-insensitive). deepface's ``master.csv`` header
  ``file_x,file_y,Decision`` is accepted as a synonym of ``path1,path2,same``.
  Relative paths are relative to ``root``.
- **LFW pairs.txt.** View 2 (``pairs.txt``): a first line ``FOLDS N`` (``10 300``),
  then for each fold N genuine lines ``name idx1 idx2`` followed by N impostor
  lines ``name1 idx1 name2 idx2``. View 1 (``pairsDevTrain.txt``,
  ``pairsDevTest.txt``): a first line ``N``, then N genuine and N impostor lines.
  Image ``name, idx`` is ``root/name/name_{idx:04d}.jpg``. Fields are separated by
  tabs or spaces.

``root`` defaults to the folder of the pairs file. Every image must exist. Any
problem raises InvalidInputError with one line naming the file and line number.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from facedb.errors import InvalidInputError

_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"0", "false", "no"})
# Accepted header names: canonical column -> synonyms (lower case).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "path1": ("path1", "file_x"),
    "path2": ("path2", "file_y"),
    "same": ("same", "decision"),
}


@dataclass(frozen=True)
class Pair:
    path1: Path
    path2: Path
    same: bool  # True: both images show the same person (a genuine pair)
    fold: int | None  # cross-validation fold from the file (LFW View 2), else None


def read_pairs(path: Path, root: Path | None = None) -> list[Pair]:
    """Read a CSV or LFW pairs file (see the module docstring)."""
    lines = _read_lines(path)
    base = root if root is not None else path.parent
    first = next((text for _, text in lines if text.strip()), None)
    if first is None:
        raise InvalidInputError(f"{path}: the pairs file is empty")
    if _is_lfw_header(first):
        pairs = _parse_lfw(path, lines, base)
    else:
        pairs = _parse_csv(path, lines, base)
    if not pairs:
        raise InvalidInputError(f"{path}: the pairs file holds no pairs")
    return pairs


def _read_lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: pairs file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read the pairs file: {exc}") from None
    return list(enumerate(text.splitlines(), start=1))


def _is_lfw_header(line: str) -> bool:
    fields = line.split()
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    return 1 <= len(fields) <= 2 and all(f.isascii() and f.isdigit() for f in fields)


def _error(path: Path, line: int, message: str) -> InvalidInputError:
    return InvalidInputError(f"{path}:{line}: {message}")


def _existing(path: Path, line: int, image: Path) -> Path:
    if not image.is_file():
        raise _error(path, line, f"image not found: {image}")
    return image


# ---------------------------------------------------------------------------
# CSV


def _parse_csv(path: Path, lines: list[tuple[int, str]], root: Path) -> list[Pair]:
    rows = _csv_rows(path, lines)
    header_line, header = next(rows)
    index = _header_index(path, header_line, header)
    return [_csv_pair(path, number, row, index, root) for number, row in rows]


def _csv_rows(path: Path, lines: list[tuple[int, str]]) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV rows with their line numbers (a pairs CSV has no multi-line fields)."""
    for number, text in lines:
        if not text.strip():
            continue
        try:
            row = next(csv.reader([text]))
        except csv.Error as exc:
            raise _error(path, number, f"malformed CSV: {exc}") from None
        yield number, [field.strip() for field in row]


def _header_index(path: Path, line: int, header: Sequence[str]) -> dict[str, int]:
    names = [name.lower() for name in header]
    index: dict[str, int] = {}
    for column, synonyms in _COLUMNS.items():
        found = [i for i, name in enumerate(names) if name in synonyms]
        if not found:
            raise _error(
                path,
                line,
                f"the header must name the columns path1,path2,same; column {column!r} is "
                f"missing (header: {','.join(header)})",
            )
        index[column] = found[0]
    if "fold" in names:
        index["fold"] = names.index("fold")
    index["width"] = len(header)
    return index


def _csv_pair(path: Path, line: int, row: list[str], index: dict[str, int], root: Path) -> Pair:
    if len(row) != index["width"]:
        raise _error(path, line, f"expected {index['width']} fields, got {len(row)}")
    images = []
    for column in ("path1", "path2"):
        value = row[index[column]]
        if not value:
            raise _error(path, line, f"{column} is empty")
        images.append(_existing(path, line, root / value))
    fold = _csv_fold(path, line, row[index["fold"]]) if "fold" in index else None
    return Pair(images[0], images[1], _parse_same(path, line, row[index["same"]]), fold)


def _parse_same(path: Path, line: int, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _error(path, line, f"same must be 1/0, true/false or yes/no, not {value!r}")


def _csv_fold(path: Path, line: int, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _error(path, line, f"fold must be an integer, not {value!r}") from None


# ---------------------------------------------------------------------------
# LFW pairs.txt


def _parse_lfw(path: Path, lines: list[tuple[int, str]], root: Path) -> list[Pair]:
    content = [(number, text.split()) for number, text in lines if text.strip()]
    (header_line, header), body = content[0], content[1:]
    is_view2 = len(header) == 2
    folds, per_class = (int(header[0]), int(header[1])) if is_view2 else (1, int(header[0]))
    expected = folds * 2 * per_class
    if len(body) != expected:
        raise _error(
            path,
            header_line,
            f"the header announces {expected} pair lines ({folds} fold(s) x 2 x {per_class}), "
            f"the file has {len(body)}",
        )
    pairs = []
    for i, (number, fields) in enumerate(body):
        fold, offset = divmod(i, 2 * per_class)
        genuine = offset < per_class
        pairs.append(_lfw_pair(path, number, fields, genuine, root, fold if is_view2 else None))
    return pairs


def _lfw_pair(
    path: Path, line: int, fields: list[str], genuine: bool, root: Path, fold: int | None
) -> Pair:
    if genuine:
        if len(fields) != 3:
            raise _error(
                path, line, f"a genuine pair is 'name idx1 idx2', got {len(fields)} fields"
            )
        name1, idx1, name2, idx2 = fields[0], fields[1], fields[0], fields[2]
    else:
        if len(fields) != 4:
            raise _error(
                path, line, f"an impostor pair is 'name1 idx1 name2 idx2', got {len(fields)} fields"
            )
        name1, idx1, name2, idx2 = fields
    image1 = _existing(path, line, _lfw_image(path, line, root, name1, idx1))
    image2 = _existing(path, line, _lfw_image(path, line, root, name2, idx2))
    return Pair(image1, image2, genuine, fold)


def _lfw_image(path: Path, line: int, root: Path, name: str, index: str) -> Path:
    try:
        number = int(index)
    except ValueError:
        raise _error(path, line, f"image number {index!r} is not an integer") from None
    return root / name / f"{name}_{number:04d}.jpg"
