"""CSV formula injection (issue 17, item 4): every CSV facedb writes escapes cells that
a spreadsheet would run, following OWASP's rule; the escaped rejects file imports back
as it was."""

from __future__ import annotations

import csv
import io
import shutil
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from facedb.cli.main import main
from facedb.config import Settings
from facedb.csvout import CsvWriter, formula_safe, unescape
from facedb.importing.manifest import read_manifest
from facedb.store.engine import make_engine

HOSTILE = ["=cmd|' /C calc'!A0", "+SUM(1+1)", "@SUM(1)", "-2+3+cmd|' /C calc'!A0", "\t=1+1", "\r=1"]
NO_FACE = "insightface/inspireface_test_res/crop/no_face.png"


def _read(text_: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text_, newline="")))


def test_every_formula_prefix_is_escaped_and_read_back() -> None:
    for value in [*HOSTILE, "\uff1dSUM(1)"]:
        escaped = formula_safe(value)
        assert escaped == "'" + value
        assert unescape(str(escaped)) == value
    for harmless in ["Alice", "O'Brien", "a=b", "", "'quoted"]:
        assert formula_safe(harmless) == harmless and unescape(harmless) == harmless
    assert formula_safe(-3) == -3 and formula_safe(0.5) == 0.5  # numbers stay numbers
    buffer = io.StringIO()
    CsvWriter(buffer).writerow(['=HYPERLINK("http://x","y")', 'a,"b"', -1])
    assert _read(buffer.getvalue()) == [['\'=HYPERLINK("http://x","y")', 'a,"b"', "-1"]]


def test_report_csv_escapes_names(settings: Settings) -> None:
    engine = make_engine(settings.database_url or "")
    with engine.begin() as conn:
        ids = [
            conn.execute(
                text("INSERT INTO users (name) VALUES (:n) RETURNING id"), {"n": name}
            ).scalar_one()
            for name in HOSTILE
        ]
        conn.execute(
            text(
                "INSERT INTO attendance (event_id, occurred_at, kind, decision, user_id) "
                "VALUES (:e, now(), 'identify', 'accepted', :u)"
            ),
            {"e": uuid.uuid4(), "u": ids[0]},
        )
    engine.dispose()
    result = CliRunner().invoke(main, ["report", "--date", "today", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = _read(result.stdout)
    assert rows[0] == ["day", "name", "status", "first_seen", "last_seen", "accepted"]
    names = {row[1]: row[2] for row in rows[1:]}
    assert names == {
        "'" + name: ("present" if i == 0 else "absent") for i, name in enumerate(HOSTILE)
    }
    assert not any(cell[:1] in "=+-@\t\r" for row in rows for cell in row if cell)


def test_import_rejects_file_escapes_names_and_metadata(
    settings: Settings, faces_dir: Path, tmp_path: Path
) -> None:
    for index in range(4):
        shutil.copy(faces_dir / NO_FACE, tmp_path / f"blank{index}.png")
    manifest = tmp_path / "staff.csv"
    with manifest.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "photo", "department"])
        for index, name in enumerate(HOSTILE[:4]):
            writer.writerow([name, f"blank{index}.png", HOSTILE[(index + 1) % 4]])
    result = CliRunner().invoke(main, ["import", str(manifest)])
    assert result.exit_code == 1, result.output  # every row rejected: no face
    rejects = tmp_path / "staff.rejects.csv"
    raw = rejects.read_text(encoding="utf-8-sig")
    rows = _read(raw)
    assert rows[0] == ["name", "photo", "department", "reason"]
    assert [row[0] for row in rows[1:]] == ["'" + name for name in HOSTILE[:4]]
    assert not any(cell[:1] in "=+-@\t\r" for row in rows for cell in row if cell)
    # The escaped file reads back as the same people with the same metadata.
    again = read_manifest(rejects)
    assert not again.problems
    assert [row.values[0] for row in again.rows] == HOSTILE[:4]
    assert [row.values[2] for row in again.rows] == [HOSTILE[(i + 1) % 4] for i in range(4)]


@pytest.mark.parametrize("name", HOSTILE[:3])
def test_formula_names_round_trip_through_unescape(name: str) -> None:
    buffer = io.StringIO()
    CsvWriter(buffer).writerow([name])
    (cell,) = _read(buffer.getvalue())[0]
    assert unescape(cell) == name
