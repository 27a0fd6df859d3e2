"""Figures people look at: training curves, confusion matrices, reliability diagrams (PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training_curves(history: list[dict[str, Any]], path: str | Path,
                         best_epoch: int | None = None, title: str = "") -> Path:
    """Losses (left) and F1 (right) per epoch; synthetic batches marked as ticks."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]

    def series(key: str) -> list[float]:
        return [np.nan if h.get(key) is None else h[key] for h in history]

    fig, (ax_loss, ax_f1) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot(epochs, series("loss_real"), label="train (real, mask1)")
    if any(h.get("loss_synthetic") is not None for h in history):
        ax_loss.plot(epochs, series("loss_synthetic"), label="train (synthetic, mask2)")
    ax_loss.plot(epochs, series("val_loss"), label="validation")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_f1.plot(epochs, series("f1_val"), label="F1 validation")
    if any(h.get("f1_synthetic") is not None for h in history):
        ax_f1.plot(epochs, series("f1_synthetic"), label="F1 synthetic batch")
    for h in history:
        if h.get("new_synthetic_batch"):
            ax_f1.axvline(h["epoch"], color="grey", alpha=0.25, lw=1)
    ax_f1.set_ylim(0, 1.02)
    ax_f1.set_xlabel("epoch (grey: new synthetic batch)")
    ax_f1.set_ylabel("macro F1")
    for ax in (ax_loss, ax_f1):
        if best_epoch:
            ax.axvline(best_epoch, color="k", ls="--", lw=1, label="kept weights")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_confusion(matrix: np.ndarray, classes: list[str], path: str | Path,
                   title: str = "") -> Path:
    """Row-normalised confusion matrix with counts in each cell."""
    plt = _pyplot()
    matrix = np.asarray(matrix, dtype=float)
    rows = matrix.sum(axis=1, keepdims=True)
    rates = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    fig, ax = plt.subplots(figsize=(1.1 * len(classes) + 2.5, 1.0 * len(classes) + 2))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{rates[i, j]:.2f}\n({int(matrix[i, j])})", ha="center",
                    va="center", fontsize=8, color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, label="fraction of true class")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_reliability(bins: dict[str, list[float]], path: str | Path, title: str = "") -> Path:
    """Accuracy against top-class confidence per equal-width bin, with the bins' counts."""
    plt = _pyplot()
    count = np.asarray(bins["count"], float)
    confidence = np.asarray(bins["confidence"], float)
    accuracy = np.asarray(bins["accuracy"], float)
    edges = np.linspace(0, 1, count.size + 1)
    centres = 0.5 * (edges[:-1] + edges[1:])
    fig, (ax, ax_count) = plt.subplots(2, 1, figsize=(5, 6), sharex=True,
                                       gridspec_kw={"height_ratios": [3, 1]})
    filled = count > 0
    ax.bar(centres[filled], accuracy[filled], width=1 / count.size, edgecolor="black",
           alpha=0.7, label="accuracy")
    ax.plot(confidence[filled], accuracy[filled], "o", color="C3", ms=3,
            label="mean confidence")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    ax_count.bar(centres, count, width=1 / count.size, color="grey")
    ax_count.set_xlabel("top-class probability")
    ax_count.set_ylabel("curves")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
