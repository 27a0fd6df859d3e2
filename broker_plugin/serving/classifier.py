"""The model as serving sees it: an onnxruntime session plus the card that says how to feed it.

The card is the single source of the classes, the feature settings and `min_points`, so a
model and its pre-processing can never drift apart. Sessions run with a fixed, small thread
count (one per core is the unit we scale by: more pods, not more threads per pod).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from broker_plugin.features import FeatureSettings
from broker_plugin.model_card import (
    OUTPUT_NAME,
    UNKNOWN_OUTPUT_NAME,
    ModelCard,
    ModelCardError,
    load_model_dir,
)

#: Rows per onnxruntime call: small enough that length-sorted runs are tight, large
#: enough that the call's fixed cost stays small (bench/bench_padding.py: 2.21x at 128,
#: 2.15x at 64, 1.74x for unsorted runs of 1,024).
ROWS_PER_RUN = 128


class Classifier:
    """`predict(x)` → (N, n_classes) float32 probabilities for (N, 2, length) features."""

    def __init__(self, model_dir: str | Path, threads: int = 1, verify: bool = True) -> None:
        onnx_path, card = load_model_dir(model_dir, verify=verify)
        self._open(onnx_path, card, threads)

    @classmethod
    def from_graph(cls, onnx_path: str | Path, threads: int = 1) -> Classifier:
        """The same runner over an exported graph whose card is not written yet (export's
        parity check and drift reference): a stand-in card with classes `class_0`… as wide
        as the graph's output and no unknown score; only the graph's outputs matter."""
        runner = cls.__new__(cls)
        runner._open(Path(onnx_path), None, threads)
        return runner

    def _open(self, onnx_path: Path, card: ModelCard | None, threads: int) -> None:
        """Start the onnxruntime session and check it against `card` (None: stand-in)."""
        import onnxruntime as ort

        self.onnx_path = onnx_path
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self.session = ort.InferenceSession(
                str(self.onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc)
            raise ModelCardError(
                f"{self.onnx_path}: onnxruntime cannot load it ({first_line}); the file is "
                "corrupt or from an incompatible exporter: re-export it with `training "
                "train` (or `training calibrate`) or restore the original"
            ) from exc
        self.card = card if card is not None else self._stand_in_card()
        self._check_contract(self.card)
        outputs = {o.name for o in self.session.get_outputs()}
        #: The unknown score's threshold, None for models without one (nothing is flagged).
        self.unknown_threshold = (self.card.unknown_threshold
                                  if UNKNOWN_OUTPUT_NAME in outputs else None)

    def _stand_in_card(self) -> ModelCard:
        outputs = {o.name: o for o in self.session.get_outputs()}
        if OUTPUT_NAME not in outputs:
            raise ModelCardError(
                f"{self.onnx_path}: no {OUTPUT_NAME!r} output (has {sorted(outputs)})")
        width = outputs[OUTPUT_NAME].shape[-1]
        return ModelCard(name=self.onnx_path.stem, version="unexported",
                         classes=[f"class_{i}" for i in range(width if isinstance(width, int)
                                                              else 0)],
                         features=FeatureSettings(), onnx_sha256="")

    def _check_contract(self, card: ModelCard) -> None:
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name: o for o in self.session.get_outputs()}
        if card.input_name not in inputs or card.output_name not in outputs:
            raise ModelCardError(
                f"{self.onnx_path}: graph has inputs {sorted(inputs)} and outputs "
                f"{sorted(outputs)}, the card expects {card.input_name!r} -> "
                f"{card.output_name!r}; re-export the model"
            )
        n_out = outputs[card.output_name].shape[-1]
        if isinstance(n_out, int) and n_out != len(card.classes):
            raise ModelCardError(
                f"{self.onnx_path}: graph outputs {n_out} classes, card lists "
                f"{len(card.classes)} ({card.classes}); re-export the model"
            )

    @property
    def classes(self) -> list[str]:
        return list(self.card.classes)

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def version(self) -> str:
        return self.card.version

    def predict(self, x: np.ndarray, chunk: int = ROWS_PER_RUN) -> np.ndarray:
        """Probabilities for a feature batch (rows in any order, answers in the same)."""
        return self.predict_scored(x, chunk)[0]

    def predict_scored(self, x: np.ndarray, chunk: int = ROWS_PER_RUN
                       ) -> tuple[np.ndarray, np.ndarray | None]:
        """(probabilities, unknown scores or None when the model has no unknown score).

        Rows run shortest first, `chunk` at a time: the graph skips the padding after each
        run's longest row, so runs of similar lengths cost what their data costs (a
        300-point LSST alert gives its bands ~50 pairs each of the 300). Also bounds memory.
        """
        n = x.shape[0]
        scored = self.unknown_threshold is not None
        probabilities = np.zeros((n, len(self.card.classes)), dtype=np.float32)
        scores = np.zeros(n, np.float32) if scored else None
        if n == 0:
            return probabilities, scores
        x = np.asarray(x, dtype=np.float32)
        names = [self.card.output_name, UNKNOWN_OUTPUT_NAME] if scored else [
            self.card.output_name]
        order = np.argsort(data_lengths(x), kind="stable")
        for start in range(0, n, chunk):
            rows = order[start:start + chunk]
            parts = self.session.run(names, {self.card.input_name: np.ascontiguousarray(x[rows])})
            probabilities[rows] = parts[0]
            if scores is not None:
                scores[rows] = parts[1]
        return probabilities, scores


def data_lengths(x: np.ndarray) -> np.ndarray:
    """Per row of (N, 2, L), the position after its last non-zero pair (0 for none)."""
    nonzero = (x[:, 0] != 0) | (x[:, 1] != 0)
    last = x.shape[2] - np.argmax(nonzero[:, ::-1], axis=1)
    return np.where(nonzero.any(axis=1), last, 0)
