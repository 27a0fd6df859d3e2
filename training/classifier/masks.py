"""Masks that split every weight tensor between real (mask1) and synthetic (mask2) data.

Paper §3.3: real and synthetic batches update disjoint parts of the network, so synthetic
curves can add knowledge without overwriting what real curves taught. Our rules:

* Convolution filters are assigned whole: filter f of a Conv1d goes to mask1 when its score
  (L1 norm of its weights at initialisation) is above the ε-quantile of that layer's filter
  scores, else to mask2. Its bias, and the BatchNorm γ, β of its output channel, follow it.
* Fully connected weights (and biases) are assigned one by one, with the same ε-quantile
  rule on |w| (ties — e.g. zero biases — broken by a seeded random score).
* mask2 = 1 − mask1 everywhere, so ε ≈ the share of each tensor given to synthetic data.
* BatchNorm running statistics are updated by real passes only (synthetic passes normalise
  with their own batch statistics but leave the running mean/var alone), because the running
  statistics are what serving uses and serving sees real curves.

Disjointness must survive the optimiser, not just the gradient: momentum, Adam moments and
weight decay would otherwise move weights whose gradient was masked. `MaskedOptimizer`
therefore keeps its own inner optimiser (its own state) per mask, zeroes the gradient
outside its mask, and after each step writes back the old values outside its mask, so no
optimiser can ever touch the other mask's weights, whatever it does internally.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

MaskSet = dict[str, torch.Tensor]  # parameter name → float {0, 1} tensor of its shape


def build_real_masks(model: nn.Module, epsilon: float, seed: int = 0) -> MaskSet:
    """mask1 (real data) for every parameter of `model`; mask2 is `complement(mask1)`."""
    generator = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())
    masks: MaskSet = {}
    filter_mask: torch.Tensor | None = None  # the last Conv1d's per-filter mask, for its BN
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, nn.Conv1d):
            score = module.weight.detach().abs().flatten(1).sum(dim=1)
            filter_mask = _above_quantile(score, epsilon, generator)
            masks[prefix + "weight"] = _expand(filter_mask, module.weight)
            if module.bias is not None:
                masks[prefix + "bias"] = filter_mask.clone()
        elif isinstance(module, nn.BatchNorm1d):
            if filter_mask is None or filter_mask.numel() != module.num_features:
                raise ValueError(f"{name}: BatchNorm1d must follow a Conv1d of equal width")
            masks[prefix + "weight"] = filter_mask.clone()
            masks[prefix + "bias"] = filter_mask.clone()
        elif isinstance(module, nn.Linear):
            for key in ("weight", "bias"):
                tensor = getattr(module, key)
                if tensor is not None:
                    score = tensor.detach().abs().flatten()
                    flat = _above_quantile(score, epsilon, generator)
                    masks[prefix + key] = flat.view_as(tensor)
    missing = sorted(set(params) - set(masks))
    if missing:
        raise ValueError(f"no mask rule for parameter(s) {missing}")
    return {k: v.to(params[k].device) for k, v in masks.items()}


def complement(masks: MaskSet) -> MaskSet:
    """mask2 = 1 − mask1."""
    return {name: 1.0 - mask for name, mask in masks.items()}


def mask_share(masks: MaskSet) -> float:
    """Fraction of all parameter entries a mask set holds."""
    total = sum(m.numel() for m in masks.values())
    return float(sum(m.sum().item() for m in masks.values()) / max(total, 1))


def _above_quantile(
    score: torch.Tensor, epsilon: float, generator: torch.Generator
) -> torch.Tensor:
    """1 where score ranks above the ε-quantile (rank-based, so ties cannot skew the share)."""
    n = score.numel()
    jitter = torch.rand(n, generator=generator, dtype=torch.float64) * 1e-9
    order = torch.argsort(score.double().cpu() + jitter * (score.abs().max().item() + 1.0))
    n_low = round(epsilon * n)
    mask = torch.ones(n, dtype=torch.float32)
    mask[order[:n_low]] = 0.0
    return mask


def _expand(filter_mask: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return filter_mask.view(-1, *([1] * (weight.dim() - 1))).expand_as(weight).clone()


class MaskedOptimizer:
    """An optimiser that can only change the entries of its mask (see module docstring)."""

    def __init__(
        self,
        model: nn.Module,
        masks: MaskSet,
        make_optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer],
    ) -> None:
        self.named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.masks = {n: masks[n].to(p.device, p.dtype) for n, p in self.named}
        self.inner = make_optimizer([p for _, p in self.named])

    def zero_grad(self) -> None:
        self.inner.zero_grad(set_to_none=True)

    @torch.no_grad()
    def step(self) -> None:
        saved = []
        for name, param in self.named:
            mask = self.masks[name]
            if param.grad is not None:
                param.grad.mul_(mask)
            saved.append(param.detach().clone())
        self.inner.step()
        for (name, param), old in zip(self.named, saved, strict=True):
            keep = self.masks[name]
            param.copy_(param * keep + old * (1.0 - keep))

    def state_dict(self) -> dict:
        return self.inner.state_dict()


@contextmanager
def frozen_batchnorm_statistics(model: nn.Module) -> Iterator[None]:
    """Train-mode BatchNorm that normalises by batch statistics but keeps running stats.

    Used for synthetic passes: the running mean/var must describe real curves (module
    docstring). Implemented by saving and restoring the buffers, which works on any device.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [
        (m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
        for m in norms
        if m.running_mean is not None
    ]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, (mean, var, count) in zip(norms, saved, strict=True):
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)
