"""`training calibrate`: fit the calibrated tail of an exported model on labelled real curves.

Run by `training train` on its validation split (real curves, never augmented) with the
training split as the unknown score's bank, and by operators on a few labelled curves of a
new survey (`training calibrate --model RUN --data DIR --out NEW`), which refits the
temperature and the unknown threshold and keeps the bank. Writes NEW/model.onnx and
NEW/model_card.json (new sha256, `calibration` and `unknown` blocks, drift reference on the
calibration curves with calibrated probabilities); the network's weights never change.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from broker_plugin.errors import UserError
from broker_plugin.features import FeatureSettings
from broker_plugin.lightcurve import LightCurve
from broker_plugin.model_card import (
    CARD_FILE,
    INPUT_NAME,
    MODEL_FILE,
    OUTPUT_NAME,
    UNKNOWN_OUTPUT_NAME,
    ModelCard,
    load_model_dir,
    sha256_of,
)
from broker_plugin.model_inputs import curve_inputs
from training.classifier import graph_tail
from training.classifier.calibration import (
    DEFAULT_BANK_SIZE,
    DEFAULT_KEEP,
    DEFAULT_NEIGHBOURS,
    TailParameters,
    calibration_figures,
    fit_temperature,
    knn_scores,
    stratified_bank,
    temperature_scaled,
)
from training.classifier.data import LabelledFeatures, featurise_labelled
from training.classifier.unknown_forest import UnknownForest, fit_unknown_forest, summary_tensor

#: Largest |Δ| between the graph's tail and its numpy twin on the calibration curves.
TAIL_PARITY_TOLERANCE = 1e-4
#: Fewest labelled curves worth fitting a temperature and a threshold on.
MIN_CALIBRATION_CURVES = 20


class CalibrationError(UserError, ValueError):
    """Calibration asked for on data that cannot support it (says why and what to pass)."""


def run_graph(model: onnx.ModelProto, x: np.ndarray, extra: Sequence[str] = (),
              batch_size: int = 1024) -> list[np.ndarray]:
    """[probabilities, *extra tensors] of `model` on `x` with onnxruntime."""
    import onnxruntime as ort

    session = ort.InferenceSession(graph_tail.with_outputs(model, list(extra)),
                                   providers=["CPUExecutionProvider"])
    names = [OUTPUT_NAME, *extra]
    parts = [session.run(names, {INPUT_NAME: x[i:i + batch_size]})
             for i in range(0, len(x), batch_size)]
    return [np.concatenate([p[k] for p in parts]) for k in range(len(names))]


def network_outputs(model: onnx.ModelProto, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(uncalibrated probabilities, tail embedding) of the network inside `model`."""
    raw, embedding, _ = network_pass(x, model)
    return raw, embedding


def network_pass(x: np.ndarray, model: onnx.ModelProto, statistics: str | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(uncalibrated probabilities, tail embedding, the `statistics` tensor if named)."""
    bare = graph_tail.strip_tail(model)
    members = graph_tail.embedding_names(bare)
    raw, *rest = run_graph(bare, np.asarray(x, np.float32),
                           [*members, *([statistics] if statistics else [])])
    found = rest.pop() if statistics else None
    return raw, graph_tail.member_embeddings(rest), found


def existing_bank(model: onnx.ModelProto) -> tuple[np.ndarray, int] | None:
    """The bank (rows) and neighbour count of a model's current tail, if it has one."""
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer
              if i.name.startswith(graph_tail.PREFIX)}
    bank_t = values.get(graph_tail.PREFIX + "bank_t")
    k = values.get(graph_tail.PREFIX + "k")
    if bank_t is None or k is None:
        return None
    return np.ascontiguousarray(bank_t.T), int(k[0])


def calibrate_model(
    model_dir: str | Path,
    out_dir: str | Path,
    calibration: LabelledFeatures,
    bank: LabelledFeatures | None = None,
    *,
    keep: float = DEFAULT_KEEP,
    neighbours: int = DEFAULT_NEIGHBOURS,
    bank_size: int = DEFAULT_BANK_SIZE,
    seed: int = 0,
    fitted_on: dict[str, Any] | None = None,
    min_curves: int = MIN_CALIBRATION_CURVES,
    version: str | None = None,
    others: np.ndarray | None = None,
    unknown_score: str = "auto",
    shift_temperature: float = 1.0,
) -> ModelCard:
    """Fit the tail on `calibration`, write OUT/model.onnx and OUT/model_card.json.

    `bank` gives the unknown score's in-class reference (the training split); without it the
    model's current unknown score (forest or bank) is kept. `others`: featurised curves of
    other classes, shown to the forest. `unknown_score`: "forest" (unknown_forest.py),
    "knn" (deep kNN on the embedding), or "auto" (the forest wherever the model computes
    summary statistics). `shift_temperature` multiplies the fitted temperature (the
    expected extra uncertainty on a survey the model never saw; config.py). `version`: the
    new card's version (None keeps it; "" makes
    `<old>-cal.<8 hex of the new ONNX sha256>`, so records of the two models differ).
    """
    onnx_path, card = load_model_dir(model_dir)
    if len(calibration) < min_curves:
        raise CalibrationError(
            f"{len(calibration)} usable labelled curves of the model's classes {card.classes}; "
            f"calibration needs at least {min_curves} (left out: "
            f"{calibration.dropped or 'none'})")
    if not 0.5 <= keep < 1.0:
        raise CalibrationError(f"keep = {keep}: the share of in-class curves the unknown "
                               "flag keeps must be in [0.5, 1), e.g. 0.95")
    model = onnx.load(str(onnx_path))
    previous_forest = UnknownForest.from_graph(model, graph_tail.FOREST_NODE,
                                               graph_tail.FOREST_COLUMNS, card.unknown or {})
    statistics_name = summary_tensor(model)
    if unknown_score == "forest" and statistics_name is None:
        raise CalibrationError(f"{onnx_path}: unknown score 'forest' needs a model trained "
                               "with summary_features = true; use 'knn'")
    fit_forest = bank is not None and statistics_name is not None and unknown_score != "knn"
    # One pass of the network over the calibration curves, the bank and the other-class
    # curves together.
    parts = [calibration.x, *([] if bank is None else [bank.x]),
             *([others] if fit_forest and others is not None and len(others) else [])]
    raw, embedding, statistics = network_pass(np.concatenate(parts), model,
                                              statistics_name if fit_forest else None)
    n_cal, n_bank = len(calibration), 0 if bank is None else len(bank)
    raw = raw[:n_cal]
    forest = None
    if fit_forest:
        assert statistics is not None and bank is not None
        forest = fit_unknown_forest(statistics[n_cal:n_cal + n_bank], bank.y,
                                    len(card.classes), statistics[n_cal + n_bank:], seed)
        bank_rows, scores = np.zeros((0, 0), np.float32), forest.scores(statistics[:n_cal])
    elif bank is None and previous_forest is not None and unknown_score != "knn":
        forest, bank_rows = previous_forest, np.zeros((0, 0), np.float32)
        scores = run_graph(model, np.asarray(calibration.x, np.float32),
                           [UNKNOWN_OUTPUT_NAME])[1]
    elif bank is not None:
        bank_rows = stratified_bank(embedding[n_cal:n_cal + n_bank], bank.y, bank_size, seed)
        scores = knn_scores(embedding[:n_cal], bank_rows, neighbours)
    else:
        previous = existing_bank(model)
        if previous is None:
            raise CalibrationError(
                f"{onnx_path}: the model has no unknown-score bank yet; re-train it with this "
                "version of `training train`, or pass its training curves with --bank-data DIR")
        bank_rows, neighbours = previous
        scores = knn_scores(embedding[:n_cal], bank_rows, neighbours)
    fitted = fit_temperature(raw, calibration.y)
    temperature = fitted * shift_temperature
    calibrated = temperature_scaled(raw, temperature)
    params = TailParameters(temperature=temperature, bank=bank_rows, neighbours=neighbours,
                            threshold=float(np.quantile(scores, keep)), forest=forest)
    tailed = graph_tail.attach_tail(model, params)
    _check_parity(tailed, calibration.x, calibrated, scores)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_onnx = out_dir / MODEL_FILE
    onnx.save(tailed, str(out_onnx))
    entries = params.card_entries(
        keep,
        {**(fitted_on or {}), "n_curves": len(calibration),
         "class_counts": calibration.class_counts()},
        calibration_figures(calibration.y, raw), calibration_figures(calibration.y, calibrated))
    card.calibration, card.unknown = entries["calibration"], entries["unknown"]
    if shift_temperature != 1.0:
        card.calibration.update(fitted_temperature=fitted, shift_temperature=shift_temperature)
    card.onnx_sha256 = sha256_of(out_onnx)
    if version is not None:
        card.version = version or f"{card.version}-cal.{card.onnx_sha256[:8]}"
    card.reference = _reference(calibration, calibrated, scores, params.threshold, card.classes)
    card.save(out_dir / CARD_FILE)
    if Path(model_dir).resolve() != out_dir.resolve():
        _copy_figures(Path(model_dir), out_dir)
    return card


def calibrate_on_curves(model_dir: str | Path, out_dir: str | Path,
                        curves: Sequence[LightCurve], source: str,
                        bank_curves: Sequence[LightCurve] | None = None,
                        other_curves: Sequence[LightCurve] = (),
                        **options: Any) -> ModelCard:
    """`calibrate_model` on labelled light curves (curves of other classes are left out).

    `other_curves`: catalogued stars of other classes, shown to a new unknown forest (only
    used with `bank_curves`)."""
    _, card = load_model_dir(model_dir)
    data = featurise_labelled(curves, card.classes, card.features, card.min_points)
    bank = (None if not bank_curves else
            featurise_labelled(bank_curves, card.classes, card.features, card.min_points))
    others = other_class_inputs(other_curves, card.classes, card.features, card.min_points)
    return calibrate_model(model_dir, out_dir, data, bank,
                           fitted_on={"source": source, "left_out": data.dropped},
                           others=others, **options)


def other_class_inputs(curves: Sequence[LightCurve], classes: Sequence[str],
                       settings: FeatureSettings, min_points: int) -> np.ndarray:
    """(N, 2, L) inputs of the catalogued stars outside `classes` (importers keep their
    class in `source_class`); unlabelled curves without one are not evidence of anything."""
    kept = [c for c in curves if c.label not in classes and c.meta.get("source_class")]
    if not kept:
        return np.zeros((0, 2, settings.length), np.float32)
    return curve_inputs(kept, settings, min_points).features.x


SIMULATED_SURVEY_PREFIX = "sim-"


def is_simulated(curve: LightCurve) -> bool:
    """Simulated curves carry survey "sim-<cadence>" (the simulator and cadence transfer)."""
    return (curve.survey or "").startswith(SIMULATED_SURVEY_PREFIX)


def real_rows(data: LabelledFeatures, curves: Sequence[LightCurve],
              min_curves: int = MIN_CALIBRATION_CURVES) -> LabelledFeatures:
    """The rows of `data` that are real curves (all rows when fewer than `min_curves` are).

    Calibration must match real skies: simulated validation curves are cleaner than any
    survey and would teach the temperature overconfidence.
    """
    assert data.source_index is not None
    real = np.array([not is_simulated(curves[i]) for i in data.source_index], bool)
    return data.subset(np.flatnonzero(real)) if real.sum() >= min_curves else data


def split_of_run(run_dir: str | Path, curves: Sequence[LightCurve]
                 ) -> tuple[list[LightCurve], list[LightCurve]]:
    """(training, validation) curves of an existing run, by its split.csv.

    For runs trained before calibration existed: the same held-out curves can calibrate it
    afterwards. Curves are matched on (object_id, label); an ambiguous match is left out.
    """
    import polars as pl

    split = pl.read_csv(Path(run_dir) / "split.csv", schema_overrides={"object_id": pl.Utf8})
    where: dict[tuple[str, str], set[str]] = {}
    for oid, label, part in split.iter_rows():
        where.setdefault((oid, label), set()).add(part)
    train, val = [], []
    for curve in curves:
        parts = where.get((curve.object_id, curve.label or ""), set())
        if parts == {"train"}:
            train.append(curve)
        elif parts == {"validation"}:
            val.append(curve)
    return train, val


def _check_parity(model: onnx.ModelProto, x: np.ndarray, calibrated: np.ndarray,
                  scores: np.ndarray) -> None:
    probabilities, unknown = run_graph(model, np.asarray(x, np.float32)[:2048],
                                       [UNKNOWN_OUTPUT_NAME])
    gap = max(float(np.max(np.abs(probabilities - calibrated[:2048]))),
              float(np.max(np.abs(unknown - scores[:2048]))))
    if gap > TAIL_PARITY_TOLERANCE:
        raise RuntimeError(f"calibrated graph differs from its numpy twin by {gap:.2e} > "
                           f"{TAIL_PARITY_TOLERANCE:.0e}")


def _reference(data: LabelledFeatures, probabilities: np.ndarray, scores: np.ndarray,
               threshold: float, classes: list[str]) -> dict[str, Any]:
    from broker_plugin.drift import reference_statistics

    return reference_statistics(data.batch(), probabilities, classes,
                                unknown_scores=scores, unknown_threshold=threshold)


def _copy_figures(source: Path, target: Path) -> None:
    """Keep the run's history and figures beside a re-calibrated copy (not the old graph)."""
    for path in source.iterdir():
        if path.is_file() and path.name not in (MODEL_FILE, CARD_FILE) and not (
                target / path.name).exists():
            shutil.copy2(path, target / path.name)
