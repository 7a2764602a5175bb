"""Figures for evaluation and training (matplotlib, Agg canvas, no pyplot state): a confusion-matrix heatmap
and training curves. Every figure is written atomically (temporary file in the target folder, then
``os.replace``) so a reader never sees half a PNG; each function returns the path it wrote.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from scratch.serialization import atomic_write


def new_figure(figsize: tuple[float, float], dpi: int = 100) -> Figure:
    """A matplotlib Figure on an Agg canvas (works headless, touches no global pyplot state)."""
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, out_path: str | os.PathLike) -> Path:
    """Write ``fig`` as PNG to ``out_path`` atomically (parents created); return the path.

    The PNG is ``figsize · dpi`` pixels (no tight bounding box, so the size is predictable).
    """
    out = Path(out_path)
    with atomic_write(out) as fh:
        fig.savefig(fh, format="png", dpi=fig.dpi)
    return out


def plot_confusion_matrix(cm: np.ndarray, class_names: Sequence[str] | None, out_path: str | os.PathLike,
                          normalize: bool = False, title: str = "Confusion matrix",
                          figsize: tuple[float, float] | None = None, dpi: int = 100,
                          cmap: str = "Blues") -> Path:
    """Heatmap of a confusion matrix (rows: true class, columns: predicted class) with class names.

    Shapes:    cm (K, K) counts, e.g. from :func:`scratch.metrics.confusion_matrix`; class_names K names
               (None: 0..K-1)
    normalize: show each row divided by its sum (recall on the diagonal; empty rows stay 0)
    Cells are annotated with their counts (or fractions) when K <= 30; the colour bar is labelled with
    what the colours count.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"plot_confusion_matrix: expected a non-empty square (K, K) matrix, "
                         f"got shape {cm.shape}")
    k = cm.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    if len(names) != k:
        raise ValueError(f"plot_confusion_matrix: {len(names)} class names for a {k}x{k} matrix")
    values = cm.astype(np.float64)
    if normalize:
        rows = values.sum(axis=1, keepdims=True)
        values = np.divide(values, rows, out=np.zeros_like(values), where=rows != 0)
    if figsize is None:
        side = max(4.0, 0.45 * k + 2.5)
        figsize = (side + 1.0, side)
    fig = new_figure(figsize, dpi)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(values, interpolation="nearest", cmap=cmap, vmin=0.0,
                      vmax=1.0 if normalize else max(1.0, float(values.max())))
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("share of the true class (row-normalised)" if normalize else "number of images")
    ax.set(xticks=np.arange(k), yticks=np.arange(k), xlabel="Predicted label", ylabel="True label",
           title=title)
    ax.set_xticklabels(names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticklabels(names)
    if k <= 30:
        threshold = (1.0 if normalize else max(1.0, float(values.max()))) / 2.0
        for i in range(k):
            for j in range(k):
                text = f"{values[i, j]:.2f}" if normalize else f"{cm[i, j]:g}"
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if values[i, j] > threshold else "black")
    fig.tight_layout()
    return save_figure(fig, out_path)


_SPLITS = {"train_": "train", "val_": "validation", "valid_": "validation", "test_": "test"}
# metric -> (panel title, y-axis label, factor applied to the values)
_PANELS = {"loss": ("Loss", "cross-entropy loss (nats)", 1.0), "acc": ("Accuracy", "accuracy (%)", 100.0),
           "lr": ("Learning rate", "learning rate (log scale)", 1.0),
           "epoch_time": ("Time per epoch", "seconds", 1.0)}
WARMUP_FACTOR = 1.5  # epoch 1 is kept out of the time panel when it took this much longer than the median


def _split(key: str) -> tuple[str, str]:
    """(metric, split label): ``val_acc`` -> ("acc", "validation"); keys without a prefix: (key, key)."""
    for prefix, label in _SPLITS.items():
        if key.startswith(prefix):
            return key[len(prefix):], label
    return key, {"lr": "learning rate", "epoch_time": "train + validation"}.get(key, key.replace("_", " "))


def _values(vals: Sequence) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in vals], dtype=np.float64)


def plot_history(history: Mapping[str, Sequence[float]], out_path: str | os.PathLike,
                 title: str | None = None, dpi: int = 100) -> Path:
    """Training curves: one panel per metric, train and validation curves together, per epoch.

    ``history`` maps names to per-epoch lists, e.g. {"train_loss": [...], "val_loss": [...],
    "train_acc": [...], "val_acc": [...], "lr": [...], "epoch_time": [...]}. Keys sharing a metric after
    the train_/val_/test_ prefix share a panel (loss first, then accuracy in %, others, learning rate on a
    log axis, time per epoch last); a scalar ``test_loss`` / ``test_acc`` is drawn as a dashed line in its
    panel. Every axis is labelled with its unit. When epoch 1 took more than ``WARMUP_FACTOR`` times the
    median of the others (Numba compiling, torch warming up), the time panel shows epochs 2.. and names
    epoch 1's time in a note instead. An "epoch" list, when present, is the x axis (else 1..E); None
    entries are gaps. ``title``: the figure's title (the CLI names engine, model, dataset, test accuracy).
    """
    series = {k: _values(vals) for k, vals in history.items()
              if k != "epoch" and isinstance(vals, Sequence) and not isinstance(vals, str) and len(vals) > 0}
    if not series:
        raise ValueError("plot_history: history has no per-epoch lists to plot "
                         f"(keys: {sorted(history)})")
    panels: dict[str, list[str]] = {}
    for key in series:
        panels.setdefault(_split(key)[0], []).append(key)

    def order(metric: str) -> tuple[int, str]:
        rank = (0 if "loss" in metric else 1 if "acc" in metric else 4 if metric == "epoch_time"
                else 3 if metric == "lr" else 2)
        return rank, metric

    names = sorted(panels, key=order)
    fig = new_figure((4.2 * len(names), 3.6), dpi)
    epochs = history.get("epoch")
    for p, metric in enumerate(names):
        ax = fig.add_subplot(1, len(names), p + 1)
        panel_title, ylabel, factor = _PANELS.get(metric, (metric.replace("_", " "), metric.replace("_", " "), 1.0))
        for key in panels[metric]:
            y = series[key] * factor
            x = np.asarray(epochs, dtype=np.float64) if epochs is not None and len(epochs) == len(y) \
                else np.arange(1, len(y) + 1, dtype=np.float64)
            if metric == "epoch_time" and len(y) >= 2 and y[0] > WARMUP_FACTOR * np.nanmedian(y[1:]):
                ax.text(0.02, 0.97, f"epoch {x[0]:g}: {y[0]:.1f} s (incl. compile/warm-up), not shown",
                        transform=ax.transAxes, va="top", fontsize=7)
                x, y = x[1:], y[1:]
            ax.plot(x, y, marker="o", markersize=3, label=_split(key)[1])
        for split in ("test",):
            scalar = history.get(f"{split}_{metric}")
            if isinstance(scalar, (int, float)) and math.isfinite(scalar):
                ax.axhline(scalar * factor, linestyle="--", color="gray", linewidth=1,
                           label=f"{split} ({scalar * factor:.4g})")
        if metric == "epoch_time":
            ax.set_ylim(bottom=0)
        if metric == "lr" and np.all(series[panels[metric][0]][np.isfinite(series[panels[metric][0]])] > 0):
            ax.set_yscale("log")
        ax.set(xlabel="epoch", ylabel=ylabel, title=panel_title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, out_path)
