"""The self-regulated training loop (paper §3.3) and the one-loss baseline, in one function.

One epoch of `two-losses`:
1. trigger? — no synthetic batch yet, or E epochs since the last one, or the classifier's
   accuracy on the current synthetic batch exceeds φ (it has learnt it: time for new data);
2. if triggered: confusion matrix of the current model on the validation split → policy →
   per-class counts → the generator draws a batch at tempering b(epoch);
3. `repetitions` passes over the synthetic batch updating mask2 only (loss_synthetic,
   learning rate ν·lr, BatchNorm running statistics frozen);
4. one pass over the (window-augmented) real training data updating mask1 only (loss_real);
5. validation: loss, macro F1; the synthetic batch's F1 and accuracy;
6. model selection keeps a deep copy of the best weights by F1_val, by
   F1_weighted,α = (1 − α)·F1_val + α·F1_synthetic, or by validation loss; early stopping
   ends training when the validation loss has not improved for `patience` epochs.

`one-loss` is the same function with steps 1–3 skipped and a plain optimiser over all
weights: same model, data, splits, augmentation and seeds.
"""

from __future__ import annotations

import copy
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from broker_plugin.features import FeatureSettings
from training.classifier.augment import augment_features, epoch_view
from training.classifier.data import LabelledFeatures, SyntheticSource, random_windows
from training.classifier.losses import class_weights, make_loss
from training.classifier.masks import (
    MaskedOptimizer,
    build_real_masks,
    complement,
    frozen_batchnorm_statistics,
)
from training.classifier.metrics import confusion, macro_f1
from training.classifier.model import VariableStarCNN
from training.classifier.policies import synthetic_counts
from training.config import TrainingConfig
from training.generator.tempering import tempered_b


@dataclass
class TrainResult:
    """The trained model (best weights loaded) and what happened on the way."""

    model: VariableStarCNN
    classes: list[str]
    history: list[dict[str, Any]]
    best_epoch: int
    best_score: float
    device: str
    synthetic_batches: int = 0
    synthetic_seconds: float = 0.0
    stopped_early: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.mean([h["seconds"] for h in self.history])) if self.history else 0.0


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def build_model(config: TrainingConfig, n_classes: int, length: int) -> VariableStarCNN:
    return VariableStarCNN(n_classes, length=length, n_blocks=config.n_blocks,
                           filters=config.filters, kernel_size=config.kernel_size,
                           fc_units=config.fc_units, summary=config.summary_features,
                           branch_dropout=config.branch_dropout)


def train_classifier(
    train: LabelledFeatures,
    val: LabelledFeatures,
    config: TrainingConfig,
    source: SyntheticSource | None = None,
    progress: bool = True,
    settings: FeatureSettings | None = None,
) -> TrainResult:
    """Train one classifier (module docstring); `source` is required for two-losses.

    `settings` featurise augmented synthetic batches (`augment_synthetic`).
    """
    two_losses = config.mode == "two-losses"
    if two_losses and source is None:
        raise ValueError("two-losses training needs a synthetic source (a fitted generator)")
    seed_everything(config.seed)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = pick_device(config.device)
    amp = config.mixed_precision and device.type == "cuda"
    rng = np.random.default_rng(config.seed)
    classes, n_classes = list(train.classes), len(train.classes)

    model = build_model(config, n_classes, train.x.shape[-1])
    model.scaling.fit(train.x, train.lengths)
    if model.summary_scaling is not None:
        from training.classifier.summary import summary_statistics

        model.summary_scaling.fit(summary_statistics(train.x))
    model.to(device)
    weights = class_weights(train.y, n_classes)
    loss_real = make_loss(config.loss_real, weights, config.focal_gamma).to(device)
    loss_synth = make_loss(config.loss_synthetic, weights, config.focal_gamma).to(device)
    plain_ce = nn.CrossEntropyLoss()

    def adam(lr: float):
        return lambda params: torch.optim.Adam(params, lr=lr, weight_decay=config.weight_decay)

    if two_losses:
        real_mask = build_real_masks(model, config.epsilon, seed=config.seed)
        opt_real = MaskedOptimizer(model, real_mask, adam(config.learning_rate))
        opt_synth = MaskedOptimizer(model, complement(real_mask),
                                    adam(config.learning_rate * config.nu))
    else:
        opt_real = adam(config.learning_rate)(list(model.parameters()))

    history: list[dict[str, Any]] = []
    best_state, best_score, best_epoch = None, -math.inf, -1
    recent_states: deque[dict[str, torch.Tensor]] = deque(maxlen=max(config.weight_averaging, 1))
    best_val_loss, waited, stopped_early = math.inf, 0, False
    synth_x = synth_y = None
    last_batch_epoch, synth_accuracy, n_batches, synth_seconds = -1, 0.0, 0, 0.0
    val_x = torch.as_tensor(val.x, device=device)
    val_y = torch.as_tensor(val.y, device=device)

    bar = _progress(progress)
    task = bar.add_task(f"train {config.mode}", total=config.epochs) if bar else None
    try:
        for epoch in range(config.epochs):
            started = time.perf_counter()
            record: dict[str, Any] = {"epoch": epoch + 1, "new_synthetic_batch": False}
            if two_losses:
                due = synth_x is None or epoch - last_batch_epoch >= config.synthetic_every
                if due or synth_accuracy > config.synthetic_accuracy_trigger:
                    t0 = time.perf_counter()
                    val_pred = _predict(model, val_x, config.batch_size, amp).argmax(1)
                    cm = confusion(val.y, val_pred.cpu().numpy(), n_classes)
                    counts = synthetic_counts(config.policy, cm, config.synthetic_per_batch,
                                              classes)
                    b = tempered_b(epoch, config.b_final, config.b_decay)
                    xs, ys = source(counts, b, config.seed * 100_003 + epoch)  # type: ignore[misc]
                    if config.augment_synthetic:
                        xs = augment_features(np.asarray(xs, np.float32), config,
                                              settings or config.feature_settings(), rng)
                    synth_x = torch.as_tensor(np.asarray(xs, np.float32), device=device)
                    synth_y = torch.as_tensor(np.asarray(ys, np.int64), device=device)
                    last_batch_epoch, n_batches = epoch, n_batches + 1
                    synth_seconds += time.perf_counter() - t0
                    record.update(new_synthetic_batch=True, b=b, counts=counts)
                if synth_x is not None and len(synth_x):
                    with frozen_batchnorm_statistics(model):
                        losses = [_pass(model, synth_x, synth_y, loss_synth, opt_synth,
                                        config.batch_size, rng, amp)
                                  for _ in range(config.repetitions)]
                    record["loss_synthetic"] = float(np.mean(losses))

            epoch_x, epoch_lengths = epoch_view(train, rng)
            augmented = random_windows(epoch_x, epoch_lengths, rng,
                                       config.window_probability, config.window_min_length,
                                       config.window_widths)
            record["loss_real"] = _pass(
                model, torch.as_tensor(augmented, device=device),
                torch.as_tensor(train.y, device=device), loss_real, opt_real,
                config.batch_size, rng, amp,
            )

            val_logits = _predict(model, val_x, config.batch_size, amp)
            record["val_loss"] = float(plain_ce(val_logits, val_y))
            record["f1_val"] = macro_f1(val.y, val_logits.argmax(1).cpu().numpy(), n_classes)
            record["f1_synthetic"] = None
            if synth_x is not None and len(synth_x):
                synth_pred = _predict(model, synth_x, config.batch_size, amp).argmax(1)
                synth_accuracy = float((synth_pred == synth_y).float().mean())
                record["accuracy_synthetic"] = synth_accuracy
                record["f1_synthetic"] = macro_f1(synth_y.cpu().numpy(),
                                                  synth_pred.cpu().numpy(), n_classes)
            score = _selection_score(config, record)
            record["selection_score"] = score
            if score > best_score:
                best_score, best_epoch = score, epoch + 1
                best_state = copy.deepcopy(model.state_dict())
            if config.weight_averaging:
                recent_states.append(copy.deepcopy(model.state_dict()))
            record["seconds"] = time.perf_counter() - started
            history.append(record)
            if bar is not None:
                bar.update(task, advance=1, description=(
                    f"train {config.mode} · val loss {record['val_loss']:.3f} · "
                    f"F1 {record['f1_val']:.3f}"))
            if record["val_loss"] < best_val_loss - 1e-4:
                best_val_loss, waited = record["val_loss"], 0
            else:
                waited += 1
                if waited >= config.patience:
                    stopped_early = True
                    break
    finally:
        if bar is not None:
            bar.stop()
    if config.weight_averaging and recent_states:
        model.load_state_dict(averaged_state(list(recent_states)))
        refresh_batchnorm(model, torch.as_tensor(train.x, device=device), config.batch_size)
        best_epoch = len(history)  # the weights served are the mean of epochs up to here
        best_score = macro_f1(val.y, _predict(model, val_x, config.batch_size, amp)
                              .argmax(1).cpu().numpy(), n_classes)
    elif best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    averaged = {"averaged_epochs": len(recent_states)} if config.weight_averaging else {}
    return TrainResult(model, classes, history, best_epoch, best_score, str(device),
                       n_batches, synth_seconds, stopped_early, extra=averaged)


def averaged_state(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of floating-point entries; other entries (counters) of the last.

    Weight averaging over the last epochs (stochastic weight averaging, Izmailov et al. 2018)
    lands in a flatter region of the loss than any single epoch, which is what carries a
    model to data unlike its training data (Cha et al. 2021, SWAD).
    """
    out = {}
    for key, last in states[-1].items():
        out[key] = (torch.stack([s[key] for s in states]).mean(dim=0)
                    if last.is_floating_point() else last.clone())
    return out


@torch.no_grad()
def refresh_batchnorm(model: nn.Module, x: torch.Tensor, batch_size: int) -> None:
    """Re-estimate BatchNorm statistics for averaged weights: one pass over `x`, cumulative."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or len(x) == 0:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the pass
    model.train()
    for start in range(0, len(x), max(batch_size, 256)):
        model(x[start:start + max(batch_size, 256)])
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    model.eval()


def _selection_score(config: TrainingConfig, record: dict[str, Any]) -> float:
    if config.selection == "val_loss":
        return -record["val_loss"]
    if config.selection == "f1_weighted" and record["f1_synthetic"] is not None:
        alpha = config.selection_alpha
        return (1 - alpha) * record["f1_val"] + alpha * record["f1_synthetic"]
    return record["f1_val"]


def _pass(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: nn.Module,
    optimizer: MaskedOptimizer | torch.optim.Optimizer,
    batch_size: int,
    rng: np.random.Generator,
    amp: bool,
) -> float:
    """One shuffled pass over (x, y); returns the mean batch loss."""
    model.train()
    order = torch.as_tensor(rng.permutation(len(x)), device=x.device)
    losses = []
    for start in range(0, len(x), batch_size):
        index = order[start : start + batch_size]
        if index.numel() < 2:  # BatchNorm needs two samples in train mode
            continue
        optimizer.zero_grad()
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(model(x[index]), y[index])
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return float(np.mean(losses)) if losses else float("nan")


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor, batch_size: int, amp: bool) -> torch.Tensor:
    """Float32 logits in eval mode, batched."""
    model.eval()
    chunks = []
    for start in range(0, len(x), max(batch_size, 512)):
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
            chunks.append(model(x[start : start + max(batch_size, 512)]).float())
    if not chunks:
        return torch.zeros((0, model.head[-1].out_features), device=x.device)
    return torch.cat(chunks)


def predict_probabilities(model: nn.Module, x: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Softmax probabilities of a trained model (torch side, used for parity and reports)."""
    tensor = torch.as_tensor(np.asarray(x, np.float32), device=device)
    return torch.softmax(_predict(model.to(device), tensor, 512, False), -1).cpu().numpy()


def _progress(enabled: bool):
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    bar = Progress("[progress.description]{task.description}", BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), transient=False)
    bar.start()
    return bar
