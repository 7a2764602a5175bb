"""Where a LeNet-5 training step's time goes: each layer's forward and backward, the loss and the optimizer.

One process, the scratch engine only (torch is never imported), ``scratch.perf.configure(threads)``.
Each part of the step is timed on its own: the layers' forwards in order, the loss, the layers' backwards
in reverse (the first convolution without its input gradient, as training runs it) and ``Adam.step``,
``--repeats`` whole steps after ``--warmup``; the table gives each part's median ms, its share of the
summed medians, and for conv and linear layers their GFLOP/s (forward: 2·MACs, backward: 2·MACs per
gradient computed). The sum of the parts is printed beside a whole step timed without the per-part
clock reads.

Usage::

    python -m benchmarks.profile_step                     # batch 64 and 256, every core
    python -m benchmarks.profile_step --batches 256 --threads 1 --out results/profile_step.json
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.bench_train import layer_macs
from benchmarks.timing import environment, fmt, markdown_table, write_json

DEFAULT_OUT = "results/profile_step.json"


def profile(batch: int, repeats: int, warmup: int, model_name: str = "lenet5") -> dict[str, Any]:
    """Median ms of every part of one training step at ``batch`` (rows in step order)."""
    from scratch.models import build_model
    from scratch.nn.loss import CrossEntropyLoss
    from scratch.nn.module import _has_parameters, takes_input_grad
    from scratch.optim import Adam

    rng = np.random.default_rng(0)
    model = build_model(model_name, dtype=np.float32, rng=rng)
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    criterion, optimizer = CrossEntropyLoss(), Adam(list(model.parameters()), lr=1e-3)
    names = list(model._modules)
    layers = list(model._modules.values())
    first = next(i for i, m in enumerate(layers) if _has_parameters(m))
    parts: dict[str, list[float]] = {}
    macs: dict[str, int] = {}

    def clock(key: str, t0: float) -> float:
        t1 = time.perf_counter()
        parts.setdefault(key, []).append(1e3 * (t1 - t0))
        return t1

    def step(record: bool) -> None:
        t = time.perf_counter()
        h = x
        for name, layer in zip(names, layers, strict=True):
            h = layer(h)
            if record:
                macs.setdefault(name, layer_macs(layer, h))
            t = clock(f"{name} fwd", t)
        criterion(h, y)
        optimizer.zero_grad()
        d = criterion.backward()
        t = clock("loss fwd+bwd", t)
        for i in range(len(layers) - 1, first - 1, -1):
            layer = layers[i]
            d = layer.backward(d, input_grad=False) if i == first and takes_input_grad(layer) else layer.backward(d)
            t = clock(f"{names[i]} bwd", t)
        optimizer.step()
        clock("adam step", t)

    for i in range(warmup):
        step(record=i == 0)
    parts.clear()
    for _ in range(repeats):
        step(record=False)
    rows = []
    total = sum(float(np.median(v)) for v in parts.values())
    for key, samples in parts.items():
        med = float(np.median(samples))
        name, kind = key.rsplit(" ", 1)
        m = macs.get(name, 0)
        flops = 2 * m * (1 if kind == "fwd" else (1 if names.index(name) == first else 2)) if m else 0
        rows.append({"part": key, "median_ms": med, "min_ms": float(np.min(samples)), "share": med / total,
                     "gflops": flops / (med / 1e3) / 1e9 if flops else None})
    return {"batch": batch, "rows": rows, "sum_ms": total, "step_ms": _whole_step_ms(model, x, y, criterion,
                                                                                      optimizer, first, repeats)}


def _whole_step_ms(model: Any, x: np.ndarray, y: np.ndarray, criterion: Any, optimizer: Any, first: int,
                   repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        criterion(model(x), y)
        optimizer.zero_grad()
        model.backward(criterion.backward(), input_grad=False)
        optimizer.step()
        samples.append(1e3 * (time.perf_counter() - t0))
    return float(np.median(samples))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="profile_step", description="Per-part times of a scratch LeNet-5 step.")
    p.add_argument("--batches", type=lambda s: [int(v) for v in s.split(",") if v], default=[64, 256])
    p.add_argument("--threads", type=int, default=None, help="Numba threads (default: every core)")
    p.add_argument("--repeats", type=int, default=100, help="steps timed")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    p.add_argument("--model", default="lenet5")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if min(args.batches, default=0) < 1 or args.repeats < 1 or args.warmup < 1 or (args.threads or 1) < 1:
        raise SystemExit("profile_step: --batches, --repeats, --warmup and --threads must be >= 1")
    from scratch import get_backend, perf

    info = perf.configure(perf.available_cores() if args.threads is None else args.threads)
    results = []
    print(f"## profile_step: {args.model} float32, Adam, backend {get_backend()}, {info['numba_threads']} threads\n")
    for batch in args.batches:
        r = profile(batch, args.repeats, args.warmup, args.model)
        results.append(r)
        body = [[row["part"], fmt(row["median_ms"]), fmt(row["min_ms"]), f"{100 * row['share']:.1f}%",
                 fmt(row["gflops"])] for row in r["rows"]]
        print(f"### batch {batch}: parts sum {fmt(r['sum_ms'])} ms, whole step {fmt(r['step_ms'])} ms\n")
        print(markdown_table(["part", "median ms", "min ms", "share", "GFLOP/s"], body) + "\n")
    path = write_json({"benchmark": "profile_step", "model": args.model, "perf": info, "profiles": results,
                       "environment": environment(info["numba_threads"])}, args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
