"""`training report`: one Markdown page of runs, experiments and searches, links that work."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from broker_plugin.lightcurve_dir import write_lightcurve_dir
from tests.test_training_loop import SETTINGS, FakeSource, fake_curves
from tests.test_training_tune import RANGES, TINY
from training.config import TrainingConfig

pytest.importorskip("optuna")


def _links(page: Path) -> list[Path]:
    """Every image link of the page, resolved against its folder."""
    text = page.read_text()
    return [(page.parent / link.strip("<>")).resolve()
            for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)]


@pytest.mark.slow
def test_report_gathers_run_experiment_vary_and_search(tmp_path: Path,
                                                       cnn_model_dir: Path) -> None:
    """A run, an experiment (and a --vary table), a finished search and one cut short: the
    page has their tables, links the figures they wrote, and draws only what is missing."""
    from typer.testing import CliRunner

    from training.classifier.experiment import run_experiment
    from training.classifier.tune import run_tune
    from training.cli import app

    write_lightcurve_dir(tmp_path / "data", fake_curves(8, seed=6))
    config = TrainingConfig(**TINY)  # type: ignore[arg-type]
    run_tune(tmp_path / "data", tmp_path / "tune", config, trials=3, ranges=RANGES, seed=0,
             progress=False, make_source=lambda *args: FakeSource())
    (tmp_path / "cut" / "search").mkdir(parents=True)  # a search stopped before tune.json
    shutil.copy(tmp_path / "tune" / "tune.db", tmp_path / "cut" / "search" / "tune.db")
    experiment = run_experiment(tmp_path / "data", tmp_path / "exp", config, "random", 1,
                                settings=SETTINGS, progress=False,
                                make_source=lambda *args: FakeSource())
    (tmp_path / "exp" / "vary").mkdir()
    (tmp_path / "exp" / "vary" / "vary.json").write_text(json.dumps({
        "axis": "policy", "scenario": "random", "repeats": 1,
        "rows": [{"value": "ccr", "table": experiment["table"]}]}))

    page = tmp_path / "pages" / "report.md"
    result = CliRunner().invoke(app, ["report", str(cnn_model_dir), str(tmp_path / "exp"),
                                      str(tmp_path / "tune"), str(tmp_path / "cut"),
                                      "--out", str(page)])
    assert result.exit_code == 0, result.output
    text = page.read_text()
    for needle in ("Table 2 analogue", "two-losses-f1-weighted-0.15", "R² (objective",
                   "Leading trials", "best-two-losses-f1-weighted-0.15.yaml",
                   "| macro_f1 | ", "Mann–Whitney p", "Varied experiment", "| ccr |",
                   "### Run", "seconds_per_epoch"):
        assert needle in text, needle
    links = _links(page)
    assert links and all(link.is_file() for link in links), links
    linked = {link.name for link in links}
    assert {"training_curves.png", "confusion_matrix.png", "figure_a1.png"} <= linked
    # The finished search's figure is linked where it lies; the cut one is drawn for the page.
    assert (tmp_path / "tune" / "figure_a1.png").resolve() in links
    drawn = list((tmp_path / "pages" / "report_files").glob("figure_a1-*.png"))
    assert len(drawn) == 1 and drawn[0].resolve() in links


def test_report_refuses_directories_with_nothing_to_show(tmp_path: Path) -> None:
    """A missing directory or one without outputs is a one-line ReportError naming it."""
    from training.classifier.report import ReportError, build_report

    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="no run, experiment or tune outputs"):
        build_report([tmp_path / "empty"], tmp_path / "r.md")
    with pytest.raises(ReportError, match="not a directory"):
        build_report([tmp_path / "missing"], tmp_path / "r.md")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "experiment.json").write_text("{\"runs\": [")
    with pytest.raises(ReportError, match="not valid JSON"):
        build_report([tmp_path / "broken"], tmp_path / "r.md")
