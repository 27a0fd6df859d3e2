"""PELS-VAE: a conditional VAE with temporal-convolution encoder and decoder.

After Martínez-Palomera et al. (2022): the encoder reads a folded, normalised light curve
(phase, mag, err), the class (one-hot) and the six physical parameters (standardised model
space), each repeated along the sequence; a stack of dilated causal convolutions ends in
μ and log σ² of a small latent z. The decoder reads z (repeated), the class and a phase
encoding at the phases to reconstruct, and returns normalised magnitudes there, so it can be
queried on any phase grid. Shapes are written (B, C, L): batch, channels, sequence.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

N_PHYSICAL = 6
#: Channels of the decoder's phase encoding: φ/cycles, sin 2πφ, cos 2πφ, sin 4πφ, cos 4πφ.
PHASE_CHANNELS = 5


class CausalConv1d(nn.Conv1d):
    """Conv1d that only looks back: left padding of (k - 1)·dilation, no right padding."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, dilation: int) -> None:
        super().__init__(in_ch, out_ch, kernel_size, dilation=dilation)
        self.left = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left, 0)))


class TemporalBlock(nn.Module):
    """Two causal convolutions with ReLU and dropout, plus a residual path (Bai et al. 2018)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            CausalConv1d(in_ch, out_ch, kernel_size, dilation),
            nn.ReLU(),
            nn.Dropout(dropout),
            CausalConv1d(out_ch, out_ch, kernel_size, dilation),
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.skip = nn.Conv1d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.net(x) + self.skip(x))


def temporal_network(
    in_ch: int, hidden: int, levels: int, kernel_size: int, dropout: float
) -> nn.Sequential:
    """`levels` blocks with dilations 1, 2, 4, ...: receptive field 1 + 2(k-1)(2^levels - 1)."""
    blocks = [
        TemporalBlock(in_ch if i == 0 else hidden, hidden, kernel_size, 2**i, dropout)
        for i in range(levels)
    ]
    return nn.Sequential(*blocks)


def phase_features(phase: torch.Tensor, cycles: int) -> torch.Tensor:
    """(B, L) phases counting cycles -> (B, PHASE_CHANNELS, L) periodic encoding."""
    angle = 2 * math.pi * phase
    return torch.stack(
        [
            phase / cycles,
            torch.sin(angle),
            torch.cos(angle),
            torch.sin(2 * angle),
            torch.cos(2 * angle),
        ],
        dim=1,
    )


class PelsVAE(nn.Module):
    """Conditional TCN-VAE over folded light curves."""

    def __init__(
        self,
        n_classes: int,
        latent_dim: int = 4,
        hidden: int = 32,
        levels: int = 5,
        kernel_size: int = 3,
        dropout: float = 0.0,
        cycles: int = 2,
    ) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.latent_dim = latent_dim
        self.cycles = cycles
        condition = n_classes + N_PHYSICAL
        self.encoder = temporal_network(3 + condition, hidden, levels, kernel_size, dropout)
        self.to_moments = nn.Linear(2 * hidden + condition, 2 * latent_dim)
        self.decoder = temporal_network(
            PHASE_CHANNELS + latent_dim + n_classes, hidden, levels, kernel_size, dropout
        )
        self.to_mag = nn.Conv1d(hidden, 1, 1)

    def encode(
        self, x: torch.Tensor, onehot: torch.Tensor, physical: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 3, L), onehot (B, C), physical (B, 6) -> μ, log σ² (B, latent_dim)."""
        condition = torch.cat([onehot, physical], dim=1)  # (B, C + 6)
        repeated = condition[:, :, None].expand(-1, -1, x.shape[-1])
        h = self.encoder(torch.cat([x, repeated], dim=1))  # (B, hidden, L)
        summary = torch.cat([h[:, :, -1], h.mean(dim=-1), condition], dim=1)
        mu, logvar = self.to_moments(summary).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decode(self, z: torch.Tensor, onehot: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        """z (B, latent), onehot (B, C), phase (B, L) -> normalised magnitudes (B, L)."""
        length = phase.shape[-1]
        inputs = torch.cat(
            [
                phase_features(phase, self.cycles),
                z[:, :, None].expand(-1, -1, length),
                onehot[:, :, None].expand(-1, -1, length),
            ],
            dim=1,
        )
        return self.to_mag(self.decoder(inputs))[:, 0]

    def forward(
        self, x: torch.Tensor, onehot: torch.Tensor, physical: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction (B, L) at the input phases, μ and log σ²."""
        mu, logvar = self.encode(x, onehot, physical)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z, onehot, x[:, 0]), mu, logvar


def vae_loss(
    recon: torch.Tensor, target: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MSE (mean per point) + β·KL(q(z|x) || N(0, I)) (summed over z, mean over the batch)."""
    mse = F.mse_loss(recon, target)
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
    return mse + beta * kl, mse, kl
