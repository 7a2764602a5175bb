"""PNG charts from the JSON that :mod:`benchmarks.bench_ops` and :mod:`benchmarks.bench_train` write.

* ``ops_ratio.png``: scratch / torch CPU time (median) of every op's forward+backward, one bar per op
  and batch size, on a log axis with the 1.0x and 1.5x lines;
* ``ops_sweeps.png``: time against batch size, channels and image size, one panel per sweep, each engine
  a line (log-log);
* ``train.png``: training-step throughput (samples/s) per engine and batch size, and the epoch times.

Usage::

    python -m benchmarks.plot                       # reads results/bench_ops.json, results/bench_train.json
    python -m benchmarks.plot --ops other.json --train none --out-dir charts/
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_ops import DEFAULT_OUT as OPS_JSON
from benchmarks.bench_train import DEFAULT_OUT as TRAIN_JSON
from scratch.plots import new_figure, save_figure

ENGINE_COLORS = {"scratch": "tab:blue", "torch_cpu": "tab:orange", "torch_cuda": "tab:green"}
VARIANT_COLORS = {"resident": "tab:purple", "compile": "tab:brown", "resident+compile": "tab:red"}


def engine_color(engine: str) -> str:
    """The chart color of an engine (``torch-cuda+resident``: its variant's color)."""
    base, *variant = engine.replace("-", "_").split("+")
    if variant:
        return VARIANT_COLORS.get("+".join(variant), "tab:gray")
    return ENGINE_COLORS.get(base, "tab:gray")


def _load(path: str | None) -> dict[str, Any] | None:
    if not path or path == "none" or not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def plot_ops_ratio(data: dict[str, Any], out_path: str | os.PathLike) -> Path:
    """Bars of scratch / torch CPU (median, forward+backward) per op configuration and batch size."""
    rows = [r for r in data["rows"] if r["pass"] == "fwd+bwd" and r.get("ratio")]
    labels = list(dict.fromkeys(f"{r['op']} {r['config']}" for r in rows))
    batches = sorted({r["batch"] for r in rows})
    ratio = {(f"{r['op']} {r['config']}", r["batch"]): r["ratio"] for r in rows}
    fig = new_figure((9, 0.32 * len(labels) * max(1, len(batches)) / 1.6 + 1.5))
    ax = fig.add_subplot(1, 1, 1)
    height = 0.8 / max(1, len(batches))
    y = np.arange(len(labels))
    for i, batch in enumerate(batches):
        values = [ratio.get((label, batch), np.nan) for label in labels]
        ax.barh(y + i * height, values, height=height, label=f"N={batch}")
    ax.set_yticks(y + height * (len(batches) - 1) / 2, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", lw=1)
    ax.axvline(1.5, color="gray", lw=1, ls="--")
    ax.set_xlabel("scratch time / torch CPU time (forward+backward, median; < 1: scratch faster)")
    ax.set_title(f"Ops, {data.get('dtype', '')}: {_machine(data)}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out_path)


def plot_ops_sweeps(data: dict[str, Any], out_path: str | os.PathLike) -> Path | None:
    """One log-log panel per sweep: ms per forward+backward against the swept value, per engine."""
    sweeps = list(dict.fromkeys(r["sweep"] for r in data.get("sweeps", [])))
    if not sweeps:
        return None
    cols = min(3, len(sweeps))
    rows_n = -(-len(sweeps) // cols)
    fig = new_figure((4.2 * cols, 3.3 * rows_n))
    for k, name in enumerate(sweeps):
        ax = fig.add_subplot(rows_n, cols, k + 1)
        rows = [r for r in data["sweeps"] if r["sweep"] == name]
        x = [r["value"] for r in rows]
        for engine, color in ENGINE_COLORS.items():
            if engine in rows[0]:
                ax.plot(x, [r[engine]["median_ms"] for r in rows], "o-", color=color, label=engine)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(rows[0]["quantity"])
        ax.set_ylabel("ms (median)")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out_path)


def plot_train(data: dict[str, Any], out_path: str | os.PathLike) -> Path:
    """Training-step throughput per engine and batch size, and the epoch times (one bar per run)."""
    epochs = data.get("epochs") or []
    fig = new_figure((10 if epochs else 5.5, 3.8))
    ax = fig.add_subplot(1, 2 if epochs else 1, 1)
    engines = list(dict.fromkeys(r["engine"] for r in data["steps"]))
    batches = sorted({r["batch"] for r in data["steps"]})
    width = 0.8 / len(engines)
    for i, engine in enumerate(engines):
        values = [next((r["samples_per_s"] for r in data["steps"] if r["engine"] == engine and r["batch"] == b),
                       np.nan) for b in batches]
        ax.bar(np.arange(len(batches)) + i * width, values, width,
               color=engine_color(engine), label=engine)
    ax.set_xticks(np.arange(len(batches)) + width * (len(engines) - 1) / 2, [f"N={b}" for b in batches])
    ax.set_ylabel("samples/s (median step)")
    ax.set_title("LeNet5 training step (forward, backward, Adam)", fontsize=10)
    ax.legend(fontsize=8)
    if epochs:
        ax2 = fig.add_subplot(1, 2, 2)
        labels = [f"{r['engine']}\nrun {r['round']}" for r in epochs]
        ax2.bar(range(len(epochs)), [r["epoch_s"] for r in epochs],
                color=[engine_color(r["engine"]) for r in epochs])
        ax2.set_xticks(range(len(epochs)), labels, fontsize=7)
        ax2.set_ylabel("seconds")
        ax2.set_title(f"one epoch ({epochs[0]['samples']} images of {data.get('epoch_dataset')})", fontsize=10)
    fig.suptitle(_machine(data), fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out_path)


def _machine(data: dict[str, Any]) -> str:
    env = data.get("environment", {})
    machine = env.get("machine", {})
    return (f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, {env.get('threads', '?')} threads, "
            f"{env.get('date', '')[:10]}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="plot", description="PNG charts from the benchmarks' JSON.")
    p.add_argument("--ops", default=OPS_JSON, help=f"bench_ops JSON ('none' to skip; default {OPS_JSON})")
    p.add_argument("--train", default=TRAIN_JSON, help=f"bench_train JSON ('none' to skip; default {TRAIN_JSON})")
    p.add_argument("--out-dir", default="results", help="folder for the PNGs")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    written = []
    ops, train = _load(args.ops), _load(args.train)
    if ops is not None:
        written.append(plot_ops_ratio(ops, os.path.join(args.out_dir, "ops_ratio.png")))
        written.append(plot_ops_sweeps(ops, os.path.join(args.out_dir, "ops_sweeps.png")))
    if train is not None:
        written.append(plot_train(train, os.path.join(args.out_dir, "train.png")))
    written = [w for w in written if w is not None]
    if not written:
        print(f"nothing to plot: no results at {args.ops} or {args.train}")
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
