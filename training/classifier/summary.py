"""Period-free summary statistics of a (Δt, Δm) sequence, computed inside the graph.

Why: a CNN over the raw sequence learns the training surveys' sampling as much as the
stars, and moves badly to a new cadence (a model trained on OGLE/EROS-like curves called
Catalina's stars, four exposures a night, nearly all one class). Statistics of the
*magnitude distribution* hardly depend on the cadence: a random forest on a dozen of them
beat our CNN on surveys neither had seen. The network gets them beside the sequence.

They need no new input: magnitudes are recovered up to a constant as the cumulative sum
of Δm (exact, but for the few pairs the paper's Δm-quantile filter drops), so the ONNX
graph keeps its (N, 2, L) input and serving does not change. The same module feeds the
period-free feature forest of the cross-survey benchmark, so both see one definition.

Statistics (all invariant to a magnitude offset; amplitudes in mag, ratios unitless):
log10 amplitude (half the 5–95 % range), log10 standard deviation, skewness, excess
kurtosis, (median − mean)/σ, share of points beyond 1σ, percentile-range ratios
(40–60, 30–70, 25–75, 20–80, 10–90 over 5–95, after Richards et al. 2011), the position of
the median within the 5–95 % range (eclipses pull it towards the bright end), the von
Neumann ratio mean(Δm²)/σ² (smooth pulsators low, noise high; log10), the median |Δm| of
pairs more than half a day apart and of pairs within 0.1 d, both over the amplitude, with
a flag for whether any such pair exists (fast variables such as δ Scuti change within a
night, slow ones do not), and the log10 median Δt of the sequence is deliberately *not*
used (it is the survey's cadence, not the star).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import torch
from torch import nn

NIGHT_GAP_DAYS = 0.5
SAME_NIGHT_DAYS = 0.1
_EPS = 1e-6
#: Time-lag bins of the structure function [days]: within a visit, within a night, the next
#: night, days, weeks, months, seasons.
LAG_EDGES: tuple[float, ...] = (0.0, 0.04, 0.15, 0.5, 1.5, 5.0, 15.0, 50.0, 150.0, 1e9)
#: Pairs (i, i + k) for these k: every pair up to a few steps, then a geometric selection,
#: so long lags are reached on dense curves without an O(n²) pair table.
PAIR_STEPS: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)
#: Value of a structure-function bin with no pair in it.
EMPTY_BIN = -1.0
_LAG_NAMES = (*(f"sf_{lo:g}_{hi:g}d" for lo, hi in pairwise(LAG_EDGES[:-1])),
              f"sf_over_{LAG_EDGES[-2]:g}d")
NAMES: tuple[str, ...] = (
    "log_amplitude", "log_std", "skewness", "kurtosis", "median_minus_mean",
    "beyond_1std", "ratio_40_60", "ratio_30_70", "ratio_25_75", "ratio_20_80",
    "ratio_10_90", "median_position", "log_von_neumann", "night_to_night",
    "has_night_pairs", "intra_night", "has_intra_night_pairs", *_LAG_NAMES,
)


def pair_counts(x: torch.Tensor) -> torch.Tensor:
    """(N, 1) int64: per row, how many leading positions of (N, 2, L) hold data (the rest is
    zero padding; a row's last non-zero pair ends its data)."""
    position = torch.arange(x.shape[2], device=x.device).view(1, -1)
    nonzero = (x[:, 0].abs() + x[:, 1].abs()) > 0
    return torch.amax(torch.where(nonzero, position + 1, torch.zeros_like(position)),
                      dim=1, keepdim=True)


def without_padding(x: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """`x` cut after the batch's longest row (at least one position).

    Why: serving's rows are mostly padding (a 300-point LSST alert gives each band about 50
    pairs), and everything computed here and in the convolutions' data zone ignores it;
    slicing inside the graph makes the cost follow the data, not the padded length."""
    return x[:, :, :torch.clamp(counts.max(), min=1)]


def _masked_quantiles(values: torch.Tensor, valid: torch.Tensor,
                      quantiles: torch.Tensor) -> torch.Tensor:
    """Per-row quantiles (nearest rank) over the valid entries; rows with none give 0."""
    big = torch.finfo(values.dtype).max
    ordered = torch.sort(torch.where(valid, values, torch.full_like(values, big)), dim=1)[0]
    count = valid.sum(dim=1, keepdim=True).to(values.dtype)
    rank = torch.round(quantiles.view(1, -1) * torch.clamp(count - 1, min=0.0))
    picked = torch.gather(ordered, 1, rank.to(torch.int64))
    return torch.where(count > 0, picked, torch.zeros_like(picked))


class SequenceSummary(nn.Module):
    """(N, 2, L) raw (Δt, Δm) → (N, len(NAMES)) statistics (module docstring)."""

    n_features = len(NAMES)

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer(
            "quantiles", torch.tensor([0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75,
                                       0.8, 0.9, 0.95]))

    def structure_function(self, time: torch.Tensor, mag: torch.Tensor, valid: torch.Tensor,
                           var: torch.Tensor) -> torch.Tensor:
        """mean((m_j − m_i)²) / 2σ² per lag bin over pairs (i, i + k), k in PAIR_STEPS.

        1 means the magnitudes are uncorrelated at that lag (noise, or a period much
        shorter than the lag), near 0 strongly correlated (a slow variable), above 1
        anti-correlated (about half a period). A bin without pairs gets EMPTY_BIN. The
        timescale of the variability shows without any period search, on any cadence
        that has pairs at the lag.
        """
        # Every pair of every step in one (N, P) row, its lag bin counted edge by edge, then
        # one scatter-add per sum: onnxruntime runs this ~3x faster than per-step one-hot
        # bin masks, whose (N, L, bins) temporaries dominated the whole model's inference.
        # A step longer than the (trimmed) rows gives empty slices; no shape test, so the
        # exported graph keeps every step whatever the example's length.
        lags, squares, pairs = [], [], []
        for step in PAIR_STEPS:
            lags.append(time[:, step:] - time[:, :-step])
            squares.append((mag[:, step:] - mag[:, :-step]) ** 2)
            pairs.append(valid[:, step:] & valid[:, :-step])
        lag = torch.cat(lags, dim=1).to(mag.dtype)
        weight = torch.cat(pairs, dim=1).to(mag.dtype)
        passed = torch.zeros_like(lag)
        for edge in LAG_EDGES[1:-1]:
            passed = passed + (lag >= edge).to(mag.dtype)
        bins = passed.to(torch.int64)
        empty = torch.zeros(time.shape[0], len(LAG_EDGES) - 1, dtype=mag.dtype,
                            device=mag.device)
        sums = empty.scatter_add(1, bins, weight * torch.cat(squares, dim=1))
        counts = empty.scatter_add(1, bins, weight)
        value = sums / torch.clamp(counts, min=1.0) / (2 * var + _EPS)
        return torch.where(counts > 0, value, torch.full_like(value, EMPTY_BIN))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_pairs = pair_counts(x)
        x = without_padding(x, n_pairs)
        dt, dm = x[:, 0], x[:, 1]
        position = torch.arange(dt.shape[1], device=x.device).view(1, -1)
        pair_valid = position < n_pairs
        dm = torch.where(pair_valid, dm, torch.zeros_like(dm))
        # Magnitudes up to a constant: point 0 at 0, point i+1 at the sum of the first i+1 Δm.
        mag = torch.cat([torch.zeros_like(dm[:, :1]), torch.cumsum(dm, dim=1)], dim=1)
        point_valid = torch.cat([torch.ones_like(pair_valid[:, :1]), pair_valid], dim=1)
        n = point_valid.sum(dim=1, keepdim=True).to(x.dtype)
        mean = torch.where(point_valid, mag, torch.zeros_like(mag)).sum(1, keepdim=True) / n
        centred = torch.where(point_valid, mag - mean, torch.zeros_like(mag))
        var = (centred**2).sum(1, keepdim=True) / n
        std = torch.sqrt(var + _EPS**2)
        skew = (centred**3).sum(1, keepdim=True) / n / std**3
        kurt = (centred**4).sum(1, keepdim=True) / n / std**4 - 3.0
        beyond = ((centred.abs() > std) & point_valid).sum(1, keepdim=True).to(x.dtype) / n

        q = _masked_quantiles(mag, point_valid, self.quantiles)
        p5, p10, p20, p25, p30, p40, p50, p60, p70, p75, p80, p90, p95 = q.unbind(dim=1)
        span = (p95 - p5).unsqueeze(1) + _EPS
        ratios = torch.stack([p60 - p40, p70 - p30, p75 - p25, p80 - p20, p90 - p10],
                             dim=1) / span
        amplitude = span / 2
        median_position = (p50.unsqueeze(1) - p5.unsqueeze(1)) / span

        von_neumann = (dm**2).sum(1, keepdim=True) / torch.clamp(n - 1, min=1.0) / (var + _EPS)
        night = pair_valid & (dt > NIGHT_GAP_DAYS)
        intra = pair_valid & (dt < SAME_NIGHT_DAYS)
        median_quantile = self.quantiles[6:7]
        night_median = _masked_quantiles(dm.abs(), night, median_quantile) / amplitude
        intra_median = _masked_quantiles(dm.abs(), intra, median_quantile) / amplitude
        has_night = night.any(dim=1, keepdim=True).to(x.dtype)
        has_intra = intra.any(dim=1, keepdim=True).to(x.dtype)
        # Times in float64: lags are differences of cumulative sums, and float32 sums done in
        # another order (onnxruntime) would move pairs that sit on a bin edge.
        dt64 = torch.where(pair_valid, dt, torch.zeros_like(dt)).to(torch.float64)
        time = torch.cat([torch.zeros_like(dt64[:, :1]), torch.cumsum(dt64, 1)], 1)
        lags = self.structure_function(time, mag, point_valid, var)

        features = torch.cat([
            torch.log10(amplitude), torch.log10(std), skew, kurt,
            (p50.unsqueeze(1) - mean) / std, beyond, ratios, median_position,
            torch.log10(von_neumann + _EPS), night_median, has_night, intra_median, has_intra,
            lags,
        ], dim=1)
        # Curves with one point or a flat sequence would give inf/NaN: clamp to finite.
        return torch.nan_to_num(features, nan=0.0, posinf=10.0, neginf=-10.0).clamp(-50, 50)


class SummaryScaling(nn.Module):
    """Standardises the statistics with a mean and scale fitted once on the training set."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))

    def fit(self, features: np.ndarray) -> None:
        mean = features.mean(axis=0)
        scale = features.std(axis=0)
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.scale.copy_(torch.as_tensor(np.where(scale > 1e-6, scale, 1.0), dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.scale


def summary_statistics(x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """The statistics of featurised sequences (N, 2, L) as a numpy array (N, len(NAMES))."""
    module = SequenceSummary()
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            chunk = torch.as_tensor(np.asarray(x[start:start + batch_size], dtype=np.float32))
            out.append(module(chunk).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(NAMES)), np.float32)
