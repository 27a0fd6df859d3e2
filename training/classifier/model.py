"""`VariableStarCNN`: the 1D CNN of Pérez-Galarce et al. (2025, §3.1) over (Δt, Δm) sequences.

Input (N, 2, L) float32, channel 0 Δt in days, channel 1 Δm in mag, zero-padded at the end
(broker_plugin.features). Output: logits (N, n_classes); the exported ONNX graph adds the
softmax and, for an ensemble, averages the members' probabilities (see export.py).

Input normalisation lives INSIDE the model, so the ONNX file needs nothing else to serve:
Δt → log1p(Δt) (cadences span minutes to 100 days; the log evens them out), then each
channel is divided by a fixed scale (`InputScaling`, buffers fitted once on the training
set's valid positions and saved with the weights). No shift is applied, so zero padding
stays exactly zero and the network can still tell padding from data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from broker_plugin.errors import UserError
from training.classifier.summary import (
    SequenceSummary,
    SummaryScaling,
    pair_counts,
)

SUMMARY_UNITS = 64


class InputScaling(nn.Module):
    """log1p on Δt, then a fixed per-channel divisor (buffers, part of the exported graph)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.ones(2))

    def fit(self, x: np.ndarray, lengths: np.ndarray) -> None:
        """Set the divisors to the RMS of each channel over non-padded positions."""
        valid = np.arange(x.shape[-1])[None, :] < np.asarray(lengths)[:, None]
        dt = np.log1p(np.clip(x[:, 0][valid], 0.0, None))
        dm = x[:, 1][valid]
        scale = [float(np.sqrt(np.mean(dt**2))) if dt.size else 1.0,
                 float(np.sqrt(np.mean(dm**2))) if dm.size else 1.0]
        self.scale.copy_(torch.tensor([s if s > 0 else 1.0 for s in scale]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dt = torch.log1p(torch.clamp(x[:, 0:1], min=0.0))
        return torch.cat([dt, x[:, 1:2]], dim=1) / self.scale.view(1, 2, 1)


class ModelShapeError(UserError, ValueError):
    """A sequence too short for the configured convolution blocks."""


def max_blocks(length: int, kernel_size: int) -> int:
    """How many conv (valid) + max-pool(2) blocks a sequence of `length` steps goes through."""
    blocks, size = 0, length
    while (size - kernel_size + 1) // 2 >= 1:
        size = (size - kernel_size + 1) // 2
        blocks += 1
    return blocks


class VariableStarCNN(nn.Module):
    """Conv blocks (Conv1d k=6 → BN → ReLU → MaxPool 2), two towers, FC 200, FC n_classes.

    Filters start at `filters` (16) and double per block; every convolution has groups=2,
    so the Δt and Δm channels stay in separate towers (as in the authors' code) until the
    fully connected layers mix them.
    """

    def __init__(
        self,
        n_classes: int,
        length: int = 300,
        n_blocks: int = 4,
        filters: int = 16,
        kernel_size: int = 6,
        fc_units: int = 200,
        summary: bool = False,
        branch_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        # With summary statistics: the share of training rows whose convolutional features
        # are dropped whole (scaled up on the others), so the head learns to classify from
        # the statistics alone too, which move better across surveys. Inactive in eval mode,
        # hence absent from the exported graph.
        self.branch_dropout = branch_dropout if summary else 0.0
        self.scaling = InputScaling()
        blocks: list[nn.Module] = []
        in_channels, size = 2, length
        for index in range(n_blocks):
            out_channels = filters * 2**index
            blocks += [
                nn.Conv1d(in_channels, out_channels, kernel_size, stride=1, groups=2),
                nn.BatchNorm1d(out_channels),
                nn.ReLU(),
                nn.MaxPool1d(2),
            ]
            in_channels = out_channels
            size = (size - kernel_size + 1) // 2
            if size < 1:
                raise ModelShapeError(
                    f"sequence length {length} is too short for {n_blocks} blocks of kernel "
                    f"{kernel_size}; use fewer blocks or longer sequences"
                )
        self.features = nn.Sequential(*blocks)
        #: Output positions of the blocks, and what each sees of the input: position p reads
        #: input steps [stride·p, stride·p + field). Serving's shortcut over padding uses them.
        self.positions = size
        self.stride = 2**n_blocks
        self.field = 1
        for _ in range(n_blocks):
            self.field = 2 * self.field + kernel_size - 1
        # Optional period-free statistics beside the sequence (summary.py), through a small
        # layer of their own before they meet the convolutional features.
        self.summary: SequenceSummary | None = None
        self.summary_scaling: SummaryScaling | None = None
        self.summary_net: nn.Module | None = None
        extra = 0
        if summary:
            self.summary = SequenceSummary()
            self.summary_scaling = SummaryScaling(SequenceSummary.n_features)
            self.summary_net = nn.Sequential(
                nn.Linear(SequenceSummary.n_features, SUMMARY_UNITS), nn.ReLU())
            extra = SUMMARY_UNITS
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * size + extra, fc_units),
            nn.ReLU(),
            nn.Linear(fc_units, n_classes),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform weights, zero biases (paper §3.1)."""
        for module in self.modules():
            if isinstance(module, nn.Conv1d | nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 2, L) raw (Δt, Δm) → (N, n_classes) logits."""
        learnt = self.convolutions(x)
        if self.training and self.branch_dropout > 0:
            keep = torch.rand(learnt.shape[0], 1, device=learnt.device) >= self.branch_dropout
            learnt = learnt * keep.to(learnt.dtype) / (1.0 - self.branch_dropout)
        if self.summary is not None:
            assert self.summary_scaling is not None and self.summary_net is not None
            stats = self.summary_net(self.summary_scaling(self.summary(x)))
            learnt = torch.cat([learnt, stats], dim=1)
        return self.head(learnt)

    def convolutions(self, x: torch.Tensor) -> torch.Tensor:
        """Flattened features of the conv blocks.

        In eval mode only the positions that see data are computed: an output position whose
        input field lies wholly in the zero padding has the same value for every row (bias,
        BN with running statistics, ReLU and max-pool of a constant), taken from an all-zero
        input that onnxruntime folds into a constant. Exact, and several times cheaper on
        serving's short per-band rows. Training keeps the full pass: batch-statistics BN
        sees the padding too.
        """
        scaled = self.scaling(x)
        if self.training:
            return self.features(scaled).flatten(1)
        longest = pair_counts(x).max()
        needed = torch.clamp(torch.div(longest + self.stride - 1, self.stride,
                                       rounding_mode="floor"), 1, self.positions)
        head = self.features(scaled[:, :, :self.stride * (needed - 1) + self.field])
        padding = self.features(torch.zeros_like(scaled[:1]))
        rest = padding[:, :, needed:].expand(x.shape[0], -1, -1)
        return torch.cat([head, rest], dim=2).flatten(1)


class ProbabilityModel(nn.Module):
    """The exported graph: trained `VariableStarCNN`s, softmax, probabilities averaged.

    One member is the plain model; several are a deep ensemble (members trained from
    different seeds on the same split), served as one ONNX file with one output.
    """

    def __init__(self, members: VariableStarCNN | Sequence[VariableStarCNN]) -> None:
        super().__init__()
        members = [members] if isinstance(members, VariableStarCNN) else list(members)
        if not members:
            raise ValueError("a probability model needs at least one trained member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probabilities = [torch.softmax(member(x), dim=-1) for member in self.members]
        if len(probabilities) == 1:
            return probabilities[0]
        return torch.stack(probabilities).mean(dim=0)
