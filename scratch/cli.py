"""The ``scratchnet`` command line (also ``python -m scratch``): train, compare, augment-preview, download, bench.

Every user mistake the parser or :func:`check_train_args` can see ends in one line on stderr and exit
status 2, before any data is loaded; a failure while running (a corrupt file, a failed download) ends in one
line and status 1 (``SCRATCH_DEBUG=1`` shows the traceback instead). A run folder (``--out``) holds one run
of one engine, is locked while a run uses it, and is never overwritten without ``--overwrite``; ``--resume``
checks the options against the checkpoint's. Ctrl-C and SIGTERM stop training at the next step boundary and
print the checkpoint that holds and the command that resumes (status 130 / 143).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ENGINES = ("scratch", "torch")
MODEL_NAMES = ("lenet5", "lenet5-classic", "simple-nn", "simple-cnn", "simple-cnn-bn")
DATASETS = ("auto", "fashion-mnist", "mnist", "digits")
BACKENDS = ("reference", "numba")
CHECKPOINTS = {"scratch": "checkpoint.npz", "torch": "checkpoint.pt"}
MODELS = {"scratch": "model.npz", "torch": "model.pt"}
RUN_FILES = ("history.json", "curves.png", "confusion_matrix.png", "confusion_matrix_normalized.png",
             *CHECKPOINTS.values(), *MODELS.values())
LOCK_FILE = ".scratchnet.lock"
# options a resumed run must share with its checkpoint (they fix the model, the data or the optimizer state)
IMMUTABLE = ("engine", "model", "dataset", "dtype", "seed", "limit_train", "val_fraction", "batch_size", "optimizer",
             "momentum", "weight_decay", "augment", "rotation", "translate", "scale", "shear", "noise", "patience",
             "lr_patience", "lr_factor", "lr_threshold")
DESCRIPTION = """Train and compare a small CNN written twice: from scratch (NumPy with hand-written
backpropagation, Numba kernels) and in PyTorch. "scratchnet COMMAND --help" explains each command."""


class CLIError(Exception):
    """A user mistake or an unusable input: one line on stderr, exit status ``code`` (2: bad arguments)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default after its help text (options whose default is None or off say it themselves)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help or ""
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (status 2) that points at ``--help`` instead of repeating the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ---------------------------------------------------------------------------------------------- option types

def _whole(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text}")
        return value
    parse.__name__ = f"whole number >= {minimum}"
    return parse


def _number(low: float | None = None, high: float | None = None, low_open: bool = False, high_open: bool = False):
    """A finite float in [low, high] (open ends where asked)."""
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    span = f"in {lo}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}{hi}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        bad = not math.isfinite(value)
        bad |= low is not None and (value <= low if low_open else value < low)
        bad |= high is not None and (value >= high if high_open else value > high)
        if bad:
            raise argparse.ArgumentTypeError(f"expected a finite number {span}, got {text}")
        return value
    parse.__name__ = "number"
    return parse


_positive_int = _whole(1)
_positive = _number(0.0, low_open=True)
_non_negative = _number(0.0)


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=DATASETS, default="auto",
                   help="auto: Fashion-MNIST where present or downloadable, else scikit-learn's bundled digits")
    p.add_argument("--data-dir", default=None,
                   help="folder holding MNIST/raw and FashionMNIST/raw (None: $SCRATCH_DATA_DIR, else the "
                        "per-user cache ~/.cache/scratchnet)")
    p.add_argument("--download", action="store_true", help="download missing MNIST/Fashion-MNIST files (verified)")


def _add_augment_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("augmentation (with --augment; scratch.augment / torchvision v2, per image)")
    g.add_argument("--rotation", type=_non_negative, default=10.0, help="max rotation in degrees")
    g.add_argument("--translate", type=_number(0.0, 1.0), default=0.1, help="max shift as a fraction of the size")
    g.add_argument("--scale", type=_number(0.0, 1.0, high_open=True), default=0.1,
                   help="zoom range 1±scale (0: no zoom)")
    g.add_argument("--shear", type=_number(0.0, 90.0, high_open=True), default=5.0, help="max shear in degrees")
    g.add_argument("--noise", type=_non_negative, default=0.0, help="Gaussian noise std (0: none)")


def _augment_options(args) -> dict:
    return dict(rotation=args.rotation, translate=args.translate, scale=args.scale or None, shear=args.shear,
                noise_std=args.noise)


def _version() -> str:
    from scratch import __version__

    return f"scratchnet {__version__}"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = _Parser(prog="scratchnet", description=DESCRIPTION, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model with either engine", formatter_class=_Formatter,
                       description="Train a model, then write history.json, curves.png, confusion matrices, "
                                   "the checkpoint and the final model to --out.")
    t.add_argument("--engine", choices=ENGINES, default="scratch",
                   help="scratch: NumPy/Numba with hand-written backprop; torch: PyTorch")
    t.add_argument("--backend", choices=BACKENDS, default=None,
                   help="scratch engine: numba (the kernels) or reference (plain NumPy, slow, readable) "
                        "(None: $SCRATCH_BACKEND, else numba)")
    t.add_argument("--model", choices=MODEL_NAMES, default="lenet5", help="the network (scratch.models)")
    _add_data_args(t)
    t.add_argument("--epochs", type=_positive_int, default=10, help="number of passes over the training split")
    t.add_argument("--batch-size", type=_positive_int, default=64, help="training images per optimizer step")
    t.add_argument("--lr", type=_positive, default=1e-3, help="initial learning rate")
    t.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default="adam", help="the optimizer")
    t.add_argument("--momentum", type=_number(0.0, 1.0, high_open=True), default=0.9, help="SGD momentum")
    t.add_argument("--weight-decay", type=_non_negative, default=None,
                   help="L2 penalty (None: the optimizer's own default)")
    t.add_argument("--val-fraction", type=_number(0.0, 1.0, True, True), default=0.1,
                   help="share of the training split held out for validation")
    t.add_argument("--patience", type=_positive_int, default=5, help="early-stopping patience (epochs)")
    t.add_argument("--lr-patience", type=_whole(0), default=0, help="ReduceLROnPlateau patience (epochs)")
    t.add_argument("--lr-factor", type=_number(0.0, 1.0, True, True), default=0.5,
                   help="ReduceLROnPlateau factor: the lr is multiplied by it on a plateau")
    t.add_argument("--lr-threshold", type=_non_negative, default=1e-4,
                   help="ReduceLROnPlateau threshold (relative): smaller improvements count as a plateau")
    t.add_argument("--augment", action="store_true", help="random rotation/affine/noise on training batches")
    _add_augment_args(t)
    t.add_argument("--limit-train", type=_positive_int, default=None,
                   help="use only the first N training images (None: all)")
    t.add_argument("--seed", type=int, default=0, help="seed of the weights, the split and the shuffling")
    t.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="floating-point type")
    t.add_argument("--device", default="auto", help="torch engine: auto, cpu or cuda[:N]")
    t.add_argument("--resident", action="store_true",
                   help="torch engine: copy the datasets to the device once and cut batches there")
    t.add_argument("--compile", nargs="?", const="default", default=None,
                   choices=("default", "reduce-overhead", "max-autotune"),
                   help="torch engine: torch.compile the model with this mode (reduce-overhead: CUDA graphs)")
    t.add_argument("--out", default="runs/latest", help="folder for history, plots and checkpoints (one run)")
    t.add_argument("--resume", action="store_true", help="continue the run in OUT from its checkpoint")
    t.add_argument("--overwrite", action="store_true", help="replace the run already in OUT")
    t.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")

    c = sub.add_parser("compare", help="end-to-end parity: both engines, same weights, same batches",
                       formatter_class=_Formatter,
                       description="Train both engines from the same weights on the same batches; print each "
                                   "step's losses and the largest differences.")
    c.add_argument("--model", choices=MODEL_NAMES, default="lenet5", help="the network")
    c.add_argument("--backend", choices=BACKENDS, default=None,
                   help="scratch's backend (None: $SCRATCH_BACKEND, else numba)")
    c.add_argument("--steps", type=_positive_int, default=200, help="optimizer steps")
    c.add_argument("--dtype", choices=("float32", "float64"), default="float64", help="floating-point type")
    c.add_argument("--batch-size", type=_positive_int, default=64, help="images per step")
    c.add_argument("--lr", type=_positive, default=1e-3, help="learning rate")
    c.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default="adam", help="the optimizer")
    c.add_argument("--seed", type=int, default=0, help="seed of the weights and the shuffling")
    c.add_argument("--every", type=_positive_int, default=1, help="print every k-th step")
    c.add_argument("--json", default=None, help="also write the result to this JSON file")
    _add_data_args(c)

    a = sub.add_parser("augment-preview", help="a grid of original and augmented training images",
                       formatter_class=_Formatter, description="Write a PNG grid: originals and augmented copies.")
    _add_data_args(a)
    a.add_argument("--n", type=_positive_int, default=8, help="number of images")
    a.add_argument("--seed", type=int, default=0, help="seed of the sample choice and the augmentation")
    a.add_argument("--out", default="augment_preview.png", help="PNG file to write")
    _add_augment_args(a)

    d = sub.add_parser("download", help="download MNIST / Fashion-MNIST (verified by SHA-256)",
                       formatter_class=_Formatter,
                       description="Download both splits of a dataset into the data folder, verified by the "
                                   "SHA-256 of their content (mirrors: $SCRATCH_DATA_MIRROR).")
    d.add_argument("--dataset", choices=("all", "mnist", "fashion-mnist"), default="all", help="what to download")
    d.add_argument("--data-dir", default=None,
                   help="target folder (None: $SCRATCH_DATA_DIR, else the per-user cache ~/.cache/scratchnet)")

    for name, text in TOOLS.items():  # parsed by the tools themselves: `scratchnet NAME --help`
        sub.add_parser(name, help=text, add_help=False)

    b = sub.add_parser("bench", help="benchmarks of both engines (benchmarks/README.md; a source checkout)",
                       formatter_class=_Formatter)
    b.add_argument("suite", choices=("ops", "train", "plot"),
                   help="ops: every op; train: LeNet-5 step and epoch; plot: PNG charts from their JSON")
    b.add_argument("options", nargs=argparse.REMAINDER, help="the suite's options (e.g. --quick, --help)")
    return parser


# ---------------------------------------------------------------------------------------------- helpers

def _finite_or_none(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, np.generic):
        return _finite_or_none(obj.item())
    return obj


def write_json_atomic(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as strict JSON (inf and nan become null) through a temporary file and an atomic rename."""
    from scratch.serialization import atomic_write

    with atomic_write(path, "w") as f:
        json.dump(_finite_or_none(obj), f, indent=2, allow_nan=False)


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _need_torch(what: str) -> None:
    if not _torch_available():
        raise CLIError(f"{what} needs PyTorch, which is not installed: pip install 'scratchnet[torch]'")


def _use_backend(args) -> str | None:
    import scratch

    if args.backend is not None:
        scratch.set_backend(args.backend)
    return scratch.get_backend()


def _dataset_class(name: str):
    from scratch.data import MNIST, FashionMNIST

    return {"mnist": MNIST, "fashion-mnist": FashionMNIST}.get(name)


def _check_data(name: str, root: str | None, download: bool, splits: Sequence[bool] = (True, False)) -> None:
    """The files of ``splits`` are there (or ``download`` will fetch them); else a CLIError naming them."""
    cls = _dataset_class(name)
    if cls is None or download:
        return
    raw = cls.raw_folder(root)
    for train in splits:
        if not cls.is_present(root, train):
            missing = [s for s in cls.split_files(train) if not ((raw / s).is_file() or (raw / f"{s}.gz").is_file())]
            raise CLIError(cls.missing_message(root, train, missing))


def _resolve_dataset(args) -> str:
    from scratch.data import resolve_auto_dataset

    if args.dataset != "auto":
        return args.dataset
    name, reason = resolve_auto_dataset(args.data_dir)
    print(f"dataset auto -> {name} ({reason})")
    return name


class _AsDtype:
    """Cast a batch to the model's dtype (the datasets yield float32)."""

    random = False

    def __init__(self, dtype: str):
        self.dtype = np.dtype(dtype)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x.astype(self.dtype, copy=False)


# ---------------------------------------------------------------------------------------------- run folder

@contextlib.contextmanager
def run_folder(out: str, *, engine: str, resume: bool, overwrite: bool):
    """Create and lock ``out`` for one run of ``engine``; refuse a folder that holds another run.

    Refused (CLIError): ``out`` is a file; another process holds the lock; ``out`` holds a run and neither
    ``resume`` nor ``overwrite`` is given; ``resume`` without this engine's checkpoint, or with another
    engine's files. ``overwrite`` deletes the previous run's files first. Stale temporary files of killed
    writes are removed. Folders this call created are removed again when the block fails before writing
    anything into them.
    """
    from scratch.serialization import remove_stale_temporaries

    path = Path(out)
    if path.exists() and not path.is_dir():
        raise CLIError(f"--out {out} is a file, not a folder; choose a folder for the run")
    if resume and overwrite:
        raise CLIError("--resume and --overwrite contradict each other: give one")
    created = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    lock = _lock(path)
    ok = False
    try:
        present = [f for f in RUN_FILES if (path / f).exists()]
        other = "torch" if engine == "scratch" else "scratch"
        foreign = [f for f in (CHECKPOINTS[other], MODELS[other]) if f in present]
        if resume:
            if foreign:
                raise CLIError(f"--out {out} holds a {other} run ({', '.join(foreign)}); --resume it with "
                               f"--engine {other}, or choose another --out")
            if CHECKPOINTS[engine] not in present:
                raise CLIError(f"--resume: no checkpoint at {path / CHECKPOINTS[engine]} (train without "
                               f"--resume first, or point --out at the run to continue)")
        elif present and not overwrite:
            raise CLIError(f"--out {out} already holds a run ({', '.join(present)}); add --resume to continue "
                           f"it, --overwrite to replace it, or choose another --out")
        elif present:
            for f in present:
                (path / f).unlink()
        removed = remove_stale_temporaries(path)
        if removed:
            print(f"removed {len(removed)} temporary file(s) left by an interrupted write: {', '.join(removed)}")
        yield path
        ok = True
    finally:
        lock.close()
        if not ok and created:
            with contextlib.suppress(OSError):
                (path / LOCK_FILE).unlink()
                for folder in created:  # innermost first
                    folder.rmdir()


def _lock(path: Path):
    """An exclusive, non-blocking lock on ``path/.scratchnet.lock`` (held while the file stays open)."""
    f = open(path / LOCK_FILE, "a+")  # noqa: SIM115 (closed by run_folder)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return f
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        raise CLIError(f"--out {path} is in use by another scratchnet run (pid {holder}); wait for it to "
                       f"finish or choose another --out") from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


# ---------------------------------------------------------------------------------------------- train

def check_train_args(args) -> None:
    """Every check of ``train``'s options that needs no data: raises CLIError with one line."""
    if args.engine == "scratch":
        bad = [o for o, v in (("--resident", args.resident), ("--compile", args.compile),
                              ("--device", args.device != "auto")) if v]
        if bad:
            raise CLIError(f"{' and '.join(bad)} appl{'y' if len(bad) > 1 else 'ies'} to --engine torch only")
    else:
        if args.backend is not None:
            raise CLIError("--backend applies to --engine scratch only (torch has its own kernels)")
        _need_torch("--engine torch")
        from torch_impl.training import resolve_device

        try:
            resolve_device(args.device)
        except (ValueError, RuntimeError) as e:
            message = str(e).splitlines()[0]
            raise CLIError(message if message.startswith("--device") else f"--device {args.device}: {message}") \
                from None


def _config(args, dataset: str) -> dict:
    keys = ("engine", "model", "dtype", "seed", "limit_train", "val_fraction", "batch_size", "optimizer",
            "momentum", "weight_decay", "augment", "rotation", "translate", "scale", "shear", "noise", "patience",
            "lr_patience", "lr_factor", "lr_threshold", "epochs", "lr")
    return {"dataset": dataset, **{k: getattr(args, k) for k in keys}}


def _check_resume(args, config: dict, checkpoint: Path) -> dict | None:
    """Compare the options with the checkpoint's; return the stored config (None for an old checkpoint)."""
    if args.engine == "scratch":
        from scratch.checkpoint import load_checkpoint
    else:
        from torch_impl.training import load_checkpoint
    try:
        stored = load_checkpoint(checkpoint).get("config")
    except ValueError as e:
        raise CLIError(str(e), code=1) from None
    if stored is None:
        print(f"note: {checkpoint} records no options (an older checkpoint); they are not checked")
        return None
    changed = [f"--{k.replace('_', '-')} {stored.get(k)} -> {config[k]}" for k in IMMUTABLE
               if k in stored and stored.get(k) != config[k]]
    if changed:
        raise CLIError(f"--resume: these options differ from the checkpoint's and cannot change in a run: "
                       f"{'; '.join(changed)} (use the original values, or start a new run in another --out)")
    for key in ("epochs", "lr"):
        if stored.get(key) != config[key]:
            print(f"resume: --{key} {stored.get(key)} -> {config[key]} (applied)")
    return stored


def _split_sizes(n: int, val_fraction: float) -> tuple[int, int]:
    """The (train, val) sizes random_split gives for fractions (1 - v, v)."""
    sizes = [math.floor(n * (1 - val_fraction)), math.floor(n * val_fraction)]
    for i in range(n - sum(sizes)):
        sizes[i % 2] += 1
    return sizes[0], sizes[1]


def _kernels_cached() -> bool:
    """Whether Numba's on-disk cache already holds compiled scratch kernels (else the first run compiles)."""
    import scratch.kernels

    custom = os.environ.get("NUMBA_CACHE_DIR", "").strip()  # when set, Numba caches there only
    place = Path(custom) if custom else Path(scratch.kernels.__file__).parent / "__pycache__"
    return place.is_dir() and next(place.rglob("*.nbi"), None) is not None


def cmd_train(args, argv: Sequence[str]) -> int:
    """``scratchnet train``."""
    check_train_args(args)
    with run_folder(args.out, engine=args.engine, resume=args.resume, overwrite=args.overwrite) as out:
        name = _resolve_dataset(args)
        _check_data(name, args.data_dir, args.download)
        config = _config(args, name)
        if args.resume:
            _check_resume(args, config, out / CHECKPOINTS[args.engine])
        return _train(args, argv, name, config, out)


def _train(args, argv: Sequence[str], name: str, config: dict, out: Path) -> int:
    from scratch import perf
    from scratch.augment import Compose, Normalize, default_train_augmentation
    from scratch.data import DataLoader, Subset, load_dataset, random_split
    from scratch.training import TrainingInterrupted, stop_on_signals

    backend = _use_backend(args) if args.engine == "scratch" else None
    train_full = load_dataset(name, root=args.data_dir, train=True, download=args.download)
    test = load_dataset(name, root=args.data_dir, train=False, download=args.download)
    if args.limit_train:
        train_full = Subset(train_full, np.arange(min(args.limit_train, len(train_full))))
    n_train, n_val = _split_sizes(len(train_full), args.val_fraction)
    if n_val == 0 or n_train == 0:
        raise CLIError(f"--val-fraction {args.val_fraction} of {len(train_full)} images leaves "
                       f"{n_train} for training and {n_val} for validation; both need at least one "
                       f"(raise --limit-train or change --val-fraction)")
    train, val = random_split(train_full, [1 - args.val_fraction, args.val_fraction], seed=args.seed)
    normalize = Normalize((0.5,), (0.5,))
    cast = [_AsDtype(args.dtype)] if args.engine == "scratch" and args.dtype != "float32" else []
    eval_tf = Compose([normalize, *cast]) if cast else normalize
    train_tf = eval_tf
    if args.augment and args.engine == "scratch":
        train_tf = Compose([default_train_augmentation(**_augment_options(args)), normalize, *cast])
    train_loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, seed=args.seed,
                              transform=train_tf if args.engine == "scratch" else None)
    val_loader = DataLoader(val, batch_size=512, transform=eval_tf)
    test_loader = DataLoader(test, batch_size=512, transform=eval_tf)
    perf_info = perf.configure()
    engine_name = f"{args.engine} ({backend})" if backend else args.engine
    print(f"engine {engine_name}, model {args.model}, dataset {name}: {len(train)} train / {len(val)} val / "
          f"{len(test)} test images, {args.epochs} epochs, batch {args.batch_size}, {args.optimizer} lr {args.lr}, "
          f"{args.dtype}")
    if backend == "numba" and not _kernels_cached():
        print("first run: Numba compiles scratch's kernels during the first steps (LeNet-5: about 30 s on 2 cores; "
              "cached on disk for later runs)", flush=True)
    checkpoint = out / CHECKPOINTS[args.engine]
    try:
        with stop_on_signals():
            trainer = _train_scratch if args.engine == "scratch" else _train_torch
            history, result = trainer(args, train_loader, val_loader, test_loader, config, checkpoint, out)
    except TrainingInterrupted as stop:
        _report_interrupt(stop, argv)
        return 143 if stop.signal_name == "SIGTERM" else 130
    _write_results(args, history, result, test, name, backend, perf_info, out)
    return 0


def _report_interrupt(stop, argv: Sequence[str]) -> None:
    words = [w for w in argv if w != "--overwrite"]
    if "--resume" not in words:
        words.append("--resume")
    where = f"stopped at epoch {stop.epoch}" + (f", step {stop.step}" if stop.step else " (validating)")
    if stop.checkpoint:
        held = (f"{stop.checkpoint} holds epoch {stop.checkpoint_epoch}; resume with: "
                f"scratchnet {shlex.join(words)}")
    else:
        held = "no epoch had finished, so no checkpoint was written; rerun the command to start again"
    print(f"\n{stop.signal_name} received: {where}. {held}", file=sys.stderr)


def _write_results(args, history, result, test, name, backend, perf_info, out: Path) -> None:
    from scratch.metrics import classification_report, confusion_matrix
    from scratch.plots import plot_confusion_matrix, plot_history

    classes = list(getattr(test, "classes", [str(i) for i in range(10)]))
    print(f"\ntest loss {result.loss:.4f}  test accuracy {result.accuracy:.4f}\n")
    labels = list(range(len(classes)))
    print(classification_report(result.labels, result.predictions, labels=labels, target_names=classes, digits=4))
    history["test_loss"], history["test_acc"] = result.loss, result.accuracy
    from scratch import __version__

    history["run"] = {"engine": args.engine, "backend": backend, "model": args.model, "dataset": name,
                      "dtype": args.dtype, "version": __version__, "config": _config(args, name), "perf": perf_info}
    write_json_atomic(history, out / "history.json")
    engine = f"{args.engine} engine" + (f" ({backend})" if backend else "")
    title = f"{engine} · {args.model} · {name} · test accuracy {100 * result.accuracy:.2f}%"
    plot_history({k: v for k, v in history.items() if k != "run"}, out / "curves.png", title=title)
    cm = confusion_matrix(result.labels, result.predictions, labels=labels)
    plot_confusion_matrix(cm, classes, out / "confusion_matrix.png", title=f"Confusion matrix ({title})")
    plot_confusion_matrix(cm, classes, out / "confusion_matrix_normalized.png", normalize=True,
                          title="Confusion matrix, each row divided by its true-class count")
    print(f"wrote history.json, curves.png, confusion_matrix.png, confusion_matrix_normalized.png and "
          f"{MODELS[args.engine]} to {out}")
    from scratch.visualize import load_run, write_pictures

    model, run = load_run(out)
    pictures = write_pictures(model, run, test, out)
    print(f"wrote {', '.join(p.name for p in pictures)} (what the network learned; scratchnet visualize {out})")


def _lr_applier(config: dict, optimizer):
    """After a resume: apply a changed --lr to the restored optimizer (else keep its scheduled rate)."""
    def apply(state: dict) -> None:
        stored = state.get("config") or {}
        if stored.get("lr") is not None and stored["lr"] != config["lr"]:
            for group in optimizer.param_groups:
                group["lr"] = config["lr"]
    return apply


def _train_scratch(args, train_loader, val_loader, test_loader, config, checkpoint, out):
    from scratch import optim, serialization
    from scratch.callbacks import EarlyStopping
    from scratch.models import build_model
    from scratch.nn.loss import CrossEntropyLoss
    from scratch.optim.lr_scheduler import ReduceLROnPlateau
    from scratch.training import evaluate, fit

    model = build_model(args.model, dtype=np.dtype(args.dtype), rng=np.random.default_rng(args.seed))
    optimizer = _make_optimizer(optim, args, list(model.parameters()))
    scheduler = ReduceLROnPlateau(optimizer, mode="min", factor=args.lr_factor, patience=args.lr_patience,
                                  threshold=args.lr_threshold)
    stopper = EarlyStopping(patience=args.patience)
    criterion = CrossEntropyLoss()
    history = fit(model, train_loader, val_loader, criterion, optimizer, epochs=args.epochs,
                  scheduler=scheduler, early_stopping=stopper, checkpoint_path=checkpoint, resume=args.resume,
                  progress=not args.no_progress, config=config, after_resume=_lr_applier(config, optimizer))
    result = evaluate(model, test_loader, criterion)
    serialization.save(model, out / MODELS["scratch"])
    return history, result


def _train_torch(args, train_loader, val_loader, test_loader, config, checkpoint, out):
    import torch

    from torch_impl.augment import default_train_augmentation as torch_augmentation
    from torch_impl.callbacks import EarlyStopping
    from torch_impl.models import build_model
    from torch_impl.training import DeviceLoader, TensorLoader, evaluate, fit, resolve_device, save_state

    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    dtype = getattr(torch, args.dtype)
    model = build_model(args.model, dtype=dtype, device=device)
    if args.compile:  # in place: parameter names and state dicts stay the plain model's
        model.compile(mode=None if args.compile == "default" else args.compile)
    mean = torch.tensor(0.5, dtype=dtype, device=device)
    normalize = lambda x: (x - mean) / mean
    train_tf = normalize
    if args.augment:
        aug = torch_augmentation(**_augment_options(args))
        train_tf = lambda x: normalize(aug(x))
    wrap = DeviceLoader if args.resident else TensorLoader
    train_t = wrap(train_loader, device, dtype, transform=train_tf)
    val_t = wrap(val_loader, device, dtype)
    test_t = wrap(test_loader, device, dtype)
    optimizer = _make_optimizer(torch.optim, args, model.parameters())
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=args.lr_factor,
                                                           patience=args.lr_patience, threshold=args.lr_threshold)
    stopper = EarlyStopping(patience=args.patience)
    criterion = torch.nn.CrossEntropyLoss()
    history = fit(model, train_t, val_t, criterion, optimizer, epochs=args.epochs, scheduler=scheduler,
                  early_stopping=stopper, checkpoint_path=checkpoint, resume=args.resume,
                  progress=not args.no_progress, config=config, after_resume=_lr_applier(config, optimizer))
    result = evaluate(model, test_t, criterion)
    save_state(out / MODELS["torch"], model.state_dict())
    return history, result


def _make_optimizer(optim_module, args, params):
    kwargs = {"lr": args.lr}
    if args.weight_decay is not None:
        kwargs["weight_decay"] = args.weight_decay
    if args.optimizer == "adam":
        return optim_module.Adam(params, **kwargs)
    if args.optimizer == "adamw":
        return optim_module.AdamW(params, **kwargs)
    return optim_module.SGD(params, momentum=args.momentum, **kwargs)


# ---------------------------------------------------------------------------------------------- other commands

def cmd_compare(args, argv: Sequence[str]) -> int:
    """``scratchnet compare``."""
    _need_torch("compare")
    from scratch import perf
    from torch_impl.compare import compare_engines

    backend = _use_backend(args)
    name = _resolve_dataset(args)
    _check_data(name, args.data_dir, args.download, splits=(True,))
    perf_info = perf.configure()
    r = compare_engines(model=args.model, steps=args.steps, dtype=args.dtype, batch_size=args.batch_size,
                        lr=args.lr, optimizer=args.optimizer, dataset=name, root=args.data_dir, seed=args.seed)
    r.backend, r.perf = backend, perf_info
    print(f"{'step':>6} {'scratch loss':>22} {'torch loss':>22} {'|diff|':>10}")
    for i, (a, b) in enumerate(zip(r.losses_scratch, r.losses_torch, strict=True), 1):
        if i % args.every == 0 or i == 1 or i == args.steps:
            print(f"{i:6d} {a:22.15g} {b:22.15g} {abs(a - b):10.2e}")
    print(f"\nmodel {r.model}, {r.dtype}, {args.steps} steps on {r.dataset}, scratch backend {backend}")
    print(f"largest loss difference:   {r.max_loss_diff:.3e} (relative {r.max_loss_rel_diff:.3e})")
    print(f"largest weight difference: {r.max_weight_diff:.3e} (relative {r.max_weight_rel_diff:.3e})")
    print(f"time per step (median):    scratch {r.ms_per_step_scratch:.2f} ms, torch {r.ms_per_step_torch:.2f} ms")
    if args.json:
        from dataclasses import asdict

        write_json_atomic(asdict(r), args.json)
    return 0


def cmd_augment_preview(args, argv: Sequence[str]) -> int:
    """``scratchnet augment-preview``."""
    from scratch.augment import default_train_augmentation, preview_grid
    from scratch.data import load_dataset

    if Path(args.out).is_dir():
        raise CLIError(f"--out {args.out} is a folder; give the PNG file to write")
    name = _resolve_dataset(args)
    _check_data(name, args.data_dir, args.download, splits=(True,))
    data = load_dataset(name, root=args.data_dir, train=True, download=args.download)
    rng = np.random.default_rng(args.seed)
    idx = np.sort(rng.choice(len(data), size=min(args.n, len(data)), replace=False))
    images, labels = data.get_batch(idx)
    classes = list(getattr(data, "classes", []))
    path = preview_grid(images, labels, default_train_augmentation(**_augment_options(args), seed=args.seed), args.out,
                        class_names=classes or None, n=len(idx))
    print(f"wrote {path}")
    return 0


def cmd_download(args, argv: Sequence[str]) -> int:
    """``scratchnet download``: both splits of MNIST and/or Fashion-MNIST into the data folder."""
    from scratch.data import MNIST, FashionMNIST

    classes = {"mnist": [MNIST], "fashion-mnist": [FashionMNIST], "all": [MNIST, FashionMNIST]}[args.dataset]
    for cls in classes:
        for train in (True, False):
            cls.locate(args.data_dir, train, download=True)
        print(f"{cls.display_name}: all four files verified in {cls.raw_folder(args.data_dir)}")
    return 0


def cmd_bench(args, argv: Sequence[str]) -> int:
    """``scratchnet bench``: the benchmark suites of a source checkout."""
    import importlib

    root = str(Path(__file__).resolve().parents[1])  # benchmarks/ sits next to the package, not in it
    if root not in sys.path:
        sys.path.insert(0, root)
    module = {"ops": "bench_ops", "train": "bench_train", "plot": "plot"}[args.suite]
    return importlib.import_module(f"benchmarks.{module}").main(args.options)


TOOLS = {"gradcheck": "check an op's backward (or yours) three ways: itself, finite differences, torch",
         "explain": "a worked example of an op: one output and one gradient written out term by term",
         "visualize": "pictures of a trained run: conv1's filters, feature maps, confident mistakes"}


COMMANDS = {"train": cmd_train, "compare": cmd_compare, "augment-preview": cmd_augment_preview,
            "download": cmd_download, "bench": cmd_bench}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status (bad arguments exit 2 through argparse or CLIError)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in TOOLS:  # each tool has its own parser and messages
        import importlib

        try:
            return importlib.import_module(f"scratch.{argv[0]}").main(argv[1:])
        except BrokenPipeError:  # `scratchnet gradcheck ... | head`: the reader left; nothing to report
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    prefix = f"scratchnet {args.command}: error:"
    try:
        code = COMMANDS[args.command](args, argv)
    except CLIError as e:
        print(f"{prefix} {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print(f"\nscratchnet {args.command}: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, RuntimeError) as e:  # corrupt files, failed downloads, non-finite losses
        if os.environ.get("SCRATCH_DEBUG"):
            raise
        print(f"{prefix} {e}", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return code
