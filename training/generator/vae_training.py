"""Fitting PELS-VAE: a short, linear loop with a held-out split and a trivial baseline.

The baseline predicts every held-out curve by the training set's mean folded curve (binned
in phase); a VAE that does not beat it clearly has learnt nothing about shapes. With
`early_stopping_patience` > 0 training stops once the held-out MSE stalls, and the weights of
the best epoch are the ones returned.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from training.generator.config import GeneratorConfig
from training.generator.vae import PelsVAE, vae_loss


@dataclass
class VaeFit:
    """The trained model and what we measured while training it."""

    model: PelsVAE
    train_index: np.ndarray
    val_index: np.ndarray
    history: list[dict[str, float]] = field(default_factory=list)
    val_mse: float = float("nan")
    baseline_mse: float = float("nan")
    best_epoch: int = -1


@contextmanager
def cpu_threads(n: int) -> Iterator[None]:
    """Run with `n` CPU threads for torch and for numpy/scikit-learn's BLAS (0: leave them
    as they are), then restore them. The VAE's tensors are small: on a shared 2-core machine
    two threads contend and run several times slower than one (measured), so the quick
    preset asks for one."""
    if n <= 0:
        yield
        return
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        torch.set_num_threads(previous)


def pick_device(device: str | None) -> torch.device:
    """`device` if given, else CUDA when present, else CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def split_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded shuffle split into (train, validation); at least one of each when n >= 2."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, round(fraction * n))) if n >= 2 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def mean_curve_mse(x: np.ndarray, train: np.ndarray, val: np.ndarray, n_phase: int) -> float:
    """MSE of predicting held-out magnitudes by the training curves' phase-binned mean."""
    def bins(rows: np.ndarray) -> np.ndarray:
        phase = np.mod(x[rows, 0], 1.0)
        return np.minimum((phase * n_phase).astype(np.int64), n_phase - 1)

    train_bins = bins(train).ravel()
    sums = np.bincount(train_bins, weights=x[train, 1].ravel(), minlength=n_phase)
    counts = np.bincount(train_bins, minlength=n_phase)
    mean = np.where(counts > 0, sums / np.maximum(counts, 1), x[train, 1].mean())
    return float(np.mean((x[val, 1] - mean[bins(val)]) ** 2))


def fit_vae(
    x: np.ndarray,
    classes: np.ndarray,
    physical: np.ndarray,
    n_classes: int,
    config: GeneratorConfig,
    device: torch.device,
    progress: bool = True,
) -> VaeFit:
    """Train on folded rows x (N, 3, L), class indices (N,), standardised parameters (N, 6)."""
    from rich.progress import Progress

    torch.manual_seed(config.seed)
    train, val = split_indices(x.shape[0], config.validation_fraction, config.seed)
    model = PelsVAE(
        n_classes, config.latent_dim, config.hidden, config.levels, config.kernel_size,
        config.dropout, config.cycles,
    ).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs)
    xt = torch.as_tensor(x, dtype=torch.float32, device=device)
    onehot = torch.nn.functional.one_hot(
        torch.as_tensor(classes, device=device), n_classes
    ).float()
    phys = torch.as_tensor(physical, dtype=torch.float32, device=device)
    generator = torch.Generator().manual_seed(config.seed)
    fit = VaeFit(model=model, train_index=train, val_index=val)
    fit.baseline_mse = mean_curve_mse(x, train, val, config.n_phase)
    best_state, best_val, stale = None, float("inf"), 0

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("PELS-VAE", total=config.epochs)
        for epoch in range(config.epochs):
            beta = config.beta_at(epoch)
            model.train()
            order = train[torch.randperm(train.size, generator=generator).numpy()]
            totals = np.zeros(3)
            for start in range(0, order.size, config.batch_size):
                rows = torch.as_tensor(order[start : start + config.batch_size], device=device)
                recon, mu, logvar = model(xt[rows], onehot[rows], phys[rows])
                loss, mse, kl = vae_loss(recon, xt[rows, 1], mu, logvar, beta)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                totals += np.array([loss.item(), mse.item(), kl.item()]) * rows.numel()
            scheduler.step()
            val_mse = evaluate_mse(model, xt, onehot, phys, val)
            record = dict(zip(("loss", "mse", "kl"), totals / max(1, order.size), strict=True))
            record.update(epoch=epoch, beta=beta, val_mse=val_mse)
            fit.history.append(record)
            bar.update(
                task, advance=1,
                description=f"PELS-VAE mse {record['mse']:.4f} val {val_mse:.4f} (β {beta:g})",
            )
            if not config.early_stopping_patience or not np.isfinite(val_mse):
                continue
            if val_mse < best_val:
                best_val, stale, fit.best_epoch = val_mse, 0, epoch
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
                if stale >= config.early_stopping_patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
        fit.val_mse = best_val
    else:
        fit.val_mse = fit.history[-1]["val_mse"] if fit.history else float("nan")
        fit.best_epoch = len(fit.history) - 1
    return fit


@torch.no_grad()
def evaluate_mse(
    model: PelsVAE, x: torch.Tensor, onehot: torch.Tensor, phys: torch.Tensor, rows: np.ndarray
) -> float:
    """Reconstruction MSE through μ (no sampling) on the given rows."""
    if rows.size == 0:
        return float("nan")
    model.eval()
    total = 0.0
    for start in range(0, rows.size, 512):
        index = torch.as_tensor(rows[start : start + 512], device=x.device)
        recon, _, _ = model(x[index], onehot[index], phys[index])
        total += float(torch.sum((recon - x[index, 1]) ** 2).item())
    return total / (rows.size * x.shape[-1])


@torch.no_grad()
def encode_mu(
    model: PelsVAE, x: np.ndarray, onehot: np.ndarray, phys: np.ndarray, device: torch.device,
    batch_size: int = 512,
) -> np.ndarray:
    """Encoder means μ (N, latent_dim) for all rows, batched."""
    model.eval()
    out = []
    for start in range(0, x.shape[0], batch_size):
        sl = slice(start, start + batch_size)
        mu, _ = model.encode(
            torch.as_tensor(x[sl], dtype=torch.float32, device=device),
            torch.as_tensor(onehot[sl], dtype=torch.float32, device=device),
            torch.as_tensor(phys[sl], dtype=torch.float32, device=device),
        )
        out.append(mu.cpu().numpy())
    return np.concatenate(out) if out else np.empty((0, model.latent_dim))
