"""`training tune`: a tiny search runs, resumes, shares a study, and its best config trains."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from broker_plugin.lightcurve_dir import write_lightcurve_dir
from tests.test_training_loop import FakeSource, fake_curves
from training.config import TrainingConfig

optuna = pytest.importorskip("optuna")

#: A search space small enough for 24 training curves of length 64 and a 2-epoch budget.
RANGES = ("synthetic_per_batch=10:30", "batch_size=32", "n_oversampling=1:1",
          "repetitions=1:2")
TINY = {"epochs": 2, "n_blocks": 2, "fc_units": 16, "sequence_length": 64, "batch_size": 32,
        "num_threads": 1, "window_min_length": 10, "patience": 2}


def _tiny_config() -> TrainingConfig:
    return TrainingConfig(**TINY)  # type: ignore[arg-type]


def _tune(data: Path, out: Path, trials: int, **options):
    from training.classifier.tune import run_tune

    return run_tune(data, out, _tiny_config(), trials=trials, ranges=RANGES, progress=False,
                    make_source=lambda *args: FakeSource(), **options)


def _study(out: Path, name: str):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'tune.db'}")


@pytest.mark.slow
def test_a_tiny_search_runs_then_resumes_the_same_study(tmp_path: Path) -> None:
    """3 trials, then 2 more (in parallel) into the same study: 5 trials, the first three
    unchanged, each with the test F1 stored beside it; another objective is refused."""
    from training.classifier.tune import TuneError

    write_lightcurve_dir(tmp_path / "data", fake_curves(10, seed=1))
    first = _tune(tmp_path / "data", tmp_path / "out", 3, seed=0)
    assert first["n_complete"] == 3 and first["study"] == "two-losses-f1-weighted-0.15"
    before = {t.number: (t.params, t.value)
              for t in _study(tmp_path / "out", first["study"]).trials}
    _tune(tmp_path / "data", tmp_path / "out", 2, seed=0, jobs=2)  # two trials in threads
    trials = _study(tmp_path / "out", first["study"]).trials
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert {t.number: (t.params, t.value) for t in trials[:3]} == before
    assert all(0.0 <= t.user_attrs["f1_test"] <= 1.0 for t in trials)
    assert all(t.user_attrs["f1_synthetic"] is not None for t in trials)
    # The sampler seed moves on with the study: the resumed trials are new draws.
    assert trials[3].params != trials[0].params
    for name in ("tune.json", "figure_a1.png", f"best-{first['study']}.yaml"):
        assert (tmp_path / "out" / name).is_file(), name
    with pytest.raises(TuneError, match="objective='f1-weighted'"):
        _tune(tmp_path / "data", tmp_path / "out", 1, objective="f1-val",
              study_name=first["study"])


def test_the_best_config_file_reads_back_as_the_best_trial() -> None:
    """best-<study>.yaml through `resolve_config(config_file=...)` (what `train --config`
    does) gives exactly the best trial's config, objective as model selection included."""
    import tempfile

    from training.classifier.tune import StudySpec, trial_config, write_best_config
    from training.config import resolve_config

    study = optuna.create_study(direction="maximize")
    for value, epsilon in ((0.3, 0.2), (0.7, 0.6), (0.5, 0.4)):
        study.add_trial(optuna.trial.create_trial(
            params={"epsilon": epsilon, "policy": "proportion"}, value=value,
            distributions={"epsilon": optuna.distributions.FloatDistribution(0.1, 0.9),
                           "policy": optuna.distributions.CategoricalDistribution(
                               ["ccr", "proportion"])}))
    spec = StudySpec("d", "random", 0, "two-losses", "f1-weighted", 0.3)
    base = _tiny_config()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_best_config(study, base, spec, Path(tmp) / "best.yaml")
        loaded = resolve_config(config_file=path)
    expected = trial_config(base, {"epsilon": 0.6, "policy": "proportion"}, spec)
    assert loaded.epsilon == 0.6 and loaded.selection == "f1_weighted"
    assert loaded.selection_alpha == 0.3
    runtime = ("device", "mixed_precision", "num_threads")
    assert ({k: v for k, v in loaded.to_dict().items() if k not in runtime}
            == {k: v for k, v in expected.to_dict().items() if k not in runtime})


def test_the_space_follows_the_mode_freeze_and_ranges() -> None:
    """one-loss draws only the baseline's keys; --freeze and --range are checked."""
    from training.classifier.tune import ONE_LOSS_KEYS, TuneError, parse_ranges, searched_keys

    assert searched_keys("one-loss", ()) == list(ONE_LOSS_KEYS)
    assert "policy" not in searched_keys("two-losses", ["policy"])
    assert parse_ranges(["nu=0.5:1"])["nu"].high == 1.0
    assert parse_ranges(["policy=ccr,proportion"])["policy"].choices == ("ccr", "proportion")
    for bad, message in ((["depth=1:2"], "key of the space"), (["nu=2:1"], "low <= high"),
                         (["policy=best"], "choose among")):
        with pytest.raises(TuneError, match=message):
            parse_ranges(bad)
    with pytest.raises(TuneError, match="--freeze depth"):
        searched_keys("two-losses", ["depth"])


def _cli(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "training", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_workers_share_one_sqlite_study_and_the_best_config_trains(
        tmp_path: Path) -> None:
    """Two `training tune` processes on one SQLite study both add their trials (4 in all,
    none lost); `training train --config best-….yaml` then trains from the file as is."""
    write_lightcurve_dir(tmp_path / "data", fake_curves(10, seed=2))
    base = {**TINY, "augment_copies": 0, "augment_synthetic": False,
            "augment_validation": False}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    args = ["tune", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"),
            "--mode", "one-loss", "--objective", "f1-val", "--trials", "2", "--quiet",
            "--config", str(tmp_path / "base.yaml"), "--range", "batch_size=32",
            "--storage", f"sqlite:///{tmp_path / 'shared.db'}"]
    workers = [_cli(*args) for _ in range(2)]
    for worker in workers:
        _, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr
    study = optuna.load_study(study_name="one-loss-f1-val",
                              storage=f"sqlite:///{tmp_path / 'shared.db'}")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.number for t in done) == [0, 1, 2, 3]
    assert len({t.user_attrs["worker"] for t in done}) == 2
    assert set(done[0].params) <= {"n_blocks", "loss_real", "focal_gamma", "learning_rate",
                                   "batch_size"}

    from typer.testing import CliRunner

    from training.cli import app

    best = tmp_path / "out" / "best-one-loss-f1-val.yaml"
    trained = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "data"), "--out",
                                       str(tmp_path / "run"), "--config", str(best), "--quiet"])
    assert trained.exit_code == 0, trained.output
    written = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    wanted = yaml.safe_load(best.read_text())
    assert {k: written[k] for k in wanted} == wanted
    assert (tmp_path / "run" / "model.onnx").is_file()


def test_user_mistakes_are_one_line(tmp_path: Path) -> None:
    """Unknown objective, a storage URL that cannot work: `error: …` and exit 2."""
    write_lightcurve_dir(tmp_path / "data", fake_curves(3, seed=3))
    for extra, needle in ((["--objective", "best"], "--objective 'best'"),
                          (["--storage", "nosuchdb://x"], "--storage nosuchdb://x")):
        worker = _cli("tune", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "o"),
                      *extra)
        _, stderr = worker.communicate(timeout=120)
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert worker.returncode == 2 and "Traceback" not in stderr, stderr
        assert len(lines) == 1 and needle in lines[0], stderr
