"""PNG charts from the JSON that :mod:`benchmarks.bench_ops` and :mod:`benchmarks.bench_train` write.

* ``ops_ratio.png``: scratch / torch CPU time (median) of every op's forward+backward, one bar per op
  and batch size, on a log axis with the 1.0x and 1.5x lines;
* ``ops_sweeps.png``: time against batch size, channels and image size, one panel per sweep, each engine
  a line (log-log);
* ``train.png``: from bench_train's JSON: step ms per engine and batch size, eval images/s, epoch seconds
  and time to accuracy, each the median over processes with its range; the measured sgemm peak in the title.

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
VARIANT_COLORS = {"compile": "tab:brown", "reduce-overhead": "tab:red", "max-autotune": "tab:purple",
                  "max-autotune-no-cudagraphs": "tab:pink"}


def engine_color(engine: str) -> str:
    """The chart color of an engine (``torch-cpu+compile``, ``torch-cuda+reduce-overhead``: its
    torch.compile mode's color)."""
    base, _, variant = engine.partition("+")
    if variant:
        return VARIANT_COLORS.get(variant, "tab:gray")
    return ENGINE_COLORS.get(base.replace("-", "_"), "tab:gray")


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


def _bars(ax: Any, rows: Sequence[dict[str, Any]], value: str, low_high: Any, title: str, ylabel: str,
          labels: Sequence[str] | None = None) -> None:
    """One bar per row (its engine's color) with the range over processes as an error bar."""
    engines = [r["engine"] for r in rows]
    values = [r[value] if not isinstance(r[value], dict) else r[value]["median"] for r in rows]
    lo_hi = [low_high(r) for r in rows]
    err = np.array([[max(0.0, v - lo), max(0.0, hi - v)] if v is not None and lo is not None else [0.0, 0.0]
                    for v, (lo, hi) in zip(values, lo_hi, strict=True)]).T
    ax.bar(range(len(rows)), [np.nan if v is None else v for v in values], yerr=err, capsize=3,
           color=[engine_color(e) for e in engines])
    ax.set_xticks(range(len(rows)), labels or engines, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)


def plot_train(data: dict[str, Any], out_path: str | os.PathLike) -> Path:
    """bench_train's JSON as panels: step ms per engine and batch size (bars: median of the per-process
    medians, error bars: their range), eval images/s, epoch seconds and time to accuracy, each with its
    range; the measured sgemm peak and the steps' share of it in the title."""
    steps, evals, epochs, ttas = (data.get(k) or [] for k in ("steps", "eval", "epochs", "tta"))
    panels = [p for p, rows in (("step", steps), ("eval", evals), ("epoch", epochs), ("tta", ttas)) if rows]
    fig = new_figure((4.2 * max(1, len(panels)), 3.8))
    for k, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        if panel == "step":
            engines = list(dict.fromkeys(r["engine"] for r in steps))
            batches = sorted({r["batch"] for r in steps})
            width = 0.8 / len(engines)
            for i, engine in enumerate(engines):
                rows = [next((r for r in steps if r["engine"] == engine and r["batch"] == b), None) for b in batches]
                med = [r["median_ms"] if r else np.nan for r in rows]
                err = np.array([[r["median_ms"] - r["range_ms"][0], r["range_ms"][1] - r["median_ms"]] if r
                                else [0.0, 0.0] for r in rows]).T
                ax.bar(np.arange(len(batches)) + i * width, med, width, yerr=err, capsize=3,
                       color=engine_color(engine), label=engine)
            ax.set_xticks(np.arange(len(batches)) + width * (len(engines) - 1) / 2, [f"N={b}" for b in batches])
            ax.set_ylabel("ms per step")
            ax.set_title("LeNet5 training step (fwd, bwd, Adam)", fontsize=9)
            ax.legend(fontsize=8)
        elif panel == "eval":
            _bars(ax, evals, "images_per_s", lambda r: (r["images_per_s"] * r["median_ms"] / r["range_ms"][1],
                                                        r["images_per_s"] * r["median_ms"] / r["range_ms"][0]),
                  f"evaluation, batch {evals[0]['batch']}", "images/s")
        elif panel == "epoch":
            _bars(ax, epochs, "epoch_s", lambda r: (r["epoch_s"]["min"], r["epoch_s"]["max"]),
                  f"one epoch ({epochs[0]['samples']} images of {data.get('epoch_dataset')})", "seconds")
        else:
            _bars(ax, ttas, "seconds", lambda r: (r["seconds"]["min"], r["seconds"]["max"]),
                  "time to accuracy (training s; unreached: no bar)", "seconds",
                  [f"{r['engine']}\n{r['dataset']} {r['target']:.0%}" for r in ttas])
    fig.suptitle(f"{_machine(data)}\n{_peak_note(data)}", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out_path)


def _peak_note(data: dict[str, Any]) -> str:
    peak = data.get("peak")
    if not peak:
        return "peak not measured"
    gflops = ", ".join(f"{t} thr {g:.0f}" for t, g in peak["sgemm"]["threads"].items())
    best = max((r for r in data.get("steps") or [] if r.get("pct_peak")), key=lambda r: r["pct_peak"], default=None)
    share = f"; best step {best['engine']} N={best['batch']}: {best['gflops']:.1f} GFLOP/s = {best['pct_peak']:.1f}%" \
        if best else ""
    return f"measured sgemm peak ({peak['isa']}, n={peak['sgemm']['n']}): {gflops} GFLOP/s{share}"


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
