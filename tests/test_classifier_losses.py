"""Losses: focal reduces to (weighted) cross-entropy at γ = 0; class weights."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from training.classifier.losses import FocalLoss, class_weights, make_loss


def test_focal_equals_cross_entropy_at_gamma_zero() -> None:
    """FL with γ = 0 and no α is the mean cross-entropy."""
    torch.manual_seed(0)
    logits, target = torch.randn(32, 5), torch.randint(0, 5, (32,))
    assert torch.allclose(FocalLoss(gamma=0.0)(logits, target), F.cross_entropy(logits, target))


def test_focal_with_alpha_equals_weighted_ce_at_gamma_zero() -> None:
    """FL with γ = 0 and α = class weights is the sample-mean weighted cross-entropy."""
    torch.manual_seed(1)
    logits, target = torch.randn(32, 3), torch.randint(0, 3, (32,))
    weights = np.array([0.5, 1.0, 2.0])
    focal = make_loss("focal", weights, gamma=0.0)(logits, target)
    assert torch.allclose(focal, make_loss("weighted_ce", weights)(logits, target))


def test_focal_downweights_easy_examples() -> None:
    """With γ > 0 a confidently correct example costs less than under CE."""
    logits, target = torch.tensor([[5.0, 0.0]]), torch.tensor([0])
    assert FocalLoss(gamma=2.0)(logits, target) < F.cross_entropy(logits, target)


def test_class_weights_are_inverse_frequency_with_mean_one() -> None:
    """Counts 10, 30 → weights 1.5, 0.5."""
    weights = class_weights(np.array([0] * 10 + [1] * 30), 2)
    assert np.allclose(weights, [1.5, 0.5])
