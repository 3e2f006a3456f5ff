"""Reading pairs files: CSV (ours and deepface's) and LFW pairs.txt, and their errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from facedb.errors import InvalidInputError
from facedb.evaluation.pairs import Pair, read_pairs

PEOPLE = ("Ann_Smith", "Bob_Jones", "Cy_Young")


@pytest.fixture
def lfw_root(tmp_path: Path, faces_dir: Path) -> Path:
    """An LFW-style tree, ROOT/name/name_%04d.jpg, made of real CelebA images."""
    root = tmp_path / "lfw"
    identities = sorted(p for p in (faces_dir / "celeba").iterdir() if p.is_dir())[:3]
    for name, identity in zip(PEOPLE, identities, strict=True):
        (root / name).mkdir(parents=True)
        for i, image in enumerate(sorted(identity.glob("*.jpg"))[:3], start=1):
            shutil.copyfile(image, root / name / f"{name}_{i:04d}.jpg")
    return root


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


VIEW2 = """2\t2
Ann_Smith\t1\t2
Bob_Jones\t1\t3
Ann_Smith\t1\tBob_Jones\t2
Bob_Jones\t3\tCy_Young\t1
Cy_Young\t2\t3
Ann_Smith\t2\t3
Cy_Young\t1\tAnn_Smith\t3
Ann_Smith\t1\tCy_Young\t2
"""


def test_lfw_view2(tmp_path: Path, lfw_root: Path) -> None:
    pairs = read_pairs(_write(tmp_path / "pairs.txt", VIEW2), root=lfw_root)
    assert len(pairs) == 8
    assert pairs[0] == Pair(
        lfw_root / "Ann_Smith/Ann_Smith_0001.jpg",
        lfw_root / "Ann_Smith/Ann_Smith_0002.jpg",
        True,
        0,
    )
    assert pairs[2] == Pair(
        lfw_root / "Ann_Smith/Ann_Smith_0001.jpg",
        lfw_root / "Bob_Jones/Bob_Jones_0002.jpg",
        False,
        0,
    )
    assert [p.same for p in pairs] == [True, True, False, False] * 2
    assert [p.fold for p in pairs] == [0, 0, 0, 0, 1, 1, 1, 1]


def test_lfw_view1_and_default_root(lfw_root: Path) -> None:
    # View 1: one count line, no folds; root defaults to the file's folder
    text = "2\nAnn_Smith 1 2\nCy_Young 1 3\nAnn_Smith 1 Bob_Jones 2\nBob_Jones 3 Cy_Young 1\n"
    pairs = read_pairs(_write(lfw_root / "pairsDevTest.txt", text))
    assert [p.same for p in pairs] == [True, True, False, False]
    assert all(p.fold is None for p in pairs)
    assert pairs[1].path2 == lfw_root / "Cy_Young/Cy_Young_0003.jpg"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (VIEW2.replace("Bob_Jones\t1\t3\n", "Bob_Jones\t1\t3\t4\n"), ":3: a genuine pair is"),
        (VIEW2.replace("Ann_Smith\t1\tBob_Jones\t2", "Ann_Smith\t1\t2"), ":4: an impostor pair"),
        (VIEW2.replace("Cy_Young\t2\t3", "Cy_Young\tx\t3"), ":6: image number 'x' is not an"),
        (VIEW2.replace("Cy_Young\t2\t3", "Cy_Young\t2\t9"), ":6: image not found: .*0009.jpg"),
        (VIEW2.replace("Cy_Young\t2\t3\n", ""), ":1: the header announces 8 pair lines"),
        (VIEW2 + "Ann_Smith\t1\t2\n", ":1: the header announces 8 pair lines .* has 9"),
        (VIEW2.replace("Ann_Smith\t1\t2", "Nobody\t1\t2"), ":2: image not found"),
    ],
)
def test_lfw_malformed(tmp_path: Path, lfw_root: Path, text: str, message: str) -> None:
    path = _write(tmp_path / "pairs.txt", text)
    with pytest.raises(InvalidInputError, match=f"pairs.txt{message}"):
        read_pairs(path, root=lfw_root)


def test_csv(tmp_path: Path, faces_dir: Path) -> None:
    text = (
        "path1,path2,same\n"
        "celeba/7305/121107.jpg,celeba/7305/127572.jpg,1\n"
        "\n"
        "celeba/7281/125517.jpg,celeba/7251/200066.jpg,no\n"
        "celeba/7281/125517.jpg,celeba/7305/121107.jpg,FALSE\n"
        "celeba/7305/121107.jpg,celeba/7305/127572.jpg,Yes\n"
    )
    pairs = read_pairs(_write(tmp_path / "p.csv", text), root=faces_dir)
    assert [p.same for p in pairs] == [True, False, False, True]
    assert pairs[0].path1 == faces_dir / "celeba/7305/121107.jpg"
    assert all(p.fold is None for p in pairs)


def test_csv_default_root_and_fold_column(tmp_path: Path, faces_dir: Path) -> None:
    celeba = faces_dir / "celeba"
    a, b = sorted((celeba / "7305").glob("*.jpg"))[:2]
    shutil.copyfile(a, tmp_path / "a.jpg")
    shutil.copyfile(b, tmp_path / "b.jpg")
    text = "same,fold,path1,path2\ntrue,3,a.jpg,b.jpg\n0,4,a.jpg,b.jpg\n"
    pairs = read_pairs(_write(tmp_path / "p.csv", text))
    assert pairs == [
        Pair(tmp_path / "a.jpg", tmp_path / "b.jpg", True, 3),
        Pair(tmp_path / "a.jpg", tmp_path / "b.jpg", False, 4),
    ]


def test_deepface_master_csv(faces_dir: Path) -> None:
    dataset = faces_dir / "deepface/unit/dataset"
    pairs = read_pairs(dataset / "master.csv")
    assert len(pairs) == 300
    assert sum(p.same for p in pairs) == 38
    assert pairs[0].path1 == dataset / "img20.jpg"


def test_celeba_pairs_csv(faces_dir: Path) -> None:
    pairs = read_pairs(faces_dir / "celeba/pairs.csv", root=faces_dir)
    assert len(pairs) == 2000
    assert sum(p.same for p in pairs) == 1000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path1,path2\na.jpg,a.jpg\n", ":1: the header must name .* column 'same' is missing"),
        ("path1,path2,same\na.jpg,a.jpg,1\na.jpg,1\n", ":3: expected 3 fields, got 2"),
        ("path1,path2,same\na.jpg,a.jpg,maybe\n", ":2: same must be 1/0, .* not 'maybe'"),
        ("path1,path2,same\na.jpg,,1\n", ":2: path2 is empty"),
        ("path1,path2,same\na.jpg,missing.jpg,1\n", ":2: image not found: .*missing.jpg"),
        ("path1,path2,same,fold\na.jpg,a.jpg,1,one\n", ":2: fold must be an integer"),
        ("path1,path2,same\n", ": the pairs file holds no pairs"),
        ("\n\n", ": the pairs file is empty"),
    ],
)
def test_csv_malformed(tmp_path: Path, faces_dir: Path, text: str, message: str) -> None:
    shutil.copyfile(next((faces_dir / "celeba/7305").glob("*.jpg")), tmp_path / "a.jpg")
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(InvalidInputError, match=f"bad.csv{message}"):
        read_pairs(path)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"nope\.csv: pairs file not found"):
        read_pairs(tmp_path / "nope.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(InvalidInputError, match=r"bin\.csv: cannot read the pairs file"):
        read_pairs(tmp_path / "bin.csv")
