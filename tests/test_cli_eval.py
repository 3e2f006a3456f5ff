"""`facedb eval` end to end: real CelebA pairs, the real detector and embedder.

The default test runs a subset that embeds 50 images (about 15 s on two CPU cores):
the 100 genuine pairs of pairs.csv among the first 10 identities it names, and 100
impostor pairs between those same images. The full 2,000-pair file (500 images,
about 2 CPU-minutes, 4-5 minutes on a busy two-core machine) is marked ``slow``: run it with ``pytest -m slow``.
"""

from __future__ import annotations

import csv
import itertools
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from facedb.cli.main import main
from facedb.evaluation.runner import NO_FACE

N_IDENTITIES = 10
N_PER_CLASS = 100


def _identity(path: str) -> str:
    return path.split("/")[1]  # celeba/<identity>/<file>.jpg


@pytest.fixture(scope="module")
def subset_csv(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Path:
    with (faces_dir / "celeba/pairs.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    genuine = [r for r in rows if r["same"] == "1"]
    identities = list(dict.fromkeys(_identity(r["path1"]) for r in genuine))[:N_IDENTITIES]
    genuine = [r for r in genuine if _identity(r["path1"]) in identities]
    images = sorted({r[k] for r in genuine for k in ("path1", "path2")})
    candidates = [
        (a, b) for a, b in itertools.combinations(images, 2) if _identity(a) != _identity(b)
    ]
    impostor = candidates[:: len(candidates) // N_PER_CLASS][:N_PER_CLASS]  # spread out
    path = tmp_path_factory.mktemp("eval") / "subset.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path1", "path2", "same"])
        writer.writerows([r["path1"], r["path2"], 1] for r in genuine)
        writer.writerows([a, b, 0] for a, b in impostor)
    assert len(genuine) == N_PER_CLASS and len(impostor) == N_PER_CLASS
    return path


@pytest.fixture(scope="module")
def subset_json(subset_csv: Path, faces_dir: Path) -> dict[str, object]:
    result = CliRunner().invoke(main, ["eval", str(subset_csv), "--root", str(faces_dir), "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_eval_subset_metrics(subset_json: dict[str, object]) -> None:
    scored = subset_json["scored"]
    assert isinstance(scored, dict)
    assert scored["auc"] >= 0.99
    assert scored["n_genuine"] + scored["n_failed_genuine"] <= 100
    assert scored["accuracy"]["mean"] >= 0.95
    assert len(scored["accuracy"]["fold_accuracies"]) == 10
    # 100 impostors: FAR 0.1 and 0.01 are measurable, 1e-3 and 1e-4 are not
    tars = {point["far"]: point for point in scored["tar_at_far"]}
    assert tars[0.01]["threshold"] is not None and tars[0.01]["tar"] >= 0.8
    assert tars[0.001] == {"far": 0.001, "threshold": None, "tar": None, "achieved_far": None}
    # genuine pairs score far above impostor pairs
    assert scored["genuine"]["p50"] > 0.4 > 0.2 > scored["impostor"]["p50"]


def test_eval_json_shape(subset_json: dict[str, object]) -> None:
    assert subset_json["embedder"] == "w600k_mbf_int8"
    assert subset_json["n_images"] == 50
    assert set(subset_json) >= {"pairs_file", "failures", "pairs", "scored", "with_failures"}
    pairs = subset_json["pairs"]
    assert isinstance(pairs, list) and len(pairs) == 2 * N_PER_CLASS
    assert set(pairs[0]) == {"path1", "path2", "same", "fold", "similarity"}
    full = subset_json["with_failures"]
    assert isinstance(full, dict)
    assert full["n_pairs"] == 2 * N_PER_CLASS
    roc = full["roc"]
    assert len(roc["thresholds"]) == len(roc["far"]) == len(roc["tar"])
    assert roc["far"][0] == 0.0 and roc["tar"][-1] <= 1.0
    for failure in subset_json["failures"]:  # type: ignore[attr-defined]
        assert failure["reason"] == NO_FACE or failure["reason"].startswith("cannot read")


def test_eval_table_and_plot(subset_csv: Path, faces_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    plot = tmp_path / "roc.png"
    # 4 genuine and 5 impostor pairs of the same images: the table, n/a rows, the plot
    lines = subset_csv.read_text().splitlines()
    small = tmp_path / "small.csv"
    small.write_text("\n".join(lines[:5] + lines[-5:]) + "\n")
    result = CliRunner().invoke(
        main, ["eval", str(small), "--root", str(faces_dir), "--plot", str(plot)]
    )
    assert result.exit_code == 0, result.output
    assert "ROC AUC" in result.stdout
    assert "n/a: fewer than 1/FAR impostor pairs" in result.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_failures_to_enrol(faces_dir: Path, tmp_path: Path) -> None:
    """A no-face image and a corrupt one are failures; their pairs count both ways."""
    celeba = faces_dir / "celeba/7305"
    a, b = sorted(str(p) for p in celeba.glob("*.jpg"))[:2]
    other = sorted(str(p) for p in (faces_dir / "celeba/7281").glob("*.jpg"))[0]
    no_face = str(faces_dir / "insightface/inspireface_test_res/crop/no_face.png")
    corrupt = str(faces_dir / "bad/truncated_1000_bytes.jpg")
    rows = [(a, b, 1), (a, no_face, 1), (a, other, 0), (b, corrupt, 0), (b, other, 0)]
    pairs = tmp_path / "p.csv"
    pairs.write_text("path1,path2,same\n" + "".join(f"{x},{y},{s}\n" for x, y, s in rows))
    result = CliRunner().invoke(main, ["eval", str(pairs), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    reasons = {Path(f["path"]).name: f["reason"] for f in data["failures"]}
    assert reasons["no_face.png"] == NO_FACE
    assert "truncated" in reasons["truncated_1000_bytes.jpg"]
    assert data["scored"]["n_pairs"] == 3
    full = data["with_failures"]
    assert (full["n_failed_genuine"], full["n_failed_impostor"]) == (1, 1)
    assert full["auc"] < data["scored"]["auc"] == 1.0


def test_eval_malformed_file_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,2,3\n")
    result = CliRunner().invoke(main, ["eval", str(bad)])
    assert result.exit_code == 2
    assert "bad.csv:1: the header must name the columns path1,path2,same" in result.output


@pytest.mark.slow
def test_eval_full_celeba(faces_dir: Path) -> None:
    result = CliRunner().invoke(
        main, ["eval", str(faces_dir / "celeba/pairs.csv"), "--root", str(faces_dir), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n_images"] == 500
    # measured (docs/ACCURACY.md): AUC 0.9888 over 1,970 scored pairs, 4 images with no
    # face; CelebA in the wild has label noise and photos with several people
    assert data["scored"]["auc"] >= 0.985
    assert len(data["failures"]) <= 8
    # 1,000 impostor pairs: FAR 1e-3 is measurable over all pairs, 1e-4 is not
    tars = {point["far"]: point for point in data["with_failures"]["tar_at_far"]}
    assert tars[0.001]["threshold"] is not None
    assert tars[0.0001]["threshold"] is None


def test_eval_plot_without_matplotlib(
    subset_csv: Path, faces_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without matplotlib, --plot fails at once (before embedding) with how to install it."""
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    result = CliRunner().invoke(
        main, ["eval", str(subset_csv), "--root", str(faces_dir), "--plot", str(tmp_path / "r.png")]
    )
    assert result.exit_code == 2
    assert "matplotlib is not installed: pip install 'facedb[plot]'" in result.output
    assert not (tmp_path / "r.png").exists()
