"""The import manifest: a CSV file of people and their photos (an HR export).

    name,external_id,photo,department
    Alice Martin,E001,photos/alice.jpg;photos/alice-2.png,Sales

- The header names the columns, in any order and letter case. ``name`` and ``photo``
  are required; ``external_id`` (an employee number, unique) is optional; every other
  column is kept as the person's metadata (users.meta, a JSON object of strings). A
  ``reason`` column (the one facedb adds to a rejects file) is ignored, so that a
  rejects file can be fixed and imported as it is.
- ``photo`` holds one or more paths separated by ``;``, relative to the root folder
  (by default the manifest's own folder), or absolute.
- The file is UTF-8 (a byte-order mark is allowed: Excel's "CSV UTF-8"), comma
  separated, with double quotes around values that hold a comma.

``read_manifest`` reads and checks the whole file before anything is written: every
problem (a missing column, an empty or duplicate name, a duplicate external id, a photo
that does not exist or is listed twice, bytes that are not UTF-8) is reported with its
line number. It reads no image: a photo that exists but cannot be decoded is found
when it is embedded.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from facedb.csvout import unescape
from facedb.domain.names import clean_name
from facedb.errors import ConfigError, FacedbError, InvalidInputError

NAME = "name"
PHOTO = "photo"
EXTERNAL_ID = "external_id"
REASON = "reason"
REQUIRED = (NAME, PHOTO)
PHOTO_SEPARATOR = ";"
# Problems listed in an error message before "and N more".
MESSAGE_PROBLEMS = 5
# People one manifest may list (settings.import_max_rows, FACEDB_IMPORT_MAX_ROWS): a
# 200,000-row file took 59 s and 601 MB to check and printed 14.6 MB. A larger staff
# is imported in several files. Counted while the file is read: the rows past the
# limit are never parsed.
DEFAULT_MAX_ROWS = 10_000
# Bytes of one manifest file (far above what DEFAULT_MAX_ROWS rows need).
MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    """Something wrong with the manifest, at a line of the file (1 = the header)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class ManifestRow:
    """One person of the manifest. ``values`` are the row's cells as read, one per
    column of the header (for the rejects file); the other fields are checked values,
    meaningful only when ``problems`` is empty."""

    line: int
    values: tuple[str, ...]
    name: str  # cleaned (domain.names.clean_name); as written when that failed
    external_id: str | None
    photos: tuple[Path, ...]  # resolved against the root, in the order given
    meta: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Manifest:
    path: Path
    root: Path  # where relative photo paths start
    columns: tuple[str, ...]  # the header, as written
    rows: tuple[ManifestRow, ...]
    file_problems: tuple[Problem, ...] = ()  # problems that make the whole file unusable

    @property
    def problems(self) -> list[Problem]:
        """Every problem, file and rows, in line order."""
        found = list(self.file_problems)
        found += [Problem(row.line, message) for row in self.rows for message in row.problems]
        return sorted(found, key=lambda p: p.line)

    @property
    def valid_rows(self) -> list[ManifestRow]:
        return [row for row in self.rows if row.valid]

    @property
    def photo_count(self) -> int:
        return sum(len(row.photos) for row in self.valid_rows)


class ManifestError(InvalidInputError):
    """A manifest with problems: nothing was written. ``problems`` lists them all."""

    def __init__(self, manifest: Manifest, problems: list[Problem]) -> None:
        shown = "; ".join(str(p) for p in problems[:MESSAGE_PROBLEMS])
        more = len(problems) - MESSAGE_PROBLEMS
        tail = f"; and {more} more" if more > 0 else ""
        super().__init__(
            f"{manifest.path} has {len(problems)} problem(s), nothing was imported: {shown}{tail}"
        )
        self.manifest = manifest
        self.problems = problems


def read_manifest(
    path: Path, root: Path | None = None, *, max_rows: int = DEFAULT_MAX_ROWS
) -> Manifest:
    """Reads and checks a manifest. Problems are collected in the result, not raised;
    a file that cannot be read at all, or that holds more than ``max_rows`` people
    (or MAX_FILE_BYTES), raises InvalidInputError."""
    if max_rows < 1:
        raise ConfigError(f"import_max_rows (FACEDB_IMPORT_MAX_ROWS) is at least 1, not {max_rows}")
    root = (root if root is not None else path.parent).resolve()
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInputError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInputError(
            f"manifest {path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB: split it"
        )
    if not root.is_dir():
        raise InvalidInputError(f"photo root {root} is not a folder")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Manifest(path, root, (), (), tuple(_encoding_problems(data)))
    try:
        records = list(itertools.islice(_records(text), max_rows + 2))  # header + 1 too many
    except csv.Error as exc:
        return Manifest(path, root, (), (), (Problem(1, f"not a CSV file: {exc}"),))
    if not records:
        return Manifest(path, root, (), (), (Problem(1, "the file is empty: no header"),))
    header_line, header = records[0]
    columns = tuple(cell.strip() for cell in header)
    file_problems = _header_problems(columns)
    if file_problems:
        return Manifest(
            path, root, columns, (), tuple(Problem(header_line, m) for m in file_problems)
        )
    if len(records) > max_rows + 1:
        raise InvalidInputError(
            f"manifest {path} lists more than {max_rows:,} people (the limit, "
            "FACEDB_IMPORT_MAX_ROWS): split it into several files"
        )
    keys = tuple(column.lower() for column in columns)
    rows = [_row(line, cells, columns, keys, root) for line, cells in records[1:]]
    rows = _mark_duplicates(rows)
    return Manifest(path, root, columns, tuple(rows))


def _records(text: str) -> Iterable[tuple[int, list[str]]]:
    """(first line, cells) of each non-blank CSV record; cells that facedb's CSV writer
    escaped against formulas ("'=...") are read back as they were."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    line = 1
    for cells in reader:
        if any(cell.strip() for cell in cells):
            yield line, [unescape(cell) for cell in cells]
        line = reader.line_num + 1


def _encoding_problems(data: bytes) -> list[Problem]:
    problems = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            problems.append(
                Problem(
                    number,
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}): "
                    "save the file as UTF-8 (in Excel: CSV UTF-8)",
                )
            )
    return problems


def _header_problems(columns: tuple[str, ...]) -> list[str]:
    keys = [column.lower() for column in columns]
    problems = []
    if len(columns) == 1 and any(sep in columns[0] for sep in ";\t"):
        problems.append(
            f"the header {columns[0]!r} is a single column: columns are separated by commas"
        )
    missing = [key for key in REQUIRED if key not in keys]
    if missing:
        problems.append(
            f"missing column(s) {', '.join(missing)} (the header has: {', '.join(columns)})"
        )
    if any(not column for column in columns):
        problems.append("a column of the header has no name")
    repeated = sorted({key for key in keys if key and keys.count(key) > 1})
    if repeated:
        problems.append(f"column(s) named twice: {', '.join(repeated)}")
    return problems


def _row(
    line: int, cells: list[str], columns: tuple[str, ...], keys: tuple[str, ...], root: Path
) -> ManifestRow:
    problems: list[str] = []
    if len(cells) > len(columns):
        problems.append(
            f"{len(cells)} values but the header has {len(columns)} columns "
            "(put a value holding a comma in double quotes)"
        )
    values = tuple(cells[: len(columns)]) + ("",) * (len(columns) - len(cells))
    cell = dict(zip(keys, (value.strip() for value in values), strict=True))
    name = cell[NAME]
    if not name:
        problems.append("empty name")
    else:
        try:
            name = clean_name(name)
        except FacedbError as exc:
            problems.append(exc.message)
    external_id = cell.get(EXTERNAL_ID) or None
    if external_id is not None and not external_id.isprintable():
        problems.append(f"external id {external_id!r} is not printable text")
    photos = _photos(cell[PHOTO], root, problems)
    meta = {
        column: value.strip()
        for column, key, value in zip(columns, keys, values, strict=True)
        if key not in (NAME, PHOTO, EXTERNAL_ID, REASON)
    }
    return ManifestRow(line, values, name, external_id, photos, meta, tuple(problems))


def inside_root(path: Path, root: Path) -> Path | None:
    """``path`` (relative to ``root``, or absolute) with every symbolic link resolved,
    when it lies inside the (resolved) ``root``; None when it does not or does not exist."""
    try:
        resolved = (root / path).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a loop of links, unreadable
        return None
    return resolved if resolved.is_relative_to(root) else None


def _photos(cell: str, root: Path, problems: list[str]) -> tuple[Path, ...]:
    """The row's photos, confined to ``root``: a path that does not exist and one that
    leads outside the root (absolute, ``..``, a symbolic link) get the same message, so
    that a manifest cannot probe which files exist elsewhere."""
    given = [part.strip() for part in cell.split(PHOTO_SEPARATOR) if part.strip()]
    if not given:
        problems.append("no photo")
    photos: list[Path] = []
    for text in dict.fromkeys(given):  # a photo listed twice in one row counts once
        path = inside_root(Path(text), root)
        if path is None and "\\" in text:  # an export made on Windows: photos\a.jpg
            path = inside_root(Path(text.replace("\\", "/")), root)
        if path is None:
            problems.append(f"photo {text!r} not found in the photo root")
            continue
        if not path.is_file():
            problems.append(f"photo {text!r} is not a file ({path})")
        elif path.stat().st_size == 0:
            problems.append(f"photo {text!r} is empty (0 bytes)")
        photos.append(path)
    return tuple(photos)


def _mark_duplicates(rows: list[ManifestRow]) -> list[ManifestRow]:
    """Adds a problem to every row sharing a name (letter case ignored), an external id,
    or a photo with another row, naming the other lines."""
    keys: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        if row.name:
            keys[("name", row.name.lower())].append(index)
        if row.external_id:
            keys[("external id", row.external_id)].append(index)
        for photo in row.photos:
            keys[("photo", str(photo))].append(index)
    extra: dict[int, list[str]] = defaultdict(list)
    for (kind, value), indices in keys.items():
        if len(indices) < 2:
            continue
        for index in indices:
            shown = rows[index].name if kind == "name" else value
            if kind == "photo":
                shown = Path(value).name
            others = ", ".join(str(rows[i].line) for i in indices if i != index)
            extra[index].append(f"duplicate {kind} {shown!r} (also on line {others})")
    return [
        dataclasses.replace(row, problems=row.problems + tuple(extra[i])) if i in extra else row
        for i, row in enumerate(rows)
    ]
