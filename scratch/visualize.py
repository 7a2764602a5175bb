"""``scratchnet visualize RUN_DIR``: pictures of what a trained scratch model learned.

Reads a run folder written by ``scratchnet train`` (``model.npz``, the weights, or a torch run's ``model.pt``,
loaded into the same scratch model; ``history.json``, whose
``run`` entry names the model, dataset and dtype), loads the test split (``--data-dir``, else
``$SCRATCH_DATA_DIR``, else the per-user cache) and writes three PNGs into the run folder (or ``--out``):

* ``conv1_filters.png``: every filter of conv1 (one panel per output channel and input channel), on a
  diverging colour scale centred at 0 (shared by all panels, so their strengths compare), with a colour bar;
* ``feature_maps.png``: one test image through every layer: each layer's output channels as images
  (conv, activation, pooling), its activations as a strip (flatten, linear), titled by layer and shape;
* ``misclassified.png``: the test images misclassified with the highest confidence, each titled with its
  true and predicted class names and the predicted probability.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["load_run", "plot_filters", "plot_feature_maps", "plot_misclassified", "predict", "write_pictures", "main"]


def load_run(run_dir: str | Path) -> tuple[Any, dict]:
    """The trained model of a run folder (eval mode) and its ``history.json`` ``run`` entry."""
    from scratch.models import build_model
    from scratch.serialization import load

    run_dir = Path(run_dir)
    history = run_dir / "history.json"
    weights = next((run_dir / f for f in ("model.npz", "model.pt") if (run_dir / f).is_file()), None)
    if not history.is_file() or weights is None:
        raise FileNotFoundError(f"visualize: {run_dir} holds no finished run (`scratchnet train` writes "
                                f"history.json and model.npz, or model.pt for the torch engine)")
    run = json.loads(history.read_text()).get("run", {})
    dtype = np.dtype(run.get("dtype", "float32"))
    if weights.suffix == ".pt":  # a torch run: the same keys and layouts, so its weights load into ours
        import torch

        state = {k: v.numpy() for k, v in torch.load(weights, map_location="cpu", weights_only=True).items()}
    else:
        state = load(weights)
    n_classes = next((len(v) for k, v in reversed(state.items()) if k.endswith(".bias")), 10)
    model = build_model(run.get("model", "lenet5"), n_classes, dtype=dtype)
    model.load_state_dict(state)
    model.eval()
    return model, run


def _normalize(x: np.ndarray) -> np.ndarray:
    """The training transform: Normalize((0.5,), (0.5,)), [0, 1] -> [-1, 1]."""
    return (x - np.float32(0.5)) / np.float32(0.5)


def predict(model: Any, images: np.ndarray, dtype: np.dtype, batch: int = 512) -> np.ndarray:
    """Class probabilities (softmax of the logits) of ``images`` (N, 1, H, W in [0, 1])."""
    probs = []
    for i in range(0, len(images), batch):
        logits = np.asarray(model(_normalize(images[i:i + batch]).astype(dtype)), dtype=np.float64)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs.append(e / e.sum(axis=1, keepdims=True))
    return np.concatenate(probs)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_filters(model: Any, path: str | Path, title: str = "") -> Path:
    """conv1's filters as a grid (rows: output channels in blocks of 8, columns: input channels)."""
    plt = _plt()
    w = np.asarray(model.conv1.weight.data, dtype=np.float64)  # (C_out, C_in, kH, kW)
    c_out, c_in = w.shape[:2]
    per_row = min(c_out, 8) if c_in == 1 else 1
    rows, cols = (-(-c_out // per_row), per_row) if c_in == 1 else (c_out, c_in)
    lim = float(np.max(np.abs(w))) or 1.0
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols + 1.2, 1.7 * rows + 0.9), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for o in range(c_out):
        for c in range(c_in):
            ax = axes.flat[o] if c_in == 1 else axes[o, c]
            im = ax.imshow(w[o, c], cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
            ax.set_title(f"filter {o}" + (f", in {c}" if c_in > 1 else ""), fontsize=9)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="weight (red +, blue −)")
    fig.suptitle(title or f"conv1 filters {tuple(w.shape)} (kH×kW each)", fontsize=10)
    return _save(fig, path, tight=False)


def plot_feature_maps(model: Any, image: np.ndarray, label: str, path: str | Path, dtype: np.dtype,
                      max_channels: int = 8) -> Path:
    """One image through every layer of ``model``: a row per layer (at most ``max_channels`` maps)."""
    plt = _plt()
    x = _normalize(image[None]).astype(dtype)
    layers = [("input", x)]
    for name, module in model.named_children():
        x = module(x)
        layers.append((name, x))
    cols = max_channels + 1
    fig, axes = plt.subplots(len(layers), cols, figsize=(1.35 * cols + 1, 1.45 * len(layers) + 0.6),
                             squeeze=False, gridspec_kw={"width_ratios": [1] * max_channels + [0.12]})
    for ax in axes.flat:
        ax.axis("off")
    for r, (name, a) in enumerate(layers):
        a = np.asarray(a[0], dtype=np.float64)
        kind = type(module_of(model, name)).__name__ if name != "input" else "image"
        label_text = f"{name} ({kind})\n{tuple(a.shape)}"
        if a.ndim == 3:
            lim = float(np.max(np.abs(a))) or 1.0
            for c in range(min(max_channels, a.shape[0])):
                im = axes[r, c].imshow(a[c], cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
                axes[r, c].set_title(f"ch {c}", fontsize=7)
            if a.shape[0] > max_channels:
                axes[r, max_channels - 1].set_title(f"ch {max_channels - 1} (of {a.shape[0]})", fontsize=7)
        else:  # a vector: one strip across the row
            lim = float(np.max(np.abs(a))) or 1.0
            strip = fig.add_subplot(axes[r, 0].get_gridspec()[r, :max_channels])
            im = strip.imshow(a.reshape(1, -1), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto",
                              interpolation="nearest")
            strip.set_yticks([])
            strip.tick_params(labelsize=7)
            strip.set_title(f"{a.size} values", fontsize=7)
        axes[r, 0].text(-0.15, 0.5, label_text, transform=axes[r, 0].transAxes, ha="right", va="center",
                        fontsize=8)
        cax = axes[r, max_channels]
        cax.axis("on")
        fig.colorbar(im, cax=cax)
        cax.tick_params(labelsize=6)
    fig.suptitle(f"Feature maps of one test image (true class: {label}) through every layer", fontsize=10)
    fig.subplots_adjust(left=0.17, right=0.95, top=0.93, bottom=0.03, hspace=0.6, wspace=0.15)
    return _save(fig, path, tight=False)


def module_of(model: Any, name: str) -> Any:
    """The child module ``name`` of ``model``."""
    return dict(model.named_children())[name]


def plot_misclassified(images: np.ndarray, labels: np.ndarray, probs: np.ndarray, classes: list[str],
                       path: str | Path, count: int = 16) -> Path:
    """The ``count`` misclassified images with the most confident (wrong) predictions."""
    plt = _plt()
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != labels)
    order = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:count]
    cols = min(4, max(1, len(order)))
    rows = max(1, -(-len(order) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.9 * rows + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, order, strict=False):
        ax.imshow(images[i, 0], cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"true: {classes[labels[i]]}\npredicted: {classes[pred[i]]} ({100 * probs[i, pred[i]]:.0f}%)",
                     fontsize=8, color="firebrick")
    if not len(order):
        axes[0, 0].text(0.5, 0.5, "no misclassified test image", ha="center", va="center")
    fig.suptitle(f"The {len(order)} most confidently misclassified test images ({len(wrong)} of {len(labels)} "
                 f"wrong, {100 * (1 - len(wrong) / len(labels)):.2f}% accuracy)", fontsize=10)
    return _save(fig, path)


def _save(fig, path: str | Path, tight: bool = True) -> Path:
    plt = _plt()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    _write_png(fig, path)
    plt.close(fig)
    return path


def _write_png(fig, path: Path) -> None:
    """The figure as PNG, written atomically (temporary file, fsync, rename), as scratch.plots does."""
    from scratch.serialization import atomic_write

    with atomic_write(path) as fh:
        fig.savefig(fh, format="png", dpi=110)


def write_pictures(model: Any, run: dict, test: Any, out: str | Path, image: int = 0, count: int = 16,
                   limit_test: int | None = None) -> list[Path]:
    """conv1_filters.png (models with a conv1), feature_maps.png and misclassified.png into ``out``, for
    ``model`` (eval mode) and the test split ``test``; ``run`` is history.json's run entry."""
    n = len(test) if limit_test is None else min(limit_test, len(test))
    images, labels = test.get_batch(np.arange(n))
    classes = list(getattr(test, "classes", [])) or [str(i) for i in range(10)]
    dtype = np.dtype(run.get("dtype", "float32"))
    out = Path(out)
    written = []
    if hasattr(model, "conv1"):
        written.append(plot_filters(model, out / "conv1_filters.png",
                                    f"conv1 filters of {run.get('model', '?')} on {run.get('dataset', '?')}"))
    i = min(max(image, 0), n - 1)
    written.append(plot_feature_maps(model, images[i], classes[labels[i]], out / "feature_maps.png", dtype))
    probs = predict(model, images, dtype)
    written.append(plot_misclassified(images, labels, probs, classes, out / "misclassified.png", count))
    return written


def build_parser() -> argparse.ArgumentParser:
    """The ``scratchnet visualize`` parser."""
    p = argparse.ArgumentParser(prog="scratchnet visualize", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="Draw conv1's filters, one test image's feature maps through every "
                                            "layer and the most confidently misclassified test images of a run.")
    p.add_argument("run_dir", help="a folder written by `scratchnet train` (model.npz, history.json)")
    p.add_argument("--out", default=None, help="folder for the PNGs (None: RUN_DIR)")
    p.add_argument("--data-dir", default=None, help="the data folder (None: $SCRATCH_DATA_DIR, else the cache)")
    p.add_argument("--image", type=int, default=0, help="index of the test image for the feature maps")
    p.add_argument("--count", type=int, default=16, help="how many misclassified images to show")
    p.add_argument("--limit-test", type=int, default=None, help="use only the first N test images")
    return p


def main(argv: list[str] | None = None) -> int:
    """``scratchnet visualize``: write conv1_filters.png, feature_maps.png and misclassified.png."""
    from scratch.data import load_dataset

    args = build_parser().parse_args(argv)
    try:
        model, run = load_run(args.run_dir)
        test = load_dataset(run.get("dataset", "fashion-mnist"), root=args.data_dir, train=False, download=False)
    except (FileNotFoundError, ValueError) as e:
        print(f"scratchnet visualize: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    written = write_pictures(model, run, test, Path(args.out or args.run_dir), args.image, args.count,
                             args.limit_test)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
