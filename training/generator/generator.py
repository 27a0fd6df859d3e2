"""`PelsGenerator`: PELS-VAE + per-class parameter mixtures + latent regressor + references.

The one object the self-regulated training loop talks to (see the package docstring for the
stable API). Fitting runs four steps on light curves that carry a label and a period:
impute missing physical parameters per class (k-NN), fold and train the VAE, regress the
encoder's μ on the parameters, and fit one BayesianGaussianMixture per class.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from broker_plugin.errors import UserError
from broker_plugin.features import FeatureSettings, featurise_segments
from broker_plugin.lightcurve import CLASSES, PHYSICAL_PARAMETERS, LightCurve
from training.generator.config import GeneratorConfig
from training.generator.folding import fold_curves, phase_grid
from training.generator.physical import (
    from_model_space,
    impute_per_class,
    params_matrix,
    to_model_space,
)
from training.generator.references import ReferenceSet
from training.generator.regressor import regressor_inputs
from training.generator.synthesis import SyntheticBatch, unfold, window_index
from training.generator.tempering import GaussianMixture, fit_class_mixture

#: 2: references store per-star observation times and errors (synthesis unfolds on them).
FORMAT_VERSION = 2
#: Folded real curves kept per class in a saved generator, for figures and diagnostics.
EXAMPLES_PER_CLASS = 64


class GeneratorDataError(UserError, ValueError):
    """Training curves the generator cannot learn from (the message says which and why)."""


class GeneratorDirError(UserError, ValueError):
    """A generator directory that cannot be loaded (missing or foreign files)."""


@dataclass
class PelsGenerator:
    """A fitted generator of synthetic light curves, per class, at any tempering b."""

    config: GeneratorConfig
    classes: list[str]
    vae: Any  # PelsVAE (torch imported lazily)
    phys_mean: np.ndarray
    phys_std: np.ndarray
    mixtures: dict[str, GaussianMixture]
    regressor: Any  # sklearn RandomForestRegressor
    references: ReferenceSet
    examples: dict[str, np.ndarray]
    metrics: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    # Cadence templates (training.cadence_transfer) to observe synthetic curves at instead of
    # the reference stars' epochs; set by the caller (training's `cadence_from`), not saved.
    templates: Any = None

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls,
        curves: Sequence[LightCurve],
        config: GeneratorConfig | None = None,
        progress: bool = True,
        device: str | None = None,
    ) -> PelsGenerator:
        """Fit all parts on labelled curves with periods (other curves are skipped)."""

        from training.generator.regressor import fit_latent_regressor
        from training.generator.vae_training import cpu_threads, encode_mu, fit_vae, pick_device

        config = config or GeneratorConfig()
        usable, periods, skipped = _usable_curves(curves)
        labels = np.array([c.label for c in usable], dtype=str)
        classes = _ordered_classes(labels)
        counts = {c: int(np.sum(labels == c)) for c in classes}
        thin = {c: n for c, n in counts.items() if n < 3}
        if not usable or thin:
            raise GeneratorDataError(
                f"the generator needs at least 3 labelled curves with a positive 'period' per "
                f"class; got {counts or 'none'} ({skipped} curves skipped for lacking a label "
                f"or period). Add curves or drop the thin classes."
            )
        with cpu_threads(config.cpu_threads):
            say = _Reporter(progress)
            say("impute", f"{len(usable)} curves ({skipped} skipped), classes {classes}; "
                "imputing parameters")
            class_index = np.array([classes.index(lbl) for lbl in labels], dtype=np.int64)
            raw = params_matrix(usable)
            raw[:, 0] = periods
            missing_share = float(np.isnan(raw).mean())
            model_params = impute_per_class(to_model_space(raw), labels, config.knn_neighbours)

            say("fold", f"folding to {config.cycles} cycles x {config.n_phase} phase points")
            folded = fold_curves(usable, periods, config.n_phase, config.cycles, config.seed)
            phys_mean = model_params.mean(axis=0)
            phys_std = np.where(model_params.std(axis=0) > 1e-9, model_params.std(axis=0), 1.0)
            standard = (model_params - phys_mean) / phys_std
            torch_device = pick_device(device)
            vae_rows = vae_subset(usable, class_index, config)
            say("vae", f"training PELS-VAE on {torch_device} ({vae_rows.size} curves, up to "
                f"{config.epochs} epochs)")
            vae_fit = fit_vae(
                folded.x[vae_rows], class_index[vae_rows], standard[vae_rows], len(classes),
                config, torch_device, progress,
            )
            grid = " (grid search)" if config.regressor_grid_search else ""
            say("regressor", f"fitting the latent regressor on all {len(usable)} curves{grid}")
            onehot = np.eye(len(classes))[class_index]
            mu = encode_mu(vae_fit.model, folded.x, onehot, standard, torch_device)
            regressor, report = fit_latent_regressor(
                regressor_inputs(model_params, class_index, len(classes)),
                mu,
                config.regressor_trees,
                config.regressor_grid_search,
                seed=config.seed,
            )
            say("mixtures", "fitting per-class parameter mixtures (one row per object)")
            one_per_object = _first_per_object(usable)
            mixtures = {}
            for i, c in enumerate(classes):
                rows = one_per_object & (class_index == i)
                if rows.sum() < 3:  # too few distinct stars: every curve, as before
                    rows = class_index == i
                mixtures[c] = fit_class_mixture(
                    model_params[rows], c, config.seed, config.mean_precision_prior
                )
            say("references", "keeping reference stars' epochs and errors")
            references = ReferenceSet.build(usable, class_index, periods, config.max_points)
            examples = _examples(folded.x, class_index, len(classes), config.seed)
            metrics = {
                "n_curves": len(usable),
                "n_skipped": skipped,
                "per_class": counts,
                "missing_parameter_share": missing_share,
                "vae_curves": int(vae_rows.size),
                "vae_epochs_run": len(vae_fit.history),
                "vae_best_epoch": vae_fit.best_epoch,
                "vae_val_mse": vae_fit.val_mse,
                "vae_baseline_mse": vae_fit.baseline_mse,
                "vae_history": vae_fit.history,
                "regressor_r2": report.r2,
                "regressor_mae": report.mae,
                "regressor_baseline_mae": report.baseline_mae,
                "regressor_params": report.best_params,
                "mixture_components": {c: int(m.weights.size) for c, m in mixtures.items()},
                "device": str(torch_device),
                "step_seconds": say.seconds(),
            }
            vae_fit.model.eval()
            return cls(
                config=config, classes=classes, vae=vae_fit.model, phys_mean=phys_mean,
                phys_std=phys_std, mixtures=mixtures, regressor=regressor, references=references,
                examples=examples, metrics=metrics, device=str(torch_device),
            )

    # ------------------------------------------------------------------ sampling
    def sample_parameters(
        self, counts: Mapping[str, int], b: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """(class indices (M,), model-space parameters (M, 6)) drawn from q ∝ p^b per class."""
        unknown = sorted(set(counts) - set(self.classes))
        if unknown:
            raise GeneratorDataError(
                f"the generator knows classes {self.classes}; asked for {unknown}"
            )
        index, values = [], []
        for label, n in counts.items():
            if n < 0:
                raise GeneratorDataError(f"count for class {label!r} must be >= 0, got {n}")
            if n == 0:
                continue
            draws = self.mixtures[label].sample_tempered(int(n), b, rng, self.config.pool_size)
            values.append(draws)
            index.append(np.full(int(n), self.classes.index(label), dtype=np.int64))
        if not values:
            return np.empty(0, dtype=np.int64), np.empty((0, len(PHYSICAL_PARAMETERS)))
        return np.concatenate(index), np.concatenate(values)

    def decode_grid(self, class_index: np.ndarray, model_params: np.ndarray) -> np.ndarray:
        """Normalised folded magnitudes (M, n_phase) on the regular phase grid: parameters ->
        μ (regressor) -> decoder, keeping the last cycle (full causal context)."""
        latent = self.regressor.predict(
            regressor_inputs(model_params, class_index, len(self.classes))
        )
        return self.decode_latent(class_index, np.atleast_2d(latent))

    def decode_latent(self, class_index: np.ndarray, latent: np.ndarray) -> np.ndarray:
        """Decoder output (M, n_phase) for given latent codes, on the regular phase grid."""
        import torch

        n_phase, cycles = self.config.n_phase, self.config.cycles
        if len(class_index) == 0:
            return np.empty((0, n_phase))
        device = torch.device(self.device)
        grid = torch.as_tensor(phase_grid(n_phase, cycles), dtype=torch.float32, device=device)
        out = []
        self.vae.eval()
        with torch.no_grad():
            for start in range(0, len(class_index), 1024):
                sl = slice(start, start + 1024)
                z = torch.as_tensor(latent[sl], dtype=torch.float32, device=device)
                onehot = torch.nn.functional.one_hot(
                    torch.as_tensor(class_index[sl], device=device), len(self.classes)
                ).float()
                decoded = self.vae.decode(z, onehot, grid.expand(z.shape[0], -1))
                out.append(decoded[:, -n_phase:].cpu().numpy().astype(np.float64))
        return np.concatenate(out)

    def synthesize(
        self, counts: Mapping[str, int], b: float = 1.0, seed: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, SyntheticBatch]:
        """Class indices, model-space parameters and the flat synthetic batch."""
        rng = np.random.default_rng(seed)
        class_index, model_params = self.sample_parameters(counts, b, rng)
        grid = self.decode_grid(class_index, model_params)
        period = 10.0 ** model_params[:, 0]
        reference = self.references.nearest(class_index, model_params[:, 0])
        batch = unfold(
            grid, period, reference, self.references, rng, self.config.max_points,
            self.config.cadence_window, self.config.min_window_points,
            templates=self.templates,
        )
        return class_index, model_params, batch

    def sample_curves(
        self, counts: Mapping[str, int], b: float = 1.0, seed: int | None = None
    ) -> list[LightCurve]:
        """Unfolded synthetic light curves with label, sampled physical parameters and, in
        meta, the reference star and the tempering b."""
        class_index, model_params, batch = self.synthesize(counts, b, seed)
        physical = from_model_space(model_params)
        ends = np.cumsum(batch.sizes)
        curves = []
        for i, (start, end) in enumerate(zip(batch.starts, ends, strict=True)):
            label = self.classes[class_index[i]]
            ref = int(batch.reference[i])
            curves.append(
                LightCurve(
                    object_id=f"SYN-{label}-{i:06d}",
                    time=batch.time[start:end],
                    mag=batch.mag[start:end],
                    err=batch.err[start:end],
                    band=str(self.references.band[ref]) or None,
                    label=label,
                    survey="synthetic",
                    params=dict(zip(PHYSICAL_PARAMETERS, map(float, physical[i]), strict=True)),
                    meta={
                        "synthetic": True,
                        "b": float(b),
                        "reference": str(self.references.object_id[ref]),
                        "reference_band": str(self.references.band[ref]),
                        "cycles": float(batch.cycles[i]),
                    },
                )
            )
        return curves

    def synthetic_features(
        self,
        counts: Mapping[str, int],
        b: float,
        n_oversampling: int,
        settings: FeatureSettings,
        seed: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(x float32 (M, 2, length), labels int64 (M,)) for the classifier: n_oversampling
        random windows of length+1 points per synthetic curve, through the shared featuriser.
        Labels index `self.classes`."""
        if n_oversampling < 1:
            raise GeneratorDataError(f"n_oversampling must be >= 1, got {n_oversampling}")
        rng = np.random.default_rng(None if seed is None else seed + 7_919)
        class_index, _, batch = self.synthesize(counts, b, seed)
        index, sizes = window_index(
            batch.sizes, batch.starts, n_oversampling, settings.length + 1, rng
        )
        features = featurise_segments(batch.time[index], batch.mag[index], sizes, settings)
        return features.x, np.repeat(class_index, n_oversampling).astype(np.int64)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the generator to a directory: config.json, vae.pt, mixtures.npz,
        references.npz, examples.npz, regressor.joblib and summary.json."""
        import joblib
        import torch

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        header = {
            "format_version": FORMAT_VERSION,
            "classes": self.classes,
            "config": self.config.to_dict(),
            "phys_mean": self.phys_mean.tolist(),
            "phys_std": self.phys_std.tolist(),
            "physical_parameters": list(PHYSICAL_PARAMETERS),
        }
        (path / "config.json").write_text(json.dumps(header, indent=2) + "\n")
        torch.save({k: v.cpu() for k, v in self.vae.state_dict().items()}, path / "vae.pt")
        mix: dict[str, np.ndarray] = {}
        for label, mixture in self.mixtures.items():
            mix.update(mixture.to_arrays(f"{label}/"))
        np.savez(path / "mixtures.npz", **mix)
        np.savez(path / "references.npz", **self.references.to_arrays())
        np.savez(path / "examples.npz", **self.examples)
        joblib.dump(self.regressor, path / "regressor.joblib")
        (path / "summary.json").write_text(json.dumps(_jsonable(self.metrics), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> PelsGenerator:
        """Read a directory written by `save` (on CUDA when present unless told otherwise)."""
        import joblib
        import torch

        from training.generator.vae import PelsVAE
        from training.generator.vae_training import pick_device

        path = Path(path)
        needed = ("config.json", "vae.pt", "mixtures.npz", "references.npz", "regressor.joblib")
        missing = [n for n in needed if not (path / n).is_file()]
        if missing:
            raise GeneratorDirError(
                f"{path}: not a generator directory (missing {', '.join(missing)}); "
                f"create one with `training fit-generator --data DIR --out {path}`"
            )
        header = json.loads((path / "config.json").read_text())
        if header.get("format_version") != FORMAT_VERSION:
            raise GeneratorDirError(
                f"{path / 'config.json'}: format_version {header.get('format_version')!r}, "
                f"this code reads {FORMAT_VERSION}; refit the generator"
            )
        config = GeneratorConfig.from_dict(header["config"])
        classes = list(header["classes"])
        torch_device = pick_device(device)
        vae = PelsVAE(
            len(classes), config.latent_dim, config.hidden, config.levels, config.kernel_size,
            config.dropout, config.cycles,
        )
        vae.load_state_dict(torch.load(path / "vae.pt", map_location="cpu", weights_only=True))
        vae.to(torch_device).eval()
        with np.load(path / "mixtures.npz") as arrays:
            mixtures = {c: GaussianMixture.from_arrays(arrays, f"{c}/") for c in classes}
        with np.load(path / "references.npz") as arrays:
            references = ReferenceSet.from_arrays(arrays)
        examples: dict[str, np.ndarray] = {}
        if (path / "examples.npz").is_file():
            with np.load(path / "examples.npz") as arrays:
                examples = {k: arrays[k] for k in arrays.files}
        metrics = {}
        if (path / "summary.json").is_file():
            metrics = json.loads((path / "summary.json").read_text())
        return cls(
            config=config, classes=classes, vae=vae,
            phys_mean=np.asarray(header["phys_mean"]), phys_std=np.asarray(header["phys_std"]),
            mixtures=mixtures, regressor=joblib.load(path / "regressor.joblib"),
            references=references, examples=examples, metrics=metrics, device=str(torch_device),
        )


class _Reporter:
    """One line per fitting step on stderr (silent when progress is off), and the seconds
    each step took (a step lasts until the next message), for the fit summary."""

    def __init__(self, enabled: bool) -> None:
        import time

        from rich.console import Console

        self.console = Console(stderr=True, quiet=not enabled)
        self.clock = time.perf_counter
        self.steps: list[tuple[str, float]] = []

    def __call__(self, step: str, message: str) -> None:
        self.steps.append((step, self.clock()))
        self.console.print(f"[dim]generator:[/] {message}", highlight=False)

    def seconds(self) -> dict[str, float]:
        """Seconds per step so far, by step name."""
        ends = [t for _, t in self.steps[1:]] + [self.clock()]
        return {name: round(end - start, 3)
                for (name, start), end in zip(self.steps, ends, strict=True)}


def _usable_curves(curves: Sequence[LightCurve]) -> tuple[list[LightCurve], np.ndarray, int]:
    """Curves with a label, a positive finite period and at least 3 finite points."""
    usable, periods = [], []
    for curve in curves:
        period = curve.params.get("period") if curve.params else None
        try:
            period = float(period) if period is not None else float("nan")
        except (TypeError, ValueError):
            period = float("nan")
        finite = np.isfinite(curve.time) & np.isfinite(curve.mag) & np.isfinite(curve.err)
        if curve.label and np.isfinite(period) and period > 0 and finite.sum() >= 3:
            usable.append(curve)
            periods.append(period)
    return usable, np.asarray(periods, dtype=np.float64), len(curves) - len(usable)


def vae_subset(
    curves: Sequence[LightCurve], class_index: np.ndarray, config: GeneratorConfig
) -> np.ndarray:
    """Sorted rows the VAE trains on: every curve, or with `vae_max_per_class` at most that
    many per class, curves with at least `vae_min_points` finite points first (a seeded
    random choice among them), then the best-sampled of the rest."""
    if not config.vae_max_per_class:
        return np.arange(len(curves))
    rng = np.random.default_rng(config.seed)
    n_finite = np.array(
        [np.sum(np.isfinite(c.time) & np.isfinite(c.mag) & np.isfinite(c.err)) for c in curves]
    )
    chosen = []
    for c in np.unique(class_index):
        members = rng.permutation(np.flatnonzero(class_index == c))
        enough = n_finite[members] >= config.vae_min_points
        # Enough points first (random order), then the rest by decreasing point count.
        rest = members[~enough][np.argsort(-n_finite[members[~enough]], kind="stable")]
        chosen.append(np.concatenate([members[enough], rest])[: config.vae_max_per_class])
    return np.sort(np.concatenate(chosen))


def _first_per_object(curves: Sequence[LightCurve]) -> np.ndarray:
    """True for the first curve of each object id: multi-band objects (one curve per band)
    count once in the parameter mixtures, as one star has one set of parameters."""
    _, first = np.unique(np.array([c.object_id for c in curves], dtype=str), return_index=True)
    keep = np.zeros(len(curves), dtype=bool)
    keep[first] = True
    return keep


def _ordered_classes(labels: np.ndarray) -> list[str]:
    """Present labels, in the project's CLASSES order first, then any others sorted."""
    present = set(labels.tolist())
    return [c for c in CLASSES if c in present] + sorted(present - set(CLASSES))


def _examples(x: np.ndarray, class_index: np.ndarray, n_classes: int, seed: int) -> dict:
    """A few folded real curves per class (phase, normalised magnitude), for figures."""
    rng = np.random.default_rng(seed)
    keep = np.concatenate(
        [
            rng.permutation(np.flatnonzero(class_index == c))[:EXAMPLES_PER_CLASS]
            for c in range(n_classes)
        ]
    )
    return {"x": x[keep, :2], "class_index": class_index[keep]}


def _jsonable(value: Any) -> Any:
    """Metrics as plain JSON (numpy scalars and arrays converted)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
