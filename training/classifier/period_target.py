"""The auxiliary period target: timescale learnt from period-free sequences (config
`period_weight`).

Without a period, a 2–5 d Cepheid and an RR Lyrae sampled once a night look alike, and across
surveys the network then learns each survey's look instead (README, "Cross-survey science").
Training curves mostly have a period: the catalogue's, or the Lomb–Scargle one that cadence
transfer already finds for its Fourier fits (`training.cadence_transfer.fit_fourier`,
remembered in the period cache). Asking the network to estimate log10 P from the same
(Δt, Δm) sequence, beside the class, makes its features carry timescale on every cadence it
is shown (cadence-transferred views keep their star's period). Only curves whose Fourier
fit is usable get a target; the others (semi-regulars, multi-periodic stars, too few points)
have NaN and add nothing. The head is a training-time extra: the exported graph is the
classifier alone, so serving neither needs nor searches a period.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional

from broker_plugin.lightcurve import LightCurve
from training.classifier.data import LabelledFeatures
from training.config import TrainingConfig


def attach_periods(train: LabelledFeatures, curves: Sequence[LightCurve],
                   config: TrainingConfig) -> LabelledFeatures:
    """Set `train.log_period` (row-aligned with `curves`) when the config asks for it."""
    if config.period_weight <= 0 or len(train) == 0:
        return train
    if len(curves) != len(train):
        raise ValueError("attach_periods needs one curve per training row")
    from training.cadence_transfer import fit_fourier

    fits = fit_fourier(curves)
    good = fits.usable & np.isfinite(fits.period) & (fits.period > 0)
    train.log_period = np.where(good, np.log10(np.where(good, fits.period, 1.0)), np.nan)
    return train


def period_target(train: LabelledFeatures, config: TrainingConfig,
                  device: torch.device) -> tuple[torch.Tensor, float] | None:
    """(log10 periods on `device`, weight) for the training pass, or None when off."""
    if config.period_weight <= 0 or train.log_period is None:
        return None
    if not np.isfinite(train.log_period).any():
        return None
    return torch.as_tensor(train.log_period, dtype=torch.float32, device=device), \
        config.period_weight


def period_loss(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Huber loss in dex over the rows with a known period (0 when the batch has none)."""
    known = torch.isfinite(target)
    if not bool(known.any()):
        return estimate.sum() * 0.0
    return functional.smooth_l1_loss(estimate[known], target[known], beta=0.3)
