"""`facedb eval-1n`: open-set identification measured on folders of people."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from facedb.cli.main import main

PEOPLE = ["7203", "7206", "7207", "7210", "7213", "7217"]


def test_eval_1n_reports_fpir_fnir_rank1_and_a_det_plot(faces_dir: Path, tmp_path: Path) -> None:
    people = tmp_path / "people"
    for identity in PEOPLE:
        shutil.copytree(faces_dir / "celeba" / identity, people / identity)
    plot = tmp_path / "det.svg"
    args = ["eval-1n", str(people), "--sizes", "3,5,9", "--draws", "4", "--json"]
    result = CliRunner().invoke(main, [*args, "--det-plot", str(plot)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["people"] == len(PEOPLE) and report["images"] == 5 * len(PEOPLE)
    # 9 is more than the people minus one (no strangers would be left): left out,
    # and said so.
    assert [s["persons"] for s in report["sizes"]] == [3, 5]
    assert report["left_out_sizes"] == [9]
    assert len(report["failed_photos"]) == report["failures_to_acquire"]
    for size in report["sizes"]:
        assert size["draws"] == 4
        # At most 2 searches a person (fewer where a photo fails before the gallery is
        # filled); every photo of the people not drawn is a non-mated search.
        assert 4 * size["persons"] < size["mated_searches"] <= 4 * 2 * size["persons"]
        assert 0 < size["nonmated_searches"] <= 4 * 5 * (len(PEOPLE) - size["persons"])
        # These six are easy: each held-out photo finds its own person first.
        assert size["rank1"] >= 0.9
        assert size["predicted_fpir"] <= 0.01 + 1e-9
        assert 0.25 <= size["threshold"] < 0.5
    assert plot.read_text(encoding="utf-8").startswith("<svg")
    table = CliRunner().invoke(main, args[:-1])
    assert table.exit_code == 0 and "the policy's FPIR prediction" in table.output
    assert "left out: gallery size(s) 9: 6 people" in " ".join(table.output.split())


def test_a_det_plot_with_no_misses_says_so() -> None:
    from facedb.evaluation.detplot import det_svg
    from facedb.evaluation.openset import SizeResult

    fields = {name: 0 for name in SizeResult.__dataclass_fields__}
    perfect = SizeResult(**{**fields, "persons": 3, "det": ((0.4, 0.01, 0.0), (0.5, 0.001, 0.0)),
                            "checks": (), "threshold_for_target": None})  # fmt: skip
    assert "FNIR is 0 at every threshold" in det_svg([perfect], "t")
    missing = SizeResult(**{**fields, "persons": 3, "det": ((0.4, 0.01, 0.1),), "checks": (),
                            "threshold_for_target": None})  # fmt: skip
    assert "FNIR is 0" not in det_svg([missing], "t")


def test_eval_1n_refuses_a_folder_without_people(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["eval-1n", str(tmp_path)])
    assert result.exit_code == 10, result.output
    assert "no subfolders" in result.output
    assert "Traceback" not in result.output
