"""Import confined to its photo root (issue 17, item 8): absolute paths, ``..`` and
symbolic links that lead outside --root are refused with the same message as a file
that does not exist, and nothing outside the root is opened."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from click.testing import CliRunner

from facedb.cli.main import main
from facedb.importing.manifest import read_manifest

OBAMA = "face_recognition/examples/obama.jpg"


def _site(tmp_path: Path, faces_dir: Path) -> tuple[Path, Path]:
    root = tmp_path / "photos"
    (root / "team").mkdir(parents=True)
    shutil.copy(faces_dir / OBAMA, root / "team" / "obama.jpg")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes((faces_dir / OBAMA).read_bytes())
    os.symlink(outside / "secret.jpg", root / "link_out.jpg")
    os.symlink(outside, root / "dir_out")
    os.symlink(root / "team" / "obama.jpg", root / "link_in.jpg")  # inside: fine
    return root, outside


def test_paths_outside_the_root_read_as_not_found(tmp_path: Path, faces_dir: Path) -> None:
    root, outside = _site(tmp_path, faces_dir)
    hostile = [
        "/etc/passwd",
        "/etc/shadow",
        "../../../../../../etc/passwd",
        "../outside/secret.jpg",
        str(outside / "secret.jpg"),
        "link_out.jpg",
        "dir_out/secret.jpg",
        "team/../../outside/secret.jpg",
        "..\\outside\\secret.jpg",
        "missing.jpg",
        "/nonexistent/photo.jpg",
    ]
    manifest = tmp_path / "staff.csv"
    lines = ["name,photo"] + [f"Person {i},{p}" for i, p in enumerate(hostile)]
    lines += ["Good One,team/obama.jpg", "Good Two,link_in.jpg"]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_manifest(manifest, root)
    by_name = {row.name: row for row in result.rows}
    for index, given in enumerate(hostile):
        row = by_name[f"Person {index}"]
        assert row.problems == (f"photo {given!r} not found in the photo root",), row
        assert row.photos == ()
    assert by_name["Good One"].photos == ((root / "team" / "obama.jpg").resolve(),)
    # A link inside the root to a file inside it is that file (so: a duplicate photo).
    assert by_name["Good Two"].photos == by_name["Good One"].photos


def test_cli_import_never_shows_or_reads_outside_the_root(tmp_path: Path, faces_dir: Path) -> None:
    root, outside = _site(tmp_path, faces_dir)
    manifest = tmp_path / "staff.csv"
    manifest.write_text(
        "name,photo\nEve,/etc/shadow\nMallory,link_out.jpg\nTrent,../outside/secret.jpg\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        main, ["import", str(manifest), "--root", str(root), "--dry-run", "--json"]
    )
    assert result.exit_code == 2, result.output
    assert str(outside) not in result.output and "/etc/shadow'" in result.output
    assert result.output.count("not found in the photo root") == 3
