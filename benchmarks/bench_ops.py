"""Every op's forward and forward+backward, scratch against torch, at LeNet-5's shapes, plus sweeps.

Rows: each op at the shapes LeNet-5 runs it (conv1, conv2, pool1, pool2, fc1-fc3, flatten, the
activations at conv1's output, softmax and the losses over 10 classes) for each batch size, then conv2d,
avg_pool2d and linear swept over batch size, channels and image size (forward+backward). Columns:

* ``1st call``: scratch's first call in this process (Numba's compile, or its cache load, for the first
  row of an op and dtype; an ordinary call afterwards), never part of a timing;
* ``scratch`` / ``min``: Numba, median and minimum of the interleaved samples;
* ``no-JIT``: scratch with ``NUMBA_DISABLE_JIT=1`` (a separate process), for the ops whose code is plain
  NumPy; ``n/a`` for ops built on Numba loop kernels, which have no NumPy path;
* ``torch`` / ``min``: torch CPU; ``cuda``: torch CUDA, only where ``torch.cuda.is_available()``;
* ``ratio``: scratch / torch CPU of the medians (``min ratio``: of the minimums).

Every row is checked against torch (outputs and every gradient) before it is timed.

Usage::

    python -m benchmarks.bench_ops                          # everything (a few minutes on 2 cores)
    python -m benchmarks.bench_ops --batches 64 --ops conv2d,linear --no-sweeps
    scratchnet bench ops --quick                            # the harness in seconds (tiny repeat counts)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.timing import (
    check_close,
    cuda_available,
    environment,
    first_call_ms,
    fmt,
    markdown_table,
    pin_threads,
    time_interleaved,
    write_json,
)

DEFAULT_OUT = os.path.join("results", "bench_ops.json")
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "scaled_tanh")
LOSSES = ("cross_entropy", "nll_loss", "mse_loss", "l1_loss")

Fwd = Callable[[], Any]
FwdBwd = Callable[[], tuple[Any, tuple]]


@dataclass
class Prepared:
    """One op at one shape and batch: scratch's forward and forward+backward, and torch's per device.

    The ``FwdBwd`` functions return ``(out, grads)``, grads in the order of the differentiable inputs.
    """

    scratch_fwd: Fwd
    scratch_fwdbwd: FwdBwd
    torch_fns: Callable[[str], tuple[Fwd, FwdBwd]]


@dataclass
class OpCase:
    """An op at one configuration; ``prepare(batch, dtype, rng)`` draws its inputs and builds its functions.

    ``numpy_path``: the op's code is plain NumPy (linear, flatten, MSE, L1), so it runs unchanged with
    Numba's JIT disabled; ops built on Numba loop kernels (conv, pooling, the activations' and the
    class losses' fused loops) have no NumPy path: without the JIT they would run as Python loops.
    """

    op: str
    config: str
    prepare: Callable[[int, np.dtype, np.random.Generator], Prepared]
    numpy_path: bool


def _prepare(f_fwd: Callable, f_bwd: Callable, t_fn: Callable, diff: Sequence[np.ndarray],
             extra: Sequence[np.ndarray], rng: np.random.Generator) -> Prepared:
    """Functions for ``f_fwd(*diff, *extra)`` (scratch) and ``t_fn(*diff, *extra)`` (torch).

    ``diff`` are the differentiable inputs, ``extra`` the others (targets); the upstream gradient is
    drawn with the output's shape (1 for a 0-D output, i.e. a reduced loss).
    """
    out0, _ = f_fwd(*diff, *extra)
    dtype = diff[0].dtype
    dout = (np.asarray(1, dtype=dtype) if np.ndim(out0) == 0
            else rng.standard_normal(np.shape(out0)).astype(dtype))

    def scratch_fwd():
        return f_fwd(*diff, *extra)

    def scratch_fwdbwd():
        out, cache = f_fwd(*diff, *extra)
        grads = f_bwd(dout, cache)
        return out, grads if isinstance(grads, tuple) else (grads,)

    def torch_fns(device: str) -> tuple[Fwd, FwdBwd]:
        import torch

        ts = [torch.tensor(a, device=device, requires_grad=True) for a in diff]
        es = [torch.tensor(a, device=device) for a in extra]
        dt = torch.tensor(dout, device=device)

        def fwd():
            return t_fn(*ts, *es)

        def fwdbwd():
            out = t_fn(*ts, *es)
            return out, torch.autograd.grad(out, ts, dt)

        return fwd, fwdbwd

    return Prepared(scratch_fwd, scratch_fwdbwd, torch_fns)


def _label(label: str) -> str:
    return f"{label} " if label else ""


def conv_case(c_in: int, c_out: int, hw: int, k: int, padding: int = 0, label: str = "") -> OpCase:
    """conv2d of (N, c_in, hw, hw) with a (c_out, c_in, k, k) weight and a bias."""

    def prepare(n: int, dtype: np.dtype, rng: np.random.Generator) -> Prepared:
        import torch.nn.functional as tf

        import scratch.functional as F

        bound = 1 / np.sqrt(c_in * k * k)
        x = rng.standard_normal((n, c_in, hw, hw)).astype(dtype)
        w = rng.uniform(-bound, bound, (c_out, c_in, k, k)).astype(dtype)
        b = rng.uniform(-bound, bound, c_out).astype(dtype)
        return _prepare(lambda x, w, b: F.conv2d_forward(x, w, b, padding=padding), F.conv2d_backward,
                        lambda x, w, b: tf.conv2d(x, w, b, padding=padding), (x, w, b), (), rng)

    pad = f" p{padding}" if padding else ""
    return OpCase("conv2d", f"{_label(label)}{c_in}→{c_out} {hw}×{hw} k{k}{pad}", prepare, False)


def pool_case(kind: str, c: int, hw: int, label: str = "") -> OpCase:
    """``kind`` ('max', 'avg' or 'sum') pooling with kernel 2, stride 2, over (N, c, hw, hw)."""

    def prepare(n: int, dtype: np.dtype, rng: np.random.Generator) -> Prepared:
        import torch.nn.functional as tf

        import scratch.functional as F

        x = rng.standard_normal((n, c, hw, hw)).astype(dtype)
        ref = {"max": lambda x: tf.max_pool2d(x, 2), "avg": lambda x: tf.avg_pool2d(x, 2),
               "sum": lambda x: tf.avg_pool2d(x, 2, divisor_override=1)}[kind]
        fwd = getattr(F, f"{kind}_pool2d_forward")
        return _prepare(lambda x: fwd(x, 2), getattr(F, f"{kind}_pool2d_backward"), ref, (x,), (), rng)

    return OpCase(f"{kind}_pool2d", f"{_label(label)}{c}×{hw}×{hw} k2", prepare, False)


def linear_case(n_in: int, n_out: int, label: str = "") -> OpCase:
    """linear of (N, n_in) with an (n_out, n_in) weight and a bias."""

    def prepare(n: int, dtype: np.dtype, rng: np.random.Generator) -> Prepared:
        import torch.nn.functional as tf

        import scratch.functional as F

        bound = 1 / np.sqrt(n_in)
        x = rng.standard_normal((n, n_in)).astype(dtype)
        w = rng.uniform(-bound, bound, (n_out, n_in)).astype(dtype)
        b = rng.uniform(-bound, bound, n_out).astype(dtype)
        return _prepare(F.linear_forward, F.linear_backward, tf.linear, (x, w, b), (), rng)

    return OpCase("linear", f"{_label(label)}{n_in}→{n_out}", prepare, True)


def flatten_case() -> OpCase:
    """flatten of (N, 16, 5, 5) to (N, 400), LeNet-5's."""

    def prepare(n: int, dtype: np.dtype, rng: np.random.Generator) -> Prepared:
        import torch

        import scratch.functional as F

        x = rng.standard_normal((n, 16, 5, 5)).astype(dtype)
        return _prepare(lambda x: F.flatten_forward(x, 1), F.flatten_backward, lambda x: torch.flatten(x, 1), (x,), (),
                        rng)

    return OpCase("flatten", "16×5×5 → 400", prepare, True)


def activation_case(name: str, shape: tuple[int, ...], label: str) -> OpCase:
    """Activation ``name`` over (N, *shape); softmax and log-softmax along dim 1."""

    def prepare(n: int, dtype: np.dtype, rng: np.random.Generator) -> Prepared:
        import torch
        import torch.nn.functional as tf

        import scratch.functional as F

        x = (2 * rng.standard_normal((n, *shape))).astype(dtype)
        ref = {"relu": torch.relu, "leaky_relu": tf.leaky_relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
               "scaled_tanh": lambda x: 1.7159 * torch.tanh(x * (2.0 / 3.0)),
               "softmax": lambda x: torch.softmax(x, 1), "log_softmax": lambda x: torch.log_softmax(x, 1)}[name]
        fwd = getattr(F, f"{name}_forward")
        if name in ("softmax", "log_softmax"):
            fwd = lambda x, f=fwd: f(x, 1)
        return _prepare(fwd, getattr(F, f"{name}_backward"), ref, (x,), (), rng)

    return OpCase(name, label, prepare, False)


def loss_case(name: str, classes: int = 10) -> OpCase:
    """Loss ``name`` of (N, classes) scores, reduction 'mean' (class-index targets where it takes them)."""

    def prepare(n: int, dtype: np.dtype, rng: np.random.Generator) -> Prepared:
        import torch.nn.functional as tf

        import scratch.functional as F

        x = rng.standard_normal((n, classes)).astype(dtype)
        if name == "nll_loss":
            x = (x - np.log(np.sum(np.exp(x), axis=1, keepdims=True))).astype(dtype)
        if name in ("cross_entropy", "nll_loss"):
            target = rng.integers(0, classes, n)
        else:
            target = rng.standard_normal((n, classes)).astype(dtype)
        ref = {"cross_entropy": tf.cross_entropy, "nll_loss": tf.nll_loss, "mse_loss": tf.mse_loss,
               "l1_loss": tf.l1_loss}[name]
        return _prepare(getattr(F, f"{name}_forward"), getattr(F, f"{name}_backward"), ref, (x,), (target,),
                        rng)

    return OpCase(name, f"{classes} classes", prepare, name in ("mse_loss", "l1_loss"))


def lenet_cases() -> list[OpCase]:
    """Every op at the shapes LeNet-5 (the tutorial's, and the classic's sum pooling) runs it."""
    return [
        conv_case(1, 6, 28, 5, padding=2, label="conv1"),
        conv_case(6, 16, 14, 5, label="conv2"),
        pool_case("avg", 6, 28, "pool1"), pool_case("avg", 16, 10, "pool2"),
        pool_case("max", 6, 28, "pool1"), pool_case("max", 16, 10, "pool2"),
        pool_case("sum", 6, 28, "pool1"), pool_case("sum", 16, 10, "pool2"),
        linear_case(400, 120, "fc1"), linear_case(120, 84, "fc2"), linear_case(84, 10, "fc3"),
        flatten_case(),
        *(activation_case(a, (6, 28, 28), "6×28×28") for a in ACTIVATIONS),
        activation_case("tanh", (120,), "120"),
        activation_case("softmax", (10,), "10 classes"), activation_case("log_softmax", (10,), "10 classes"),
        *(loss_case(name) for name in LOSSES),
    ]


def sweeps(quick: bool) -> list[tuple[str, str, list[tuple[Any, OpCase, int]]]]:
    """(name, swept quantity, [(value, case, batch)]) for conv2d, avg_pool2d and linear (forward+backward)."""
    batches = [1, 8] if quick else [1, 8, 32, 128, 512]
    channels = [2, 4] if quick else [4, 8, 16, 32, 64]
    images = [8, 14] if quick else [14, 28, 56, 112]
    return [
        ("conv2d batch", "N", [(n, conv_case(6, 16, 14, 5, label="conv2"), n) for n in batches]),
        ("conv2d channels", "C_in = C_out", [(c, conv_case(c, c, 14, 5), 32) for c in channels]),
        ("conv2d image", "H = W", [(s, conv_case(6, 16, s, 5), 16) for s in images]),
        ("avg_pool2d batch", "N", [(n, pool_case("avg", 6, 28, "pool1"), n) for n in batches]),
        ("avg_pool2d image", "H = W", [(s, pool_case("avg", 6, s), 16) for s in images]),
        ("linear batch", "N", [(n, linear_case(400, 120, "fc1"), n) for n in batches]),
    ]


def measure(case: OpCase, batch: int, dtype: np.dtype, passes: Sequence[str], devices: Sequence[str],
            repeats: int, warmup: int, target_s: float, seed: int = 0) -> list[dict[str, Any]]:
    """Check ``case`` against torch on every device, then time it interleaved; one row per pass.

    ``passes``: 'fwd' and/or 'fwd+bwd'. ``devices``: torch devices ('cpu', 'cuda'); none for scratch only.
    """
    import torch

    prep = case.prepare(batch, dtype, np.random.default_rng(seed))
    scratch = {"fwd": prep.scratch_fwd, "fwd+bwd": prep.scratch_fwdbwd}
    first = {p: first_call_ms(scratch[p]) for p in passes}
    out, grads = prep.scratch_fwdbwd()
    what = f"{case.op} {case.config} N={batch} {np.dtype(dtype).name}"
    torch_fns = {d: prep.torch_fns(d) for d in devices}
    for device, (_, t_fwdbwd) in torch_fns.items():
        ref_out, ref_grads = t_fwdbwd()
        check_close(f"{what} out ({device})", out, ref_out, dtype)
        for i, (g, r) in enumerate(zip(grads, ref_grads, strict=True)):
            check_close(f"{what} grad {i} ({device})", g, r, dtype)
    rows = []
    for p in passes:
        fns = {"scratch": scratch[p]}
        syncs = {}
        for device, (t_fwd, t_fwdbwd) in torch_fns.items():
            fns[f"torch-{device}"] = t_fwd if p == "fwd" else t_fwdbwd
            if device == "cuda":
                syncs["torch-cuda"] = torch.cuda.synchronize
        t = time_interleaved(fns, repeats=repeats, warmup=warmup, target_s=target_s, syncs=syncs)
        row: dict[str, Any] = {"op": case.op, "config": case.config, "batch": batch,
                               "dtype": np.dtype(dtype).name, "pass": p, "first_call_ms": first[p],
                               "scratch": t["scratch"].to_dict()}
        for device in devices:
            row[f"torch_{device}"] = t[f"torch-{device}"].to_dict()
        if "cpu" in devices:
            row["ratio"] = t["scratch"].median_ms / t["torch-cpu"].median_ms
            row["ratio_min"] = t["scratch"].min_ms / t["torch-cpu"].min_ms
        rows.append(row)
    return rows


def _nojit_rows(args: argparse.Namespace, threads: int) -> dict[tuple, dict[str, Any]]:
    """Run this module again with NUMBA_DISABLE_JIT=1 on the ops with a NumPy path; rows by key."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "nojit.json")
        cmd = [sys.executable, "-m", "benchmarks.bench_ops", "--worker-nojit", "--out", path,
               "--threads", str(threads), "--dtype", args.dtype, "--batches", ",".join(map(str, args.batches)),
               "--repeats", str(args.repeats), "--warmup", str(args.warmup), "--target-ms",
               str(args.target_ms), "--no-sweeps"]
        if args.ops:
            cmd += ["--ops", ",".join(args.ops)]
        env = dict(os.environ, NUMBA_DISABLE_JIT="1")
        subprocess.run(cmd, check=True, env=env, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(path) as f:
            rows = json.load(f)["rows"]
    return {_key(r): r["scratch"] for r in rows}


def _key(row: dict[str, Any]) -> tuple:
    return row["op"], row["config"], row["batch"], row["dtype"], row["pass"]


def table(rows: Sequence[dict[str, Any]], sweep: bool = False) -> str:
    """The markdown table of ``rows`` (sweep rows show the swept value instead of the pass)."""
    cuda = any("torch_cuda" in r for r in rows)
    head = ["op", "config", "N", "value" if sweep else "pass", "1st call ms", "scratch ms", "min",
            "no-JIT ms", "torch ms", "min"] + (["cuda ms"] if cuda else []) + ["ratio", "min ratio"]
    body = []
    for r in rows:
        nojit = r.get("nojit")
        line = [r["op"], r["config"], r["batch"], r["value"] if sweep else r["pass"], fmt(r["first_call_ms"]),
                fmt(r["scratch"]["median_ms"]), fmt(r["scratch"]["min_ms"]),
                fmt(nojit["median_ms"]) if nojit else "n/a",
                fmt(r["torch_cpu"]["median_ms"]), fmt(r["torch_cpu"]["min_ms"])]
        if cuda:
            line.append(fmt(r["torch_cuda"]["median_ms"]) if "torch_cuda" in r else "n/a")
        line += [f"{r['ratio']:.2f}x", f"{r['ratio_min']:.2f}x"]
        body.append(line)
    return markdown_table(head, body)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench_ops", description="Time every op, scratch against torch.")
    p.add_argument("--batches", type=_int_list, default=[1, 64, 256], help="comma-separated batch sizes")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--ops", type=lambda s: [o for o in s.split(",") if o], default=None,
                   help="only these ops (comma-separated names, e.g. conv2d,linear,tanh)")
    p.add_argument("--threads", type=int, default=None, help="threads for both engines (default: all cores)")
    p.add_argument("--repeats", type=int, default=15, help="interleaved samples per engine")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls before sampling")
    p.add_argument("--target-ms", type=float, default=3.0, help="length of one sample (calls are repeated)")
    p.add_argument("--no-sweeps", action="store_true", help="skip the batch/channel/image-size sweeps")
    p.add_argument("--no-nojit", action="store_true", help="skip the NUMBA_DISABLE_JIT column")
    p.add_argument("--quick", action="store_true", help="smoke run: batch 2, 3 samples, short sweeps")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    p.add_argument("--worker-nojit", action="store_true", help=argparse.SUPPRESS)
    return p


def _int_list(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.batches, args.repeats, args.warmup, args.target_ms = [2], 3, 1, 0.2
    threads = pin_threads(args.threads)
    dtype = np.dtype(args.dtype)
    worker = args.worker_nojit
    devices = ["cpu"] + (["cuda"] if cuda_available() and not worker else [])
    if "cuda" in devices:
        import torch

        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    cases = [c for c in lenet_cases() if (args.ops is None or c.op in args.ops) and (c.numpy_path or not worker)]
    opts = dict(repeats=args.repeats, warmup=args.warmup, target_s=args.target_ms / 1e3)
    rows = []
    for case in cases:
        for batch in args.batches:
            rows += measure(case, batch, dtype, ("fwd", "fwd+bwd"), devices, **opts)
    if worker:
        write_json({"rows": rows}, args.out)
        return 0
    if not args.no_nojit and any(c.numpy_path for c in cases):
        nojit = _nojit_rows(args, threads)
        for r in rows:
            if _key(r) in nojit:
                r["nojit"] = nojit[_key(r)]
    sweep_rows = []
    if not args.no_sweeps:
        for name, quantity, points in sweeps(args.quick):
            if args.ops is not None and points[0][1].op not in args.ops:
                continue
            for value, case, batch in points:
                for r in measure(case, batch, dtype, ("fwd+bwd",), devices, **opts):
                    sweep_rows.append(dict(r, sweep=name, quantity=quantity, value=value))
    env = environment(threads)
    print(f"\n## bench_ops: {env['machine']['cpu']}, {env['machine']['cores']} cores, {threads} threads per engine, "
          f"{dtype.name}, torch {env.get('torch')}, numba {env['numba']} ({env['date']})\n")
    print(table(rows))
    if sweep_rows:
        print("\n### sweeps (forward+backward)\n")
        print(table(sweep_rows, sweep=True))
    path = write_json({"benchmark": "bench_ops", "environment": env, "dtype": dtype.name,
                       "rows": rows, "sweeps": sweep_rows}, args.out)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
