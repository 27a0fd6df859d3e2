"""The auxiliary period target (config period_weight): learnt in training, absent at export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.test_training_loop import CLASSES, PERIODS, SETTINGS, fake_curves
from training.classifier.data import featurise_labelled
from training.classifier.period_target import attach_periods, period_loss
from training.classifier.trainer import train_classifier
from training.config import TrainingConfig, TrainingConfigError


def _labelled(curves, config):
    data = featurise_labelled(curves, CLASSES, SETTINGS, config.min_points)
    attach_periods(data, [curves[i] for i in data.source_index], config)
    return data


def test_periods_attach_from_the_fourier_fit_and_the_head_learns_them() -> None:
    """Sinusoids with class-dependent periods: every row gets log10 of its class' period
    (found by Lomb–Scargle, none is given), and a model trained with the period loss
    estimates the period of held-out curves far better than the mean log-period does; its
    `forward` (what export traces) is the plain classifier."""
    config = TrainingConfig(epochs=40, batch_size=16, n_blocks=2, fc_units=32,
                            num_threads=1, window_min_length=10, period_weight=1.0,
                            learning_rate=3e-3, mode="one-loss", sequence_length=64,
                            selection="val_loss", patience=40)
    train = _labelled(fake_curves(20, seed=1), config)
    truth = np.log10([PERIODS[CLASSES[k]] for k in train.y])
    found = np.isfinite(train.log_period)
    assert found.mean() > 0.9
    assert np.max(np.abs(train.log_period[found] - truth[found])) < 0.05
    val = _labelled(fake_curves(8, seed=2), config)
    result = train_classifier(train, val, config, progress=False)
    model = result.model.eval()
    with torch.no_grad():
        x = torch.as_tensor(val.x)
        logits, estimate = model.logits_and_period(x)
        torch.testing.assert_close(logits, model(x))
    error = np.abs(estimate.numpy() - val.log_period)
    spread = np.abs(val.log_period - np.nanmean(train.log_period))
    assert np.nanmedian(error) < 0.65 * np.nanmedian(spread)


def test_off_by_default_and_checked() -> None:
    """Without period_weight no target is attached and no head is built; a negative weight
    is refused with the field's name."""
    config = TrainingConfig(n_blocks=2, fc_units=16, sequence_length=64)
    data = _labelled(fake_curves(3), config)
    assert data.log_period is None
    with pytest.raises(TrainingConfigError, match="period_weight"):
        TrainingConfig(period_weight=-1.0)


def test_period_loss_ignores_unknown_periods() -> None:
    estimate = torch.tensor([0.0, 1.0, 2.0], requires_grad=True)
    loss = period_loss(estimate, torch.tensor([0.0, float("nan"), 2.0]))
    assert float(loss) == 0.0
    loss.backward()
    assert estimate.grad is not None and float(estimate.grad[1]) == 0.0
    assert float(period_loss(estimate, torch.full((3,), float("nan")))) == 0.0
