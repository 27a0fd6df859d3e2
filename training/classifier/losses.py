"""Losses chosen per mask (paper §3.3): cross-entropy, weighted cross-entropy, focal.

Class weights are inverse frequencies normalised to mean 1, w_c = N / (K · n_c), from the
real training labels; the focal loss uses them as α (Lin et al. 2017):
FL = −α_y (1 − p_y)^γ log p_y, which is exactly the weighted cross-entropy at γ = 0 and the
plain cross-entropy when α is all ones.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency weights with mean 1; classes absent from `labels` get weight 1."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes).astype(float)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = counts[present].sum() / (present.sum() * counts[present])
    return weights / weights[present].mean() if present.any() else weights


class FocalLoss(nn.Module):
    """Mean focal loss over a batch of logits (module docstring for the formula)."""

    def __init__(self, alpha: torch.Tensor | None = None, gamma: float = 2.0) -> None:
        super().__init__()
        self.gamma = float(gamma)
        self.register_buffer("alpha", alpha if alpha is not None else torch.empty(0))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=-1).gather(1, target[:, None]).squeeze(1)
        loss = -((1.0 - log_p.exp()) ** self.gamma) * log_p
        if self.alpha.numel():
            loss = loss * self.alpha[target]
        return loss.mean()


def make_loss(name: str, weights: np.ndarray, gamma: float = 2.0) -> nn.Module:
    """'ce', 'weighted_ce' (inverse-frequency weights) or 'focal' (α = the same weights)."""
    alpha = torch.as_tensor(weights, dtype=torch.float32)
    if name == "ce":
        return nn.CrossEntropyLoss()
    if name == "weighted_ce":
        return _WeightedMeanCE(alpha)
    if name == "focal":
        return FocalLoss(alpha, gamma)
    raise ValueError(f"unknown loss {name!r}; use ce, weighted_ce or focal")


class _WeightedMeanCE(nn.Module):
    """Weighted CE averaged over samples (not over weights, unlike torch's default)."""

    def __init__(self, weights: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weights", weights)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = F.cross_entropy(logits.float(), target, reduction="none")
        return (loss * self.weights[target]).mean()
