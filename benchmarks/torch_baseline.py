"""The PyTorch side of :mod:`benchmarks.bench_train`: LeNet-5 trained as a plain PyTorch script would.

It imports only the standard library, NumPy and torch (torch inside :func:`main`, so that the scratch
worker can share this module's torch-free helpers without loading torch): never scratch, torch_impl or
any other module of ``benchmarks``; its JSON records which of them ended up in ``sys.modules``. Run it
as a script (``python benchmarks/torch_baseline.py``), as the benchmark does.

The model is :class:`torch_impl.models.LeNet5` written out again with the same parameter names (conv 1→6
k5 p2, tanh, avgpool 2, conv 6→16 k5, tanh, avgpool 2, flatten, fc 400→120→84→10 with tanh), so the
parent's state dict loads. Training: Adam (lr 1e-3), ``CrossEntropyLoss``, the dataset as two tensors,
a ``torch.randperm`` per epoch and slices of it as batches, ``torch.set_num_threads(threads)``.

Parts (``--parts``, in this order whatever the order given):

* ``step``: from the ``--weights`` state dict, one training step on each fixed batch of ``--step-data``
  (loss and every gradient saved to ``--arrays-out`` for the parent's check), then ``--warmup`` untimed and
  ``--repeats`` timed steps on that batch: median, minimum and p90 ms.
* ``epoch``: from the same weights, one warm-up step, then one timed pass over the training set.
* ``tta``: from the same weights, train up to ``--max-epochs`` epochs, test accuracy after each (not on
  the training clock), until it reaches ``--tta-target``.
* ``eval``: forward only (``model.eval()``, ``torch.inference_mode()``) over the test set in batches of
  ``--eval-batch``: a warm-up batch, then ms per batch; the predictions go to ``--arrays-out``.

Data: ``--data``, an .npz with ``x_train, y_train, x_test, y_test`` already normalised (float32
(N, 1, 28, 28), int64 labels), as the parent writes it; or, run by hand, ``--dataset fashion-mnist|mnist``
read from the IDX files under ``--data-dir`` (default ``$SCRATCH_DATA_DIR``; torchvision's layout
``<root>/FashionMNIST/raw/*.gz``) and normalised as scratch's ``normalize_transform()``: (x/255 − 0.5) / 0.5.
The reader is its own (:func:`read_idx`): this script imports no scratch, and torchvision's datasets
want the files extracted beside the .gz, which a read-only data folder does not allow.

Usage::

    python benchmarks/torch_baseline.py --dataset fashion-mnist --parts epoch,eval --threads 2
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

PARTS = ("step", "epoch", "tta", "eval")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
DATA_DIR_ENV = "SCRATCH_DATA_DIR"
IDX_FOLDERS = {"fashion-mnist": "FashionMNIST", "mnist": "MNIST"}
NORMALIZE_MEAN, NORMALIZE_STD = 0.5, 0.5  # scratch.data.normalize_transform(): Normalize((0.5,), (0.5,))


# --------------------------------------------------------------------- torch-free helpers (both workers)

def parts_list(text: str) -> list[str]:
    """``--parts`` parsed: names of :data:`PARTS`, comma-separated (argparse type; ArgumentTypeError if unknown)."""
    names = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in names if p not in PARTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected some of {','.join(PARTS)}, got {text!r}")
    return names


def engine_name(device: str, compile_mode: str | None = None) -> str:
    """``torch-<device>``, with ``+compile`` (mode default) or ``+<mode>`` for a compiled model."""
    if compile_mode is None:
        return f"torch-{device}"
    return f"torch-{device}+{'compile' if compile_mode == 'default' else compile_mode}"


def parse_engine(name: str) -> tuple[str, str | None]:
    """The inverse of :func:`engine_name`: (device, compile mode or None)."""
    device, _, variant = name.removeprefix("torch-").partition("+")
    return device, (None if not variant else "default" if variant == "compile" else variant)


def int_list(text: str) -> list[int]:
    """A comma-separated list of positive integers (argparse type)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    return values


def add_worker_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every worker (scratch's and this one) takes; the parent passes the same to both."""
    p.add_argument("--parts", type=parts_list, default=["epoch", "eval"], help=f"some of {','.join(PARTS)}")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="intra-op threads")
    p.add_argument("--data", default=None, help=".npz with x_train, y_train, x_test, y_test (normalised)")
    p.add_argument("--dataset", default="fashion-mnist", choices=tuple(IDX_FOLDERS),
                   help="without --data: the IDX files to read")
    p.add_argument("--data-dir", default=None, help=f"without --data: dataset root (default ${DATA_DIR_ENV})")
    p.add_argument("--limit", type=int, default=None, help="without --data: only the first N training images")
    p.add_argument("--weights", default=None, help=".npz state dict to start from (default: seed-0 init)")
    p.add_argument("--step-data", default=None, help="step: .npz with x_N, y_N for each batch size N")
    p.add_argument("--batches", type=int_list, default=[64, 256], help="step: batch sizes")
    p.add_argument("--repeats", type=int, default=40, help="step: timed steps per batch size")
    p.add_argument("--warmup", type=int, default=5, help="step: untimed steps before timing")
    p.add_argument("--batch-size", type=int, default=64, help="epoch and tta: batch size")
    p.add_argument("--eval-batch", type=int, default=1000, help="eval: batch size")
    p.add_argument("--max-epochs", type=int, default=15, help="tta: most epochs")
    p.add_argument("--tta-target", type=float, default=0.89, help="tta: test accuracy to reach")
    p.add_argument("--seed", type=int, default=0, help="shuffling seed")
    p.add_argument("--arrays-out", default=None, help="step losses and gradients, eval predictions (.npz)")
    p.add_argument("--out", default=None, help="JSON results (default: stdout)")
    p.add_argument("--t0", type=float, default=None, help="time.time() at launch (for startup_s)")
    return p


def check_worker_args(args: argparse.Namespace) -> None:
    """Raise ValueError (one line) for options that cannot work together."""
    for name in ("threads", "repeats", "batch_size", "eval_batch", "max_epochs"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.warmup < 0:
        raise ValueError(f"--warmup must be >= 0, got {args.warmup}")
    if "step" in args.parts and not args.step_data:
        raise ValueError("--parts step needs --step-data (an .npz with x_N, y_N per batch size)")


class Clock:
    """Seconds from the process's launch (``t0``, the parent's ``time.time()``) to its first training step."""

    def __init__(self, t0: float | None) -> None:
        self.t0 = t0
        self.startup_s: float | None = None

    def first_step_done(self) -> None:
        """Call after every training step; the first call fixes ``startup_s``."""
        if self.startup_s is None and self.t0 is not None:
            self.startup_s = time.time() - self.t0


def summary(samples_ms: Sequence[float]) -> dict[str, Any]:
    """Median, minimum and p90 of per-call times (ms), with the samples."""
    a = np.asarray(samples_ms, dtype=np.float64)
    return {"median_ms": float(np.median(a)), "min_ms": float(a.min()), "p90_ms": float(np.percentile(a, 90)),
            "number": 1, "samples_ms": [float(v) for v in a]}


def time_calls(fn: Callable[[], Any], repeats: int, warmup: int,
               sync: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """``warmup`` untimed calls, then :func:`summary` of ``repeats`` calls timed one by one."""
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        samples.append(1e3 * (time.perf_counter() - t0))
    return summary(samples)


def time_to_accuracy(train_epoch: Callable[[int], float], accuracy: Callable[[], float], target: float,
                     max_epochs: int) -> dict[str, Any]:
    """Train epoch by epoch until ``accuracy()`` (test set) reaches ``target``, at most ``max_epochs``.

    Only ``train_epoch(epoch)`` (returns the mean training loss) is on the training clock; the evaluations
    are timed apart. ``seconds``: training seconds up to the epoch that reached the target (None if none).
    """
    train_s = eval_s = 0.0
    history = []
    for epoch in range(1, max_epochs + 1):
        t0 = time.perf_counter()
        loss = train_epoch(epoch)
        train_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        acc = float(accuracy())
        eval_s += time.perf_counter() - t0
        history.append({"epoch": epoch, "train_s": train_s, "loss": float(loss), "accuracy": acc})
        if acc >= target:
            break
    reached = history[-1]["accuracy"] >= target
    return {"target": target, "reached": reached, "epoch": history[-1]["epoch"] if reached else None,
            "seconds": train_s if reached else None, "train_s": train_s, "eval_s": eval_s,
            "best_accuracy": max(h["accuracy"] for h in history), "history": history}


def epoch_result(samples: int, seconds: float, loss: float) -> dict[str, Any]:
    """What the epoch part reports."""
    return {"samples": samples, "epoch_s": seconds, "samples_per_s": samples / seconds, "loss": float(loss)}


def eval_result(batch_ms: Sequence[float], first_ms: float, batch: int, preds: np.ndarray,
                labels: np.ndarray) -> dict[str, Any]:
    """What the eval part reports: ms per batch (median over the full batches), images/s, accuracy."""
    full = list(batch_ms) or [first_ms]
    t = summary(full)
    return {"batch": batch, "first_batch_ms": first_ms, "timing": t, "images": int(len(labels)),
            "images_per_s": batch / (t["median_ms"] / 1e3), "accuracy": float(np.mean(preds == labels))}


def load_arrays(path: str) -> dict[str, np.ndarray]:
    """The parent's dataset .npz (``--data``): x_train, y_train, x_test, y_test, already normalised."""
    with np.load(path) as f:
        return {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}


def data_root(args: argparse.Namespace) -> str:
    """``--data-dir``, else ``$SCRATCH_DATA_DIR`` (ValueError, one line, if neither is set)."""
    root = args.data_dir or os.environ.get(DATA_DIR_ENV, "").strip()
    if not root:
        raise ValueError(f"no data: pass --data, or --data-dir (or set ${DATA_DIR_ENV}) with --dataset")
    return root


def read_idx(path: str) -> np.ndarray:
    """A uint8 IDX file (MNIST's format), gzip-compressed or not (ValueError naming a missing or bad file)."""
    if not os.path.exists(path):
        raise ValueError(f"missing data file {path}")
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path}: not a uint8 IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_step_data(path: str, batches: Sequence[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The fixed (x, y) batch of each size from the parent's .npz (keys ``x_N``, ``y_N``)."""
    with np.load(path) as f:
        missing = [b for b in batches if f"x_{b}" not in f]
        if missing:
            raise ValueError(f"{path}: no batch of size {missing}")
        return {b: (f[f"x_{b}"], f[f"y_{b}"]) for b in batches}


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


def loaded_modules() -> dict[str, bool]:
    """Which of the engines' packages this process imported (the isolation the benchmark relies on)."""
    return {name: name in sys.modules for name in ("torch", "scratch", "torch_impl", "benchmarks")}


def write_result(obj: dict[str, Any], path: str | None) -> None:
    """``obj`` as JSON to ``path`` (atomically: a temporary file, then a rename), or to stdout."""
    text = json.dumps(obj, indent=2, default=lambda v: v.item() if isinstance(v, np.generic) else str(v))
    if path is None:
        print(text)
        return
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------- torch

def build_model(torch: Any) -> Any:
    """LeNet-5 with torch_impl's parameter names (conv1, conv2, fc1, fc2, fc3)."""
    from collections import OrderedDict

    nn = torch.nn
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 6, 5, padding=2)), ("act1", nn.Tanh()), ("pool1", nn.AvgPool2d(2)),
        ("conv2", nn.Conv2d(6, 16, 5)), ("act2", nn.Tanh()), ("pool2", nn.AvgPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(16 * 5 * 5, 120)), ("act3", nn.Tanh()),
        ("fc2", nn.Linear(120, 84)), ("act4", nn.Tanh()),
        ("fc3", nn.Linear(84, 10)),
    ]))


class TorchWorker:
    """The four parts in PyTorch, on ``args.device``."""

    def __init__(self, args: argparse.Namespace, clock: Clock) -> None:
        import torch

        self.torch, self.args, self.clock = torch, args, clock
        self.device = torch.device(args.device)
        self.sync: Callable[[], None] = torch.cuda.synchronize if self.device.type == "cuda" else lambda: None
        if self.device.type == "cuda":  # float32 as scratch computes it, so the parent's check holds
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        self.arrays: dict[str, np.ndarray] = {}
        self._data: dict[str, Any] | None = None

    def data(self) -> dict[str, Any]:
        """The dataset as tensors on the device (loaded once)."""
        if self._data is None:
            arrays = load_arrays(self.args.data) if self.args.data else self._idx_arrays()
            self._data = {k: self.torch.from_numpy(v).to(self.device) for k, v in arrays.items()}
        return self._data

    def _idx_arrays(self) -> dict[str, np.ndarray]:
        """Run by hand: ``--dataset``'s IDX files under ``<root>/<FashionMNIST|MNIST>/raw`` (:func:`read_idx`),
        scaled to [0, 1] and normalised as scratch's ``normalize_transform()``."""
        raw = os.path.join(data_root(self.args), IDX_FOLDERS[self.args.dataset], "raw")
        out = {}
        for split, stem in (("train", "train"), ("test", "t10k")):
            images = read_idx(os.path.join(raw, f"{stem}-images-idx3-ubyte.gz"))
            labels = read_idx(os.path.join(raw, f"{stem}-labels-idx1-ubyte.gz"))
            if split == "train" and self.args.limit:
                images, labels = images[:self.args.limit], labels[:self.args.limit]
            x = images[:, None].astype(np.float32) / np.float32(255)
            out[f"x_{split}"] = (x - np.float32(NORMALIZE_MEAN)) / np.float32(NORMALIZE_STD)
            out[f"y_{split}"] = labels.astype(np.int64)
        return out

    def fresh(self) -> tuple[Any, Any, Any]:
        """Model (from ``--weights`` or seed 0), Adam and the loss."""
        torch = self.torch
        torch.manual_seed(0)
        model = build_model(torch)
        if self.args.weights:
            with np.load(self.args.weights) as f:
                model.load_state_dict({k: torch.from_numpy(f[k]) for k in f.files})
        model.to(self.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        if self.args.compile:  # the optimizer holds the same parameters; the compiled module wraps them
            model = torch.compile(model, mode=None if self.args.compile == "default" else self.args.compile)
        return model, optimizer, torch.nn.CrossEntropyLoss()

    def train_epoch(self, model: Any, optimizer: Any, criterion: Any, generator: Any) -> float:
        """One shuffled pass over the training tensors; the mean loss."""
        d = self.data()
        x, y, n, bs = d["x_train"], d["y_train"], len(d["y_train"]), self.args.batch_size
        model.train()
        perm = self.torch.randperm(n, generator=generator).to(self.device)
        total = 0.0
        for start in range(0, n, bs):
            idx = perm[start:start + bs]
            optimizer.zero_grad()
            loss = criterion(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            self.clock.first_step_done()
        return total / n

    def predict(self, model: Any, x: Any) -> Any:
        """Forward only, in eval mode: the logits."""
        model.eval()
        with self.torch.inference_mode():
            return model(x)

    def accuracy(self, model: Any) -> float:
        d = self.data()
        bs = self.args.eval_batch
        preds = [self.predict(model, d["x_test"][i:i + bs]).argmax(1) for i in range(0, len(d["y_test"]), bs)]
        return float((self.torch.cat(preds) == d["y_test"]).float().mean())

    def step(self) -> dict[str, Any]:
        data = load_step_data(self.args.step_data, self.args.batches)
        return {"rows": [self._step_at(batch, x, y) for batch, (x, y) in data.items()]}

    def _step_at(self, batch: int, x_np: np.ndarray, y_np: np.ndarray) -> dict[str, Any]:
        """The checked first step (loss and gradients kept for the parent), then the timed ones."""
        model, optimizer, criterion = self.fresh()
        x, y = self.torch.from_numpy(x_np).to(self.device), self.torch.from_numpy(y_np).to(self.device)

        def one_step() -> None:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()

        t0 = time.perf_counter()
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        self.arrays[f"step:{batch}:loss"] = np.float32(loss.item())
        for name, p in model.named_parameters():  # a compiled module names them _orig_mod.<name>
            self.arrays[f"step:{batch}:{name.removeprefix('_orig_mod.')}"] = p.grad.detach().cpu().numpy().copy()
        optimizer.step()
        self.sync()
        first = 1e3 * (time.perf_counter() - t0)
        self.clock.first_step_done()
        return {"batch": batch, "first_step_ms": first,
                "timing": time_calls(one_step, self.args.repeats, self.args.warmup, self.sync)}

    def epoch(self) -> dict[str, Any]:
        model, optimizer, criterion = self.fresh()
        d = self.data()
        bs = self.args.batch_size
        optimizer.zero_grad()
        criterion(model(d["x_train"][:bs]), d["y_train"][:bs]).backward()
        optimizer.step()
        self.sync()
        self.clock.first_step_done()
        generator = self.torch.Generator().manual_seed(self.args.seed)
        t0 = time.perf_counter()
        loss = self.train_epoch(model, optimizer, criterion, generator)
        self.sync()
        return epoch_result(len(d["y_train"]), time.perf_counter() - t0, loss)

    def tta(self) -> dict[str, Any]:
        model, optimizer, criterion = self.fresh()
        generator = self.torch.Generator().manual_seed(self.args.seed)

        def train_epoch(epoch: int) -> float:
            loss = self.train_epoch(model, optimizer, criterion, generator)
            self.sync()
            return loss

        return time_to_accuracy(train_epoch, lambda: self.accuracy(model), self.args.tta_target,
                                self.args.max_epochs)

    def eval(self) -> dict[str, Any]:
        model, _, _ = self.fresh()
        d = self.data()
        bs, n = self.args.eval_batch, len(d["y_test"])
        t0 = time.perf_counter()
        self.predict(model, d["x_test"][:bs])
        self.sync()
        first = 1e3 * (time.perf_counter() - t0)
        preds, times = [], []
        for start in range(0, n, bs):
            xb = d["x_test"][start:start + bs]
            t0 = time.perf_counter()
            logits = self.predict(model, xb)
            self.sync()
            if len(xb) == bs:
                times.append(1e3 * (time.perf_counter() - t0))
            preds.append(logits.argmax(1).cpu().numpy())
        pred = np.concatenate(preds)
        self.arrays["eval:pred"] = pred
        return eval_result(times, first, bs, pred, d["y_test"].cpu().numpy())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="torch_baseline", description="LeNet-5 training, plain PyTorch.")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    p.add_argument("--compile", default=None, choices=COMPILE_MODES,
                   help="wrap the model in torch.compile with this mode (default: eager)")
    return add_worker_arguments(p)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the parts asked for and write their JSON (and the arrays for the parent's check)."""
    args = build_parser().parse_args(argv)
    try:
        check_worker_args(args)
    except ValueError as e:
        raise SystemExit(f"torch_baseline: {e}") from None
    import torch

    torch.set_num_threads(args.threads)
    clock = Clock(args.t0)
    worker = TorchWorker(args, clock)
    result: dict[str, Any] = {"engine": engine_name(args.device, args.compile), "threads": torch.get_num_threads(),
                              "torch": torch.__version__, "compile": args.compile}
    capability = getattr(torch.backends.cpu, "get_cpu_capability", None)
    result["torch_cpu_capability"] = capability() if capability else None
    try:
        for part in PARTS:
            if part in args.parts:
                result[part] = getattr(worker, part)()
    except ValueError as e:  # data or options a user gave by hand: one line
        raise SystemExit(f"torch_baseline: {e}") from None
    result.update(startup_s=clock.startup_s, peak_rss_mb=peak_rss_mb(), modules=loaded_modules())
    if worker.device.type == "cuda":
        result["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    if args.arrays_out:
        np.savez(args.arrays_out, **worker.arrays)
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
