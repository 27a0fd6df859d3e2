"""Masks: real and synthetic updates touch disjoint weights, optimiser state included."""

from __future__ import annotations

import torch

from training.classifier.masks import (
    MaskedOptimizer,
    build_real_masks,
    complement,
    frozen_batchnorm_statistics,
    mask_share,
)
from training.classifier.model import VariableStarCNN


def _model_and_optimizers(weight_decay: float = 0.1):
    torch.manual_seed(0)
    model = VariableStarCNN(3, length=64, n_blocks=2, fc_units=16)
    real = build_real_masks(model, epsilon=0.4, seed=0)
    synth = complement(real)
    make = lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=weight_decay)  # noqa: E731
    opt_real, opt_synth = MaskedOptimizer(model, real, make), MaskedOptimizer(model, synth, make)
    return model, real, synth, opt_real, opt_synth


def _step(model, optimizer) -> None:
    x = torch.randn(8, 2, 64).abs()
    y = torch.randint(0, 3, (8,))
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()


def _changed(before: dict, model) -> dict:
    return {n: (p.detach() != before[n]).float() for n, p in model.named_parameters()}


def test_synthetic_steps_change_no_real_weight() -> None:
    """Synthetic (mask2) steps, after real steps built optimiser state, leave mask1 intact."""
    model, real, _, opt_real, opt_synth = _model_and_optimizers()
    _step(model, opt_real)  # build momentum in the real optimiser
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for _ in range(3):
        _step(model, opt_synth)
    changed = _changed(before, model)
    assert all((changed[n] * real[n]).sum() == 0 for n in changed)
    assert sum(float((changed[n] * (1 - real[n])).sum()) for n in changed) > 0


def test_real_steps_change_no_synthetic_weight() -> None:
    """Real (mask1) steps with weight decay and Adam state leave mask2 intact."""
    model, _, synth, opt_real, opt_synth = _model_and_optimizers()
    _step(model, opt_synth)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for _ in range(3):
        _step(model, opt_real)
    changed = _changed(before, model)
    assert all((changed[n] * synth[n]).sum() == 0 for n in changed)


def test_conv_filters_are_assigned_whole() -> None:
    """Every conv filter is entirely in mask1 or entirely in mask2, its BN channel with it."""
    model = VariableStarCNN(3, length=64, n_blocks=2)
    masks = build_real_masks(model, epsilon=0.5)
    conv = masks["features.0.weight"].flatten(1)
    assert torch.all(conv.min(1).values == conv.max(1).values)
    assert torch.equal(conv[:, 0], masks["features.1.weight"])


def test_epsilon_sets_share_of_synthetic_mask() -> None:
    """ε is the share of each tensor given to mask2 (to within rounding)."""
    model = VariableStarCNN(3, length=64, n_blocks=2)
    share = mask_share(complement(build_real_masks(model, epsilon=0.3)))
    assert abs(share - 0.3) < 0.02


def test_synthetic_pass_keeps_batchnorm_running_statistics() -> None:
    """Running mean/var describe real data only: a synthetic pass leaves them unchanged."""
    model = VariableStarCNN(3, length=64, n_blocks=2)
    bn = model.features[1]
    before = bn.running_mean.clone()
    model.train()
    with frozen_batchnorm_statistics(model):
        model(torch.randn(8, 2, 64).abs() * 5)
    assert torch.equal(bn.running_mean, before)
