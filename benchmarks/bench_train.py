"""LeNet-5 training, scratch against torch, each engine in its own process: step, eval, epoch, time to accuracy.

Every measurement runs in worker processes, one engine per process, in ``--rounds`` alternating pairs
(scratch then torch, then torch then scratch, ...), each with the same thread count (default: every core).
The scratch worker (``python -m benchmarks.bench_train --worker ...``) never imports torch; the torch
worker is :mod:`benchmarks.torch_baseline`, a plain PyTorch script that imports neither scratch nor
torch_impl (both record what they imported in their JSON). The parent writes both workers' inputs once:
the initial weights (scratch's LeNet5, seed 0, as its ``state_dict()``, whose keys are torch's), the fixed
step batches, and the dataset (loaded through :mod:`scratch.data`, normalised as ``normalize_transform()``,
float32): one data path for both engines.

Parts (``--parts``, default ``step,eval,epoch,peak``; ``tta`` is opt-in: ``--tta``):

* ``step``: one training step (forward, cross-entropy, backward, Adam 1e-3) per batch size from the same
  weights on the same batch; the parent checks the loss and every gradient of scratch against torch's
  (:func:`benchmarks.timing.check_close`, float32) **before** it reports any timing, and refuses (raises)
  on a mismatch. Then ``--warmup`` untimed and ``--repeats`` timed steps per process: median, minimum, p90.
  Every worker (the tta ones too) starts with this checked step, also when ``step`` is not among the
  parts: then one step per batch size, checked and not reported.
  GFLOP/s from the step's arithmetic (:func:`step_flops`: forward + both backward products of every conv
  and linear layer, except the first layer's input gradient, which training does not need: 145 MFLOP at
  batch 64; both engines skip it) beside the measured peak (``peak``) and as a share of it.
* ``eval``: forward only over the test set at batch 1000 (torch: ``model.eval()`` under
  ``torch.inference_mode()``; scratch: ``model.eval()``): ms per batch after a warm-up batch, images/s; the
  two engines' predictions from the same weights must agree on >= 99.9% of the images.
* ``epoch``: one warm-up step, then one shuffled pass over the training set (batch 64); ``startup_s``
  (launch of the process to the end of its first training step: imports, data, model, Numba's compile or
  cache load) and the peak RSS.
* ``tta``: from the seed-0 weights, train (Adam 1e-3, batch 64, shuffled, no augmentation) until the test
  accuracy reaches the target (89% Fashion-MNIST, 99% MNIST; ``--tta-target``), at most ``--max-epochs``:
  training seconds to the target (evaluation timed apart), or the best accuracy.
* ``peak``: :mod:`benchmarks.peak`, NumPy's sgemm at n=2048 on 1 and N threads, and the ISA.

Engines: ``scratch``, ``torch-<device>`` for each of ``--torch-devices`` (default cpu), and with
``--torch-compile MODE[,MODE]`` also ``torch-<device>+compile`` (``torch.compile`` default mode) or
``torch-<device>+<mode>`` (e.g. ``+reduce-overhead``) per device and mode. The torch worker keeps the
whole dataset as tensors on its device (resident: no host-to-device copy per batch).

Per engine: the median over processes of the per-process medians and their range (min–max); the ratio
scratch / torch of each pair and the median of those ratios. ``--in-process`` times the step the old way
instead: both engines in this process, interleaved (:func:`bench_steps`).

Usage::

    python -m benchmarks.bench_train                      # 3 rounds: step, eval, epoch, peak
    python -m benchmarks.bench_train --tta --tta-datasets fashion-mnist,mnist
    scratchnet bench train --quick                         # the harness in seconds (digits, tiny counts)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from benchmarks import peak as peak_mod
from benchmarks.timing import (
    check_close,
    environment,
    first_call_ms,
    fmt,
    markdown_table,
    pin_threads,
    time_interleaved,
    write_json,
)
from benchmarks.torch_baseline import (
    COMPILE_MODES,
    Clock,
    add_worker_arguments,
    check_worker_args,
    data_root,
    engine_name,
    epoch_result,
    eval_result,
    int_list,
    load_arrays,
    load_step_data,
    loaded_modules,
    parse_engine,
    peak_rss_mb,
    time_calls,
    time_to_accuracy,
)

DEFAULT_OUT = os.path.join("results", "bench_train.json")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARENT_PARTS = ("step", "eval", "epoch", "tta", "peak")
DEFAULT_PARTS = ("step", "eval", "epoch", "peak")
TTA_TARGETS = {"fashion-mnist": 0.89, "mnist": 0.99, "digits": 0.9}
MIN_AGREEMENT = 0.999
# defaults of the options left unset: a full run, and --quick (the harness in seconds)
DEFAULTS = {"batches": [64, 256], "repeats": 40, "warmup": 5, "rounds": 3, "dataset": "fashion-mnist",
            "limit": None, "eval_batch": 1000, "max_epochs": 15, "peak_n": 2048,
            "tta_datasets": ["fashion-mnist", "mnist"]}
QUICK = {"batches": [8], "repeats": 3, "warmup": 1, "rounds": 1, "dataset": "digits", "limit": 512,
         "eval_batch": 100, "max_epochs": 2, "peak_n": 256, "tta_datasets": ["digits"]}


def layer_macs(layer: Any, out: np.ndarray) -> int:
    """Multiply-adds of a conv or linear layer's forward that produced ``out`` (0 for any other layer)."""
    from scratch.nn import Conv2d, Linear

    if isinstance(layer, Conv2d):
        return out.size * int(np.prod(layer.weight.shape[1:]))
    if isinstance(layer, Linear):
        return out.size * layer.weight.shape[1]
    return 0


def step_flops(model_name: str = "lenet5", batch: int = 64) -> int:
    """Floating-point operations (multiply and add counted separately) of one training step.

    Per conv/linear layer, forward 2·MACs, and the same again for each of the weight gradient and the
    input gradient; the first layer's input gradient is not counted (the data needs none). Activations,
    pooling, the loss and the optimizer are memory-bound and left out (<1% of the arithmetic).
    """
    from scratch.models import build_model

    model = build_model(model_name, dtype=np.float32)
    x = np.zeros((1, 1, 28, 28), dtype=np.float32)
    total, first = 0, True
    for layer in model:
        y = layer(x)
        macs = layer_macs(layer, y)
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


# ------------------------------------------------------------------------------------- scratch worker

class ScratchWorker:
    """The four parts of :mod:`benchmarks.torch_baseline`, in scratch (torch never imported)."""

    def __init__(self, args: argparse.Namespace, clock: Clock) -> None:
        from scratch import perf

        perf.configure(args.threads)
        self.args, self.clock = args, clock
        self.arrays: dict[str, np.ndarray] = {}
        self._data: dict[str, np.ndarray] | None = None

    def data(self) -> dict[str, np.ndarray]:
        """The dataset (loaded once)."""
        if self._data is None:
            a = self.args
            self._data = load_arrays(a.data) if a.data else dataset_arrays(a.dataset, data_root(a), a.limit)
        return self._data

    def fresh(self) -> tuple[Any, Any, Any]:
        """Model (from ``--weights`` or seed 0), Adam and the loss."""
        from scratch.models import build_model
        from scratch.nn.loss import CrossEntropyLoss
        from scratch.optim import Adam

        model = build_model("lenet5", dtype=np.float32, rng=np.random.default_rng(0))
        if self.args.weights:
            with np.load(self.args.weights) as f:
                model.load_state_dict({k: f[k] for k in f.files})
        return model, Adam(list(model.parameters()), lr=1e-3), CrossEntropyLoss()

    def _batches(self, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Shuffled batches of the training arrays; asking for the next batch means the last step is done."""
        d = self.data()
        perm, bs = rng.permutation(len(d["y_train"])), self.args.batch_size
        for k, start in enumerate(range(0, len(perm), bs)):
            if k:
                self.clock.first_step_done()
            idx = perm[start:start + bs]
            yield d["x_train"][idx], d["y_train"][idx]
        self.clock.first_step_done()

    def train_epoch(self, model: Any, optimizer: Any, criterion: Any, rng: np.random.Generator) -> float:
        from scratch import training

        return training.train_one_epoch(model, self._batches(rng), criterion, optimizer)

    def train_step(self, model: Any, optimizer: Any, criterion: Any, x: np.ndarray, y: np.ndarray) -> float:
        """One training step as scratch's training loop takes it; the loss."""
        loss = float(criterion(model(x), y))
        optimizer.zero_grad()
        model.backward(criterion.backward(), input_grad=False)
        optimizer.step()
        return loss

    def predict(self, model: Any, x: np.ndarray) -> np.ndarray:
        model.eval()
        return model(x)

    def accuracy(self, model: Any) -> float:
        d, bs = self.data(), self.args.eval_batch
        preds = [np.argmax(self.predict(model, d["x_test"][i:i + bs]), axis=1)
                 for i in range(0, len(d["y_test"]), bs)]
        return float(np.mean(np.concatenate(preds) == d["y_test"]))

    def step(self) -> dict[str, Any]:
        data = load_step_data(self.args.step_data, self.args.batches)
        return {"rows": [self._step_at(batch, x, y) for batch, (x, y) in data.items()]}

    def _step_at(self, batch: int, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """The checked first step (loss and gradients kept for the parent), then the timed ones."""
        model, optimizer, criterion = self.fresh()
        t0 = time.perf_counter()
        loss = float(criterion(model(x), y))
        optimizer.zero_grad()
        model.backward(criterion.backward(), input_grad=False)
        self.arrays[f"step:{batch}:loss"] = np.float32(loss)
        for name, p in model.named_parameters():
            self.arrays[f"step:{batch}:{name}"] = p.grad.copy()
        optimizer.step()
        first = 1e3 * (time.perf_counter() - t0)
        self.clock.first_step_done()
        timing = time_calls(lambda: self.train_step(model, optimizer, criterion, x, y), self.args.repeats,
                            self.args.warmup)
        return {"batch": batch, "first_step_ms": first, "timing": timing}

    def epoch(self) -> dict[str, Any]:
        model, optimizer, criterion = self.fresh()
        d, bs = self.data(), self.args.batch_size
        self.train_step(model, optimizer, criterion, d["x_train"][:bs], d["y_train"][:bs])
        self.clock.first_step_done()
        rng = np.random.default_rng(self.args.seed)
        t0 = time.perf_counter()
        loss = self.train_epoch(model, optimizer, criterion, rng)
        return epoch_result(len(d["y_train"]), time.perf_counter() - t0, loss)

    def tta(self) -> dict[str, Any]:
        model, optimizer, criterion = self.fresh()
        rng = np.random.default_rng(self.args.seed)
        return time_to_accuracy(lambda epoch: self.train_epoch(model, optimizer, criterion, rng),
                                lambda: self.accuracy(model), self.args.tta_target, self.args.max_epochs)

    def eval(self) -> dict[str, Any]:
        model, _, _ = self.fresh()
        d, bs = self.data(), self.args.eval_batch
        t0 = time.perf_counter()
        self.predict(model, d["x_test"][:bs])
        first = 1e3 * (time.perf_counter() - t0)
        preds, times = [], []
        for start in range(0, len(d["y_test"]), bs):
            xb = d["x_test"][start:start + bs]
            t0 = time.perf_counter()
            logits = self.predict(model, xb)
            if len(xb) == bs:
                times.append(1e3 * (time.perf_counter() - t0))
            preds.append(np.argmax(logits, axis=1))
        pred = np.concatenate(preds)
        self.arrays["eval:pred"] = pred
        return eval_result(times, first, bs, pred, d["y_test"])


def run_scratch_worker(argv: Sequence[str]) -> int:
    """``--worker``: the scratch engine's parts in this process (the options of :mod:`benchmarks.torch_baseline`)."""
    args = add_worker_arguments(argparse.ArgumentParser(prog="bench_train --worker")).parse_args(argv)
    try:
        check_worker_args(args)
    except ValueError as e:
        raise SystemExit(f"bench_train --worker: {e}") from None
    from scratch import perf

    clock = Clock(args.t0)
    worker = ScratchWorker(args, clock)
    result: dict[str, Any] = {"engine": "scratch", "threads": perf.get_num_threads()}
    try:
        for part in ("step", "epoch", "tta", "eval"):
            if part in args.parts:
                result[part] = getattr(worker, part)()
    except ValueError as e:  # data or options a user gave by hand: one line
        raise SystemExit(f"bench_train --worker: {e}") from None
    modules = loaded_modules()
    result.update(startup_s=clock.startup_s, peak_rss_mb=peak_rss_mb(), modules=modules,
                  torch_imported=modules["torch"], scratch_threads=perf.info())
    if args.arrays_out:
        np.savez(args.arrays_out, **worker.arrays)
    if args.out:
        write_json(result, args.out)
    else:
        print(json.dumps(result, indent=2, default=str))
    return 0


# ------------------------------------------------------------------------------------------- parent

def write_inputs(folder: str, args: argparse.Namespace) -> dict[str, str]:
    """The workers' shared inputs in ``folder``: initial weights and the fixed step batches (.npz paths)."""
    from scratch.models import build_model

    weights = os.path.join(folder, "weights.npz")
    np.savez(weights, **build_model("lenet5", dtype=np.float32, rng=np.random.default_rng(0)).state_dict())
    rng = np.random.default_rng(1)
    batches = {}
    for b in args.batches:
        batches[f"x_{b}"] = rng.standard_normal((b, 1, 28, 28)).astype(np.float32)
        batches[f"y_{b}"] = rng.integers(0, 10, b).astype(np.int64)
    step = os.path.join(folder, "step.npz")
    np.savez(step, **batches)
    return {"weights": weights, "step": step}


def write_dataset(folder: str, name: str, data_dir: str | None, limit: int | None) -> str:
    """``name``'s train (first ``limit`` images) and test split, normalised float32, as one .npz; its path."""
    path = os.path.join(folder, f"data-{name}.npz")
    np.savez(path, **dataset_arrays(name, data_dir, limit))
    return path


def dataset_arrays(name: str, data_dir: str | None, limit: int | None) -> dict[str, np.ndarray]:
    """``name``'s train (first ``limit`` images) and test split through :mod:`scratch.data`, normalised as
    ``normalize_transform()``, float32 images and int64 labels."""
    from scratch.data import load_dataset, normalize_transform

    norm, arrays = normalize_transform(), {}
    for split, train in (("train", True), ("test", False)):
        try:
            ds = load_dataset(name, root=data_dir, train=train, download=False)
        except (FileNotFoundError, ValueError) as e:  # a user's missing data: one line, not a traceback
            raise SystemExit(f"bench_train: {e}") from None
        n = min(limit, len(ds)) if train and limit else len(ds)
        x, y = ds.get_batch(np.arange(n))
        arrays[f"x_{split}"], arrays[f"y_{split}"] = norm(x).astype(np.float32), y.astype(np.int64)
    return arrays


def run_worker(engine: str, worker_args: list[str], folder: str, tag: str, cold_cache: bool) -> dict[str, Any]:
    """One worker process for ``engine``: its JSON, with the arrays it saved under ``"arrays"``."""
    out, arrays = os.path.join(folder, f"{tag}.json"), os.path.join(folder, f"{tag}.npz")
    if engine == "scratch":
        cmd = [sys.executable, "-m", "benchmarks.bench_train", "--worker"]
    else:
        device, compile_mode = parse_engine(engine)
        cmd = [sys.executable, os.path.join(REPO, "benchmarks", "torch_baseline.py"), "--device", device]
        cmd += ["--compile", compile_mode] if compile_mode else []
    env = dict(os.environ)
    if cold_cache and engine == "scratch":
        env["NUMBA_CACHE_DIR"] = os.path.join(folder, "numba-cache")
    cmd += [*worker_args, "--out", out, "--arrays-out", arrays, "--t0", repr(time.time())]
    subprocess.run(cmd, check=True, cwd=REPO, env=env)
    with open(out) as f:
        result = json.load(f)
    with np.load(arrays) as f:
        result["arrays"] = {k: f[k] for k in f.files}
    return result


def run_rounds(engines: Sequence[str], rounds: int, launch: Callable[[str, str], dict[str, Any]],
               label: str) -> list[dict[str, dict[str, Any]]]:
    """``rounds`` rounds of one process per engine, the order reversed every other round; per round
    ``{engine: result}``."""
    out = []
    for r in range(rounds):
        order = list(engines) if r % 2 == 0 else list(engines)[::-1]
        results = {}
        for position, engine in enumerate(order):
            results[engine] = dict(launch(engine, f"{label}-{r + 1}-{engine}"), round=r + 1, position=position)
        out.append(results)
    return out


def check_pair(ours: dict[str, np.ndarray], ref: dict[str, np.ndarray], what: str) -> dict[str, Any]:
    """Raise AssertionError unless scratch's step losses and gradients match torch's (float32 tolerance)
    and their eval predictions agree on at least :data:`MIN_AGREEMENT` of the images.

    Returns the largest scaled error and the agreement count.
    """
    worst, compared, agreement = 0.0, 0, None
    for key in ref:
        if not key.startswith("step:"):
            continue
        if key not in ours:
            raise AssertionError(f"{what} {key}: missing from scratch's results")
        worst = max(worst, check_close(f"{what} {key}", ours[key], ref[key], np.float32))
        compared += 1
    if not compared:
        raise AssertionError(f"{what}: no step losses or gradients to compare")
    if "eval:pred" in ref:
        same = int(np.count_nonzero(ours["eval:pred"] == ref["eval:pred"]))
        total = len(ref["eval:pred"])
        if same < MIN_AGREEMENT * total:
            raise AssertionError(f"{what} eval predictions: engines agree on {same} of {total} images, "
                                 f"below {MIN_AGREEMENT:.1%}")
        agreement = {"same": same, "images": total}
    return {"max_scaled_error": worst, "arrays": compared, "agreement": agreement}


def check_rounds(rounds: Sequence[dict[str, dict[str, Any]]], runs: str = "main") -> list[dict[str, Any]]:
    """:func:`check_pair` of scratch against every torch engine of every round (before any report)."""
    checks = []
    for results in rounds:
        for engine, res in results.items():
            if engine != "scratch" and "scratch" in results:
                what = f"round {res['round']} scratch vs {engine}"
                checks.append(dict(check_pair(results["scratch"]["arrays"], res["arrays"], what),
                                   runs=runs, round=res["round"], engine=engine))
    return checks


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min and max of the per-process values (all None if there are none)."""
    v = [float(x) for x in values if x is not None]
    if not v:
        return {"median": None, "min": None, "max": None, "values": []}
    return {"median": float(np.median(v)), "min": min(v), "max": max(v), "values": v}


def pair_ratios(rounds: Sequence[dict[str, dict[str, Any]]], engine: str,
                get: Callable[[dict[str, Any]], float | None]) -> dict[str, Any]:
    """scratch / ``engine`` of ``get`` in each round (a pair of processes), and their :func:`spread`."""
    ratios = []
    for results in rounds:
        if "scratch" in results and engine in results:
            ours, ref = get(results["scratch"]), get(results[engine])
            if ours is not None and ref:
                ratios.append(ours / ref)
    return spread(ratios)


def _with_ratios(row: dict[str, Any], rounds: Sequence[dict[str, dict[str, Any]]], engines: Sequence[str],
                 get: Callable[[dict[str, Any]], float | None]) -> dict[str, Any]:
    if row["engine"] == "scratch":
        row["ratios"] = {e: pair_ratios(rounds, e, get) for e in engines if e != "scratch"}
    return row


def step_rows(rounds: Sequence[dict[str, dict[str, Any]]], engines: Sequence[str], batches: Sequence[int],
              peak: dict[str, Any] | None, threads: int) -> list[dict[str, Any]]:
    """Per batch and engine: the per-process medians aggregated, GFLOP/s, % of the measured peak, ratios."""
    peak_n = peak_mod.peak_gflops(peak, threads)
    rows = []
    for batch in batches:
        flops = step_flops("lenet5", batch)

        def timing(res: dict[str, Any], key: str, batch: int = batch) -> float:
            row = next(r for r in res["step"]["rows"] if r["batch"] == batch)
            return row["first_step_ms"] if key == "first" else row["timing"][key]

        for engine in engines:
            procs = [res[engine] for res in rounds if engine in res]
            med = spread([timing(p, "median_ms") for p in procs])
            gflops = flops / (med["median"] / 1e3) / 1e9
            row = {"engine": engine, "batch": batch, "median_ms": med["median"], "range_ms": [med["min"], med["max"]],
                   "min_ms": min(timing(p, "min_ms") for p in procs), "per_process": med["values"],
                   "first_step_ms": spread([timing(p, "first") for p in procs]), "flops": flops, "gflops": gflops,
                   "pct_peak": 100 * gflops / peak_n if peak_n else None,
                   "samples_per_s": batch / (med["median"] / 1e3)}
            rows.append(_with_ratios(row, rounds, engines, lambda res: timing(res, "median_ms")))
    return rows


def eval_rows(rounds: Sequence[dict[str, dict[str, Any]]], engines: Sequence[str]) -> list[dict[str, Any]]:
    """Per engine: ms per batch (median of the per-process medians, range), images/s, accuracy, ratios."""
    rows = []
    get = lambda res: res["eval"]["timing"]["median_ms"]  # noqa: E731
    for engine in engines:
        procs = [res[engine] for res in rounds if engine in res]
        med = spread([get(p) for p in procs])
        batch = procs[0]["eval"]["batch"]
        row = {"engine": engine, "batch": batch, "images": procs[0]["eval"]["images"], "median_ms": med["median"],
               "range_ms": [med["min"], med["max"]], "images_per_s": batch / (med["median"] / 1e3),
               "first_batch_ms": spread([p["eval"]["first_batch_ms"] for p in procs]),
               "accuracy": procs[0]["eval"]["accuracy"]}
        rows.append(_with_ratios(row, rounds, engines, get))
    return rows


def epoch_rows(rounds: Sequence[dict[str, dict[str, Any]]], engines: Sequence[str]) -> list[dict[str, Any]]:
    """Per engine: epoch seconds, startup (first process and the later, warm-cache ones), peak RSS, ratios."""
    rows = []
    get = lambda res: res["epoch"]["epoch_s"]  # noqa: E731
    for engine in engines:
        procs = [res[engine] for res in rounds if engine in res]
        epoch_s = spread([get(p) for p in procs])
        row = {"engine": engine, "samples": procs[0]["epoch"]["samples"], "epoch_s": epoch_s,
               "samples_per_s": procs[0]["epoch"]["samples"] / epoch_s["median"],
               "startup_s": spread([p["startup_s"] for p in procs]), "startup_first_s": procs[0]["startup_s"],
               "startup_later_s": spread([p["startup_s"] for p in procs[1:]]),
               "peak_rss_mb": spread([p["peak_rss_mb"] for p in procs]),
               "loss": [p["epoch"]["loss"] for p in procs]}
        rows.append(_with_ratios(row, rounds, engines, get))
    return rows


def tta_rows(dataset: str, rounds: Sequence[dict[str, dict[str, Any]]],
             engines: Sequence[str]) -> list[dict[str, Any]]:
    """Per engine: training seconds to the target (over the processes that reached it), epochs, accuracy."""
    rows = []
    for engine in engines:
        procs = [res[engine]["tta"] for res in rounds if engine in res]
        row = {"engine": engine, "dataset": dataset, "target": procs[0]["target"],
               "reached": sum(p["reached"] for p in procs), "processes": len(procs),
               "seconds": spread([p["seconds"] for p in procs]), "epochs": [p["epoch"] for p in procs],
               "best_accuracy": spread([p["best_accuracy"] for p in procs]),
               "eval_s": spread([p["eval_s"] for p in procs]), "history": [p["history"] for p in procs]}
        rows.append(_with_ratios(row, rounds, engines, lambda res: res["tta"]["seconds"]))
    return rows


def _range(lo: float | None, hi: float | None) -> str:
    return "n/a" if lo is None else f"{fmt(lo)}–{fmt(hi)}"


def _ratio(row: dict[str, Any], engine: str) -> str:
    r = row.get("ratios", {}).get(engine)
    if not r or r["median"] is None:
        return ""
    return f"{r['median']:.2f}x ({r['min']:.2f}–{r['max']:.2f})"


def step_table(rows: Sequence[dict[str, Any]], ref: str) -> str:
    body = [[r["engine"], r["batch"], fmt(r["median_ms"]), _range(*r["range_ms"]), fmt(r["min_ms"]),
             fmt(r["first_step_ms"]["median"]), fmt(r["gflops"]),
             "n/a" if r["pct_peak"] is None else f"{r['pct_peak']:.1f}%", _ratio(r, ref)] for r in rows]
    return markdown_table(["engine", "N", "median ms", "range ms", "min ms", "1st step ms", "GFLOP/s",
                           "% of peak", f"scratch/{ref}"], body)


def eval_table(rows: Sequence[dict[str, Any]], ref: str) -> str:
    body = [[r["engine"], r["batch"], fmt(r["median_ms"]), _range(*r["range_ms"]), f"{r['images_per_s']:.0f}",
             fmt(r["first_batch_ms"]["median"]), f"{r['accuracy']:.4f}", _ratio(r, ref)] for r in rows]
    return markdown_table(["engine", "batch", "ms/batch", "range ms", "images/s", "1st batch ms",
                           "accuracy (init weights)", f"scratch/{ref}"], body)


def epoch_table(rows: Sequence[dict[str, Any]], ref: str) -> str:
    body = [[r["engine"], fmt(r["epoch_s"]["median"]), _range(r["epoch_s"]["min"], r["epoch_s"]["max"]),
             f"{r['samples_per_s']:.0f}", fmt(r["startup_first_s"]), _range(r["startup_later_s"]["min"],
                                                                           r["startup_later_s"]["max"]),
             f"{r['peak_rss_mb']['median']:.0f}", _ratio(r, ref)] for r in rows]
    return markdown_table(["engine", "epoch s", "range s", "samples/s", "startup s (1st process)",
                           "startup s (later)", "peak RSS MB", f"scratch/{ref}"], body)


def tta_table(rows: Sequence[dict[str, Any]], ref: str) -> str:
    body = [[r["engine"], r["dataset"], f"{r['target']:.2%}", f"{r['reached']}/{r['processes']}",
             ",".join("-" if e is None else str(e) for e in r["epochs"]), fmt(r["seconds"]["median"]),
             _range(r["seconds"]["min"], r["seconds"]["max"]), f"{r['best_accuracy']['max']:.4f}",
             fmt(r["eval_s"]["median"]), _ratio(r, ref)] for r in rows]
    return markdown_table(["engine", "dataset", "target", "reached", "epoch", "train s", "range s",
                           "best accuracy", "eval s", f"scratch/{ref}"], body)


def in_process_rows(batches: Sequence[int], repeats: int, warmup: int, peak: dict[str, Any] | None,
                    threads: int) -> list[dict[str, Any]]:
    """:func:`bench_steps` (both engines in this process, interleaved) in the rows of :func:`step_rows`."""
    peak_n = peak_mod.peak_gflops(peak, threads)
    pin_threads(threads)
    rows = []
    for r in bench_steps(batches, ["cpu"], repeats, warmup):
        t = r["timing"]
        row = {"engine": r["engine"], "batch": r["batch"], "median_ms": t["median_ms"],
               "range_ms": [t["median_ms"], t["median_ms"]], "min_ms": t["min_ms"], "per_process": [t["median_ms"]],
               "first_step_ms": spread([r["first_call_ms"]]), "flops": r["flops"], "gflops": r["gflops"],
               "pct_peak": 100 * r["gflops"] / peak_n if peak_n else None, "samples_per_s": r["samples_per_s"],
               "in_process": True}
        if r["engine"] == "scratch" and r["ratio"]:
            row["ratios"] = {"torch-cpu": spread([r["ratio"]])}
        rows.append(row)
    return rows


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench_train", description="LeNet-5 training, scratch against torch, each "
                                "engine in its own process: step, eval, epoch, time to accuracy, peak.")
    names = lambda s: [v.strip() for v in s.split(",") if v.strip()]  # noqa: E731
    p.add_argument("--parts", type=names, default=list(DEFAULT_PARTS),
                   help=f"some of {','.join(PARENT_PARTS)} (default {','.join(DEFAULT_PARTS)})")
    p.add_argument("--tta", action="store_true", help="add the time-to-accuracy part (minutes per dataset)")
    p.add_argument("--tta-datasets", type=names, default=None,
                   help="datasets of the tta part (default fashion-mnist,mnist; --quick: digits)")
    p.add_argument("--tta-target", type=float, default=None,
                   help=f"test accuracy to reach (default per dataset: {TTA_TARGETS})")
    p.add_argument("--tta-rounds", type=int, default=1, help="pairs of tta processes per dataset")
    p.add_argument("--max-epochs", type=int, default=None, help="tta: most epochs (default 15)")
    p.add_argument("--rounds", type=int, default=None, help="pairs of worker processes (default 3)")
    p.add_argument("--threads", type=int, default=None, help="threads of every worker (default: all cores)")
    p.add_argument("--batches", type=int_list, default=None, help="step batch sizes (default 64,256)")
    p.add_argument("--repeats", type=int, default=None, help="timed steps per batch size and process (40)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps before timing (5)")
    p.add_argument("--dataset", default=None, help="epoch and eval: fashion-mnist (default), mnist or digits")
    p.add_argument("--data-dir", default=None, help="dataset root (default: $SCRATCH_DATA_DIR, else ./data)")
    p.add_argument("--limit", type=int, default=None, help="only the first N training images (epoch, tta)")
    p.add_argument("--batch-size", type=int, default=64, help="epoch and tta batch size")
    p.add_argument("--eval-batch", type=int, default=None, help="eval batch size (default 1000)")
    p.add_argument("--peak-n", type=int, default=None, help="sgemm size of the peak (default 2048)")
    p.add_argument("--torch-devices", type=names, default=["cpu"], help="torch engines, e.g. cpu,cuda")
    p.add_argument("--torch-compile", type=names, default=[],
                   help=f"also a torch.compile'd engine per device for each of these modes ({','.join(COMPILE_MODES)})")
    p.add_argument("--in-process", action="store_true",
                   help="time the step with both engines in this process, interleaved (the old mode)")
    p.add_argument("--cold-cache", action="store_true",
                   help="scratch workers use an empty Numba cache (the first compiles, the next reuse it)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: digits, batch 8, 3 steps, 512 images, 1 round, small peak")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    return p


def resolve_args(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the unset options from :data:`DEFAULTS` (or :data:`QUICK`) and check them (ValueError)."""
    for key, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.tta and "tta" not in args.parts:
        args.parts.append("tta")
    unknown = [p for p in args.parts if p not in PARENT_PARTS]
    if unknown or not args.parts:
        raise ValueError(f"--parts: expected some of {','.join(PARENT_PARTS)}, got {','.join(args.parts) or '?'}")
    bad = [d for d in args.tta_datasets if d not in TTA_TARGETS]
    if bad:
        raise ValueError(f"--tta-datasets: unknown {','.join(bad)} (expected {','.join(TTA_TARGETS)})")
    for name in ("rounds", "tta_rounds", "repeats", "batch_size", "eval_batch", "max_epochs", "peak_n"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    bad = [m for m in args.torch_compile if m not in COMPILE_MODES]
    if bad:
        raise ValueError(f"--torch-compile: unknown mode {','.join(bad)} (expected {','.join(COMPILE_MODES)})")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if args.warmup < 0 or (args.limit is not None and args.limit < 1):
        raise ValueError("--warmup must be >= 0 and --limit >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        return run_scratch_worker(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        resolve_args(args)
    except ValueError as e:
        raise SystemExit(f"bench_train: {e}") from None
    threads = args.threads or peak_mod.available_cores()
    engines = ["scratch", *(engine_name(d) for d in args.torch_devices),
               *(engine_name(d, m) for d in args.torch_devices for m in args.torch_compile)]
    ref = "torch-cpu" if "torch-cpu" in engines else engines[1]
    peak = peak_mod.measure_peak(args.peak_n, threads=threads) if "peak" in args.parts else None
    timed_step = "step" in args.parts and not args.in_process
    # Every worker run starts with the step part: its losses and gradients are checked against torch's
    # before anything is reported. Not asked for, it takes one untimed-in-the-report step per batch size.
    worker_parts = ["step", *(p for p in ("eval", "epoch") if p in args.parts)]
    if len(worker_parts) == 1 and not timed_step:
        worker_parts = []
    out: dict[str, Any] = {"benchmark": "bench_train", "peak": peak, "processes": [], "checks": [], "steps": [],
                           "eval": [], "epochs": [], "tta": []}
    with tempfile.TemporaryDirectory() as tmp:
        inputs = write_inputs(tmp, args)
        common = ["--threads", str(threads), "--weights", inputs["weights"], "--step-data", inputs["step"],
                  "--batches", ",".join(map(str, args.batches)), "--batch-size", str(args.batch_size),
                  "--eval-batch", str(args.eval_batch), "--max-epochs", str(args.max_epochs)]
        check_only = ["--repeats", "1", "--warmup", "0"]
        rounds: list[dict[str, dict[str, Any]]] = []
        if worker_parts:
            data = write_dataset(tmp, args.dataset, args.data_dir, args.limit)
            timing = ["--repeats", str(args.repeats), "--warmup", str(args.warmup)] if timed_step else check_only
            wargs = [*common, *timing, "--parts", ",".join(worker_parts), "--data", data]
            rounds = run_rounds(engines, args.rounds,
                                lambda e, tag: run_worker(e, wargs, tmp, tag, args.cold_cache), "main")
        tta_rounds = {}
        for dataset in args.tta_datasets if "tta" in args.parts else []:
            data = write_dataset(tmp, dataset, args.data_dir, args.limit)
            target = TTA_TARGETS[dataset] if args.tta_target is None else args.tta_target
            wargs = [*common, *check_only, "--parts", "step,tta", "--data", data, "--tta-target", str(target)]
            tta_rounds[dataset] = run_rounds(engines, args.tta_rounds,
                                             lambda e, tag, w=wargs: run_worker(e, w, tmp, tag, args.cold_cache),
                                             f"tta-{dataset}")
    # raises on a mismatch, before anything is reported
    out["checks"] = check_rounds(rounds) + [c for d, tr in tta_rounds.items() for c in check_rounds(tr, f"tta-{d}")]
    if timed_step:
        out["steps"] = step_rows(rounds, engines, args.batches, peak, threads)
    elif "step" in args.parts:
        out["steps"] = in_process_rows(args.batches, args.repeats, args.warmup, peak, threads)
    if "eval" in worker_parts:
        out["eval"] = eval_rows(rounds, engines)
    if "epoch" in worker_parts:
        out["epochs"] = epoch_rows(rounds, engines)
    for dataset, tr in tta_rounds.items():
        out["tta"] += tta_rows(dataset, tr, engines)
    for label, rs in [("main", rounds), *((f"tta-{d}", tr) for d, tr in tta_rounds.items())]:
        for results in rs:
            for engine, res in results.items():
                out["processes"].append({"runs": label, "engine": engine,
                                         **{k: v for k, v in res.items() if k != "arrays"}})
    env = environment(threads)
    torch_proc = next((p for p in out["processes"] if p["engine"] == ref), None)
    if peak is not None and torch_proc is not None:
        peak["torch_cpu_capability"] = torch_proc.get("torch_cpu_capability")
    out.update(environment=env, config={k: v for k, v in vars(args).items() if k != "out"}, threads=threads,
               engines=engines, epoch_dataset=args.dataset if out["epochs"] else None,
               epoch_batch_size=args.batch_size)
    print(report(out, ref))
    print(f"\nwrote {write_json(out, args.out)}")
    return 0


def report(out: dict[str, Any], ref: str) -> str:
    """The markdown report of a run's JSON: header, peak, step, eval, epoch and tta tables."""
    env, threads = out["environment"], out["threads"]
    lines = [f"## bench_train: LeNet5 float32, Adam; {env['machine']['cpu']}, {env['machine']['cores']} cores, "
             f"{threads} threads per engine, each engine in its own process, torch {env.get('torch')}, "
             f"numba {env['numba']} ({env['date']})"]
    if out["peak"]:
        lines += ["", "### measured peak", "", peak_mod.peak_table(out["peak"])]
    if out["checks"]:
        errs = max(c["max_scaled_error"] for c in out["checks"])
        agree = [c["agreement"] for c in out["checks"] if c["agreement"]]
        arrays = out["checks"][0].get("arrays")
        text = (f"checked before timing: loss and every gradient ({arrays} arrays per pair of processes), "
                f"largest scaled error {errs:.1e}")
        if agree:
            text += "; eval predictions agree on " + ", ".join(f"{a['same']}/{a['images']}" for a in agree)
        lines += ["", text]
    if out["steps"]:
        mode = "in this process, interleaved" if out["steps"][0].get("in_process") else (
            f"{len(out['steps'][0]['per_process'])} processes per engine, median of their medians")
        lines += ["", f"### training step ({mode})", "", step_table(out["steps"], ref)]
        lines += [f"batch {b}: {step_flops('lenet5', b) / 1e6:.1f} MFLOP per step"
                  for b in dict.fromkeys(r["batch"] for r in out["steps"])]
    if out["eval"]:
        e = out["eval"][0]
        lines += ["", f"### evaluation (forward only, batch {e['batch']}, {e['images']} test images)", "",
                  eval_table(out["eval"], ref)]
    if out["epochs"]:
        lines += ["", f"### one epoch: {out['epochs'][0]['samples']} images of {out['epoch_dataset']}, batch "
                  f"{out['epoch_batch_size']}", "", epoch_table(out["epochs"], ref)]
    if out["tta"]:
        lines += ["", "### time to accuracy (training seconds; evaluation timed apart)", "",
                  tta_table(out["tta"], ref)]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
