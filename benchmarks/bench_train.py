"""LeNet-5 training, scratch against torch: one step (forward, backward, Adam) and one Fashion-MNIST epoch.

* Step (in this process, interleaved): LeNet5 float32, Adam, cross-entropy, at each batch size; both
  engines start from the same weights, and their loss and every gradient are checked against each other
  before timing. Here torch is imported after scratch, so both share one OpenMP runtime and run with
  the same thread count (:mod:`scratch.perf`). Reported: median and minimum ms per step,
  samples/s, and GFLOP/s from the step's arithmetic (:func:`step_flops`: forward + both backward
  products of every conv and linear layer, except the first layer's input gradient, which training
  does not need: 145 MFLOP at batch 64; both engines skip it, scratch through
  ``backward(..., input_grad=False)`` as its training loop calls it).
* Epoch (one fresh process per run, engines alternating): one full pass over the Fashion-MNIST training
  set (60,000 images, batch 64, shuffled, normalised) after one warm-up step. Reported: the epoch's
  seconds and samples/s; ``startup``, the seconds from launching the process to the end of its first
  training step (imports, data, model, Numba's compile or cache load); peak memory: the process's peak
  RSS (the scratch worker never imports torch), and CUDA's max allocated bytes for torch on a GPU. The
  torch worker imports torch first, as a plain PyTorch script would.
  ``--cold-cache`` points the scratch workers at an empty Numba cache, so the first pays the full compile
  and the second shows the cache at work.

Usage::

    python -m benchmarks.bench_train                      # steps at batch 64 and 256, 2 epochs per engine
    python -m benchmarks.bench_train --rounds 3 --cold-cache
    scratchnet bench train --quick                         # the harness in seconds (digits, tiny counts)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
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

DEFAULT_OUT = os.path.join("results", "bench_train.json")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def step_flops(model_name: str = "lenet5", batch: int = 64) -> int:
    """Floating-point operations (multiply and add counted separately) of one training step.

    Per conv/linear layer, forward 2·MACs, and the same again for each of the weight gradient and the
    input gradient; the first layer's input gradient is not counted (the data needs none). Activations,
    pooling, the loss and the optimizer are memory-bound and left out (<1% of the arithmetic).
    """
    from scratch.models import build_model
    from scratch.nn import Conv2d, Linear

    model = build_model(model_name, dtype=np.float32)
    x = np.zeros((1, 1, 28, 28), dtype=np.float32)
    total, first = 0, True
    for layer in model:
        y = layer(x)
        if isinstance(layer, Conv2d):
            c_out, c_in_g, kh, kw = layer.weight.shape
            macs = y.size * c_in_g * kh * kw
        elif isinstance(layer, Linear):
            macs = y.size * layer.weight.shape[1]
        else:
            macs = 0
        if macs:
            total += 2 * macs * (2 if first else 3)
            first = False
        x = y
    return total * batch


def _step_engines(batch: int, devices: Sequence[str], seed: int = 0) -> dict[str, Callable[[], float]]:
    """One training step per engine on a fixed random batch, all from the same initial weights.

    Each function returns the step's loss; the engines' losses and gradients are checked first.
    """
    import torch

    from scratch.models import build_model
    from scratch.nn.loss import CrossEntropyLoss
    from scratch.optim import Adam
    from torch_impl.models import build_model as build_torch_model

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    ours = build_model("lenet5", dtype=np.float32, rng=rng)
    criterion, optimizer = CrossEntropyLoss(), Adam(list(ours.parameters()), lr=1e-3)

    def scratch_step() -> float:
        loss = criterion(ours(x), y)
        optimizer.zero_grad()
        ours.backward(criterion.backward(), input_grad=False)
        optimizer.step()
        return float(loss)

    engines = {"scratch": scratch_step}
    for device in devices:
        ref = build_torch_model("lenet5", dtype=torch.float32, device=device)
        ref.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
        xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        t_criterion, t_optimizer = torch.nn.CrossEntropyLoss(), torch.optim.Adam(ref.parameters(), lr=1e-3)

        loss_t = t_criterion(ref(xt), yt)
        loss_t.backward()
        loss = criterion(ours(x), y)
        ours.backward(criterion.backward(), input_grad=False)
        what = f"lenet5 step N={batch} ({device})"
        check_close(f"{what} loss", loss, loss_t, np.float32)
        grads = dict(ref.named_parameters())
        for name, p in ours.named_parameters():
            check_close(f"{what} {name}.grad", p.grad, grads[name].grad, np.float32)
        ours.zero_grad()
        t_optimizer.zero_grad()

        def torch_step(ref=ref, xt=xt, yt=yt, t_criterion=t_criterion, t_optimizer=t_optimizer) -> float:
            loss = t_criterion(ref(xt), yt)
            t_optimizer.zero_grad()
            loss.backward()
            t_optimizer.step()
            return loss.detach()

        engines[f"torch-{device}"] = torch_step
    return engines


def bench_steps(batches: Sequence[int], devices: Sequence[str], repeats: int,
                warmup: int) -> list[dict[str, Any]]:
    """Interleaved step timings per batch size, one row per engine."""
    import torch

    rows = []
    for batch in batches:
        engines = _step_engines(batch, devices)
        first = first_call_ms(engines["scratch"])
        syncs = {"torch-cuda": torch.cuda.synchronize} if "cuda" in devices else {}
        timings = time_interleaved(engines, repeats=repeats, warmup=warmup, target_s=0, syncs=syncs)
        flops = step_flops("lenet5", batch)
        ref = timings.get("torch-cpu")
        for engine, t in timings.items():
            rows.append({"engine": engine, "batch": batch, "timing": t.to_dict(),
                         "first_call_ms": first if engine == "scratch" else None,
                         "samples_per_s": batch / (t.median_ms / 1e3), "flops": flops,
                         "gflops": flops / (t.median_ms / 1e3) / 1e9,
                         "ratio": t.median_ms / ref.median_ms if ref else None,
                         "ratio_min": t.min_ms / ref.min_ms if ref else None})
    return rows


def run_epoch_worker(args: argparse.Namespace) -> dict[str, Any]:
    """In a fresh process: one warm-up step, then one timed epoch of LeNet5 on the training set.

    The torch worker imports torch before anything of scratch, so torch loads its own OpenMP runtime, as
    in a plain PyTorch script (imported after scratch it would share scratch's, see :mod:`scratch.perf`).
    """
    if args.engine != "scratch":
        import torch  # noqa: F401
    from scratch.data import DataLoader, Subset, load_dataset, normalize_transform

    if args.engine == "scratch":
        _pin_scratch(args.threads)
    else:
        pin_threads(args.threads)
    train = load_dataset(args.dataset, root=args.data_dir, train=True)
    if args.limit:
        train = Subset(train, np.arange(min(args.limit, len(train))))
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, seed=0, transform=normalize_transform())
    if args.engine == "scratch":
        from scratch import training
        from scratch.models import build_model
        from scratch.nn.loss import CrossEntropyLoss
        from scratch.optim import Adam

        model = build_model("lenet5", dtype=np.float32, rng=np.random.default_rng(0))
        criterion, optimizer = CrossEntropyLoss(), Adam(list(model.parameters()), lr=1e-3)
        sync: Callable[[], None] = lambda: None
    else:
        import torch

        from torch_impl import training
        from torch_impl.models import build_model as build_torch_model

        device, *variant = args.engine.split("-", 1)[1].split("+")
        torch.manual_seed(0)
        model = build_torch_model("lenet5", dtype=torch.float32, device=device)
        if "compile" in variant:
            model.compile(mode=None if args.compile_mode == "default" else args.compile_mode)
        criterion, optimizer = torch.nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=1e-3)
        wrap = training.DeviceLoader if "resident" in variant else training.TensorLoader
        loader = wrap(loader, device=device)
        sync = torch.cuda.synchronize if device == "cuda" else lambda: None
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
    first = next(iter(loader))
    training.train_one_epoch(model, [first], criterion, optimizer)
    sync()
    startup = time.time() - args.t0
    t0 = time.perf_counter()
    loss = training.train_one_epoch(model, loader, criterion, optimizer)
    sync()
    seconds = time.perf_counter() - t0
    result = {"engine": args.engine, "startup_s": startup, "epoch_s": seconds, "samples": len(train),
              "samples_per_s": len(train) / seconds, "loss": loss,
              "peak_rss_mb": peak_rss_mb(),
              "torch_imported": "torch" in sys.modules}
    if args.engine.startswith("torch-cuda"):
        import torch

        result["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB: VmHWM from /proc (Linux), else ru_maxrss.

    Not ru_maxrss alone: Linux carries it across ``exec``, so a worker started from a big parent would
    report the parent's size.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _pin_scratch(threads: int | None) -> None:
    """The scratch worker's thread count, without importing torch (it would inflate the RSS)."""
    from scratch import perf

    perf.configure(perf.available_cores() if threads is None else threads)


def bench_epochs(args: argparse.Namespace, engines: Sequence[str], threads: int) -> list[dict[str, Any]]:
    """``args.rounds`` epochs per engine, each in a fresh process, the engines alternating."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = os.path.join(tmp, "numba-cache")
        for r in range(args.rounds):
            for engine in engines:
                out = os.path.join(tmp, f"{engine}-{r}.json")
                cmd = [sys.executable, "-m", "benchmarks.bench_train", "--worker-epoch", engine, "--out", out,
                       "--dataset", args.dataset, "--batch-size", str(args.batch_size), "--threads",
                       str(threads), "--compile-mode", args.compile_mode]
                if args.data_dir:
                    cmd += ["--data-dir", args.data_dir]
                if args.limit:
                    cmd += ["--limit", str(args.limit)]
                env = dict(os.environ)
                if args.cold_cache and engine == "scratch":
                    env["NUMBA_CACHE_DIR"] = cache_dir
                subprocess.run(cmd + ["--t0", repr(time.time())], check=True, cwd=REPO, env=env)
                with open(out) as f:
                    rows.append(dict(json.load(f), round=r + 1))
    return rows


def step_table(rows: Sequence[dict[str, Any]]) -> str:
    body = [[r["engine"], r["batch"], fmt(r["first_call_ms"]), fmt(r["timing"]["median_ms"]),
             fmt(r["timing"]["min_ms"]), f"{r['samples_per_s']:.0f}", fmt(r["gflops"]),
             f"{r['ratio']:.2f}x" if r["ratio"] else "n/a", f"{r['ratio_min']:.2f}x" if r["ratio_min"] else "n/a"]
            for r in rows]
    return markdown_table(["engine", "N", "1st call ms", "median ms", "min ms", "samples/s", "GFLOP/s",
                           "ratio", "min ratio"], body)


def epoch_table(rows: Sequence[dict[str, Any]]) -> str:
    body = [[r["engine"], r["round"], fmt(r["startup_s"]), fmt(r["epoch_s"]), f"{r['samples_per_s']:.0f}",
             f"{r['peak_rss_mb']:.0f}", fmt(r.get("cuda_max_allocated_mb")), f"{r['loss']:.4f}"] for r in rows]
    return markdown_table(["engine", "round", "startup s", "epoch s", "samples/s", "peak RSS MB",
                           "CUDA max alloc MB", "train loss"], body)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench_train", description="LeNet-5 training step and epoch, both engines.")
    p.add_argument("--batches", type=lambda s: [int(v) for v in s.split(",") if v], default=[64, 256],
                   help="batch sizes of the step benchmark (comma-separated)")
    p.add_argument("--threads", type=int, default=None, help="threads for both engines (default: all cores)")
    p.add_argument("--repeats", type=int, default=40, help="interleaved steps timed per engine")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before timing")
    p.add_argument("--rounds", type=int, default=2, help="epochs per engine (0: no epoch benchmark)")
    p.add_argument("--dataset", default="fashion-mnist", help="fashion-mnist, mnist or digits")
    p.add_argument("--data-dir", default=None, help="dataset root (default: $SCRATCH_DATA_DIR, else ./data)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size of the epoch benchmark")
    p.add_argument("--limit", type=int, default=None, help="only the first N training images")
    p.add_argument("--cold-cache", action="store_true",
                   help="scratch workers use an empty Numba cache (the first compiles, the next reuse it)")
    p.add_argument("--torch-variants", type=lambda s: [v for v in s.split(",") if v], default=[],
                   help="extra torch epoch runs per device, e.g. resident,resident+compile (dataset resident on "
                        "the device: torch_impl.training.DeviceLoader; compile: torch.compile, --compile-mode)")
    p.add_argument("--compile-mode", default="default", choices=("default", "reduce-overhead", "max-autotune"),
                   help="torch.compile mode of the compile variants (reduce-overhead: CUDA graphs)")
    p.add_argument("--quick", action="store_true", help="smoke run: digits, batch 8, 3 steps, 512 images")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    p.add_argument("--worker-epoch", default=None, help=argparse.SUPPRESS)
    p.add_argument("--t0", type=float, default=None, help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker_epoch:
        args.engine = args.worker_epoch
        write_json(run_epoch_worker(args), args.out)
        return 0
    if args.quick:
        args.batches, args.repeats, args.warmup = [8], 3, 1
        args.rounds, args.dataset, args.limit = 1, "digits", args.limit or 512
    threads = pin_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if cuda_available() else [])
    steps = bench_steps(args.batches, devices, args.repeats, args.warmup)
    for variant in args.torch_variants:
        if not set(variant.split("+")) <= {"resident", "compile"}:
            raise SystemExit(f"bench_train: unknown torch variant {variant!r} (expected resident, compile or both "
                             "joined by +)")
    torch_engines = [f"torch-{d}{'+' + v if v else ''}" for d in devices for v in ["", *args.torch_variants]]
    epochs = bench_epochs(args, ["scratch", *torch_engines], threads) if args.rounds else []
    env = environment(threads)
    print(f"\n## bench_train: LeNet5 float32, Adam; {env['machine']['cpu']}, {env['machine']['cores']} cores, "
          f"{threads} threads per engine, torch {env.get('torch')}, numba {env['numba']} ({env['date']})\n")
    print(step_table(steps))
    for batch in args.batches:
        print(f"\nbatch {batch}: {step_flops('lenet5', batch) / 1e6:.1f} MFLOP per step")
    if epochs:
        print(f"\n### one epoch: {epochs[0]['samples']} images of {args.dataset}, batch {args.batch_size}\n")
        print(epoch_table(epochs))
    path = write_json({"benchmark": "bench_train", "environment": env, "steps": steps, "epochs": epochs,
                       "epoch_dataset": args.dataset if epochs else None, "epoch_batch_size": args.batch_size},
                      args.out)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
