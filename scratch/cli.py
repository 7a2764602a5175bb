"""The ``scratchnet`` command line (also ``python -m scratch``): train, compare, augment-preview, bench."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

import numpy as np

ENGINES = ("scratch", "torch")
MODEL_NAMES = ("lenet5", "lenet5-classic", "simple-nn", "simple-cnn")
DATASETS = ("auto", "fashion-mnist", "mnist", "digits")


def write_json_atomic(obj, path: str) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file and an atomic rename."""
    from scratch.serialization import atomic_write

    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=2)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=DATASETS, default="auto",
                   help="auto: Fashion-MNIST where present or downloadable, else the bundled digits")
    p.add_argument("--data-dir", default=None, help="dataset root (default: $SCRATCH_DATA_DIR, else ./data)")
    p.add_argument("--download", action="store_true", help="download missing MNIST/Fashion-MNIST files")


def _add_augment_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("augmentation (with --augment; scratch.augment / torchvision v2, per image)")
    g.add_argument("--rotation", type=float, default=10.0, help="max rotation in degrees")
    g.add_argument("--translate", type=float, default=0.1, help="max shift as a fraction of the size")
    g.add_argument("--scale", type=float, default=0.1, help="zoom range 1±scale")
    g.add_argument("--shear", type=float, default=5.0, help="max shear in degrees")
    g.add_argument("--noise", type=float, default=0.0, help="Gaussian noise std (0: none)")


def _augment_options(args) -> dict:
    return dict(rotation=args.rotation, translate=args.translate, scale=args.scale or None, shear=args.shear,
                noise_std=args.noise)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scratchnet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model with either engine")
    t.add_argument("--engine", choices=ENGINES, default="scratch")
    t.add_argument("--model", choices=MODEL_NAMES, default="lenet5")
    _add_data_args(t)
    t.add_argument("--epochs", type=_positive_int, default=10)
    t.add_argument("--batch-size", type=_positive_int, default=64)
    t.add_argument("--lr", type=_positive_float, default=1e-3)
    t.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default="adam")
    t.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    t.add_argument("--weight-decay", type=float, default=None, help="default: the optimizer's own")
    t.add_argument("--val-fraction", type=float, default=0.1, help="share of the training set held out")
    t.add_argument("--patience", type=_positive_int, default=5, help="early-stopping patience (epochs)")
    t.add_argument("--lr-patience", type=int, default=0, help="ReduceLROnPlateau patience (epochs)")
    t.add_argument("--lr-factor", type=float, default=0.5, help="ReduceLROnPlateau factor")
    t.add_argument("--lr-threshold", type=float, default=1e-4,
                   help="ReduceLROnPlateau threshold (relative): smaller improvements count as a plateau")
    t.add_argument("--augment", action="store_true", help="random rotation/affine/noise on training batches")
    _add_augment_args(t)
    t.add_argument("--limit-train", type=int, default=None, help="use only the first N training images")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    t.add_argument("--device", default="auto", help="torch engine: auto|cpu|cuda")
    t.add_argument("--resident", action="store_true",
                   help="torch engine: copy the datasets to the device once and cut batches there")
    t.add_argument("--compile", nargs="?", const="default", default=None,
                   choices=("default", "reduce-overhead", "max-autotune"),
                   help="torch engine: torch.compile the model with this mode (reduce-overhead: CUDA graphs)")
    t.add_argument("--out", default="runs/latest", help="folder for history, plots and checkpoints")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    t.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")

    c = sub.add_parser("compare", help="end-to-end parity: both engines, same weights, same batches")
    c.add_argument("--model", choices=MODEL_NAMES, default="lenet5")
    c.add_argument("--steps", type=_positive_int, default=200)
    c.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    c.add_argument("--batch-size", type=_positive_int, default=64)
    c.add_argument("--lr", type=_positive_float, default=1e-3)
    c.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default="adam")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--every", type=_positive_int, default=1, help="print every k-th step")
    c.add_argument("--json", default=None, help="also write the result to this JSON file")
    _add_data_args(c)

    a = sub.add_parser("augment-preview", help="a grid of original and augmented training images")
    _add_data_args(a)
    a.add_argument("--n", type=_positive_int, default=8, help="number of images")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--out", default="augment_preview.png")
    _add_augment_args(a)

    b = sub.add_parser("bench", help="benchmarks of both engines (benchmarks/README.md; a source checkout)")
    b.add_argument("suite", choices=("ops", "train", "plot"),
                   help="ops: every op; train: LeNet-5 step and epoch; plot: PNG charts from their JSON")
    b.add_argument("options", nargs=argparse.REMAINDER, help="the suite's options (e.g. --quick, --help)")
    return parser


def _resolve_dataset(args) -> str:
    from scratch.data import resolve_auto_dataset

    if args.dataset != "auto":
        return args.dataset
    name, reason = resolve_auto_dataset(args.data_dir)
    print(f"dataset auto -> {name} ({reason})")
    return name


def cmd_train(args) -> int:
    from scratch.augment import Compose, Normalize, default_train_augmentation
    from scratch.data import DataLoader, load_dataset, random_split
    from scratch.metrics import classification_report, confusion_matrix
    from scratch.plots import plot_confusion_matrix, plot_history

    if args.engine == "scratch" and (args.resident or args.compile):
        raise SystemExit("--resident and --compile apply to --engine torch only")
    name = _resolve_dataset(args)
    train_full = load_dataset(name, root=args.data_dir, train=True, download=args.download)
    test = load_dataset(name, root=args.data_dir, train=False, download=args.download)
    if args.limit_train:
        from scratch.data import Subset

        train_full = Subset(train_full, np.arange(min(args.limit_train, len(train_full))))
    if not 0 < args.val_fraction < 1:
        raise SystemExit(f"--val-fraction must be in (0, 1), got {args.val_fraction}")
    train, val = random_split(train_full, [1 - args.val_fraction, args.val_fraction], seed=args.seed)
    normalize = Normalize((0.5,), (0.5,))
    scratch_train_tf = normalize
    if args.augment and args.engine == "scratch":
        scratch_train_tf = Compose([default_train_augmentation(**_augment_options(args)), normalize])
    train_loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, seed=args.seed,
                              transform=scratch_train_tf if args.engine == "scratch" else None)
    val_loader = DataLoader(val, batch_size=512, transform=normalize)
    test_loader = DataLoader(test, batch_size=512, transform=normalize)
    os.makedirs(args.out, exist_ok=True)
    print(f"engine {args.engine}, model {args.model}, dataset {name}: {len(train)} train / {len(val)} val / "
          f"{len(test)} test images, {args.epochs} epochs, batch {args.batch_size}, {args.optimizer} lr {args.lr}")
    if args.engine == "scratch":
        run = _train_scratch(args, train_loader, val_loader, test_loader)
    else:
        run = _train_torch(args, train_loader, val_loader, test_loader)
    history, result = run
    classes = list(getattr(test, "classes", [str(i) for i in range(10)]))
    print(f"\ntest loss {result.loss:.4f}  test accuracy {result.accuracy:.4f}\n")
    labels = list(range(len(classes)))
    print(classification_report(result.labels, result.predictions, labels=labels, target_names=classes, digits=4))
    history["test_loss"], history["test_acc"] = result.loss, result.accuracy
    write_json_atomic(history, os.path.join(args.out, "history.json"))
    plot_history(history, os.path.join(args.out, "curves.png"))
    cm = confusion_matrix(result.labels, result.predictions, labels=labels)
    plot_confusion_matrix(cm, classes, os.path.join(args.out, "confusion_matrix.png"))
    print(f"wrote history.json, curves.png, confusion_matrix.png and the final model to {args.out}")
    return 0


def _train_scratch(args, train_loader, val_loader, test_loader):
    from scratch import optim, serialization
    from scratch.callbacks import EarlyStopping
    from scratch.models import build_model
    from scratch.nn.loss import CrossEntropyLoss
    from scratch.optim.lr_scheduler import ReduceLROnPlateau
    from scratch.training import evaluate, fit

    model = build_model(args.model, dtype=np.dtype(args.dtype), rng=np.random.default_rng(args.seed))
    params = list(model.parameters())
    optimizer = _make_optimizer(optim, args, params)
    scheduler = ReduceLROnPlateau(optimizer, mode="min", factor=args.lr_factor, patience=args.lr_patience,
                                  threshold=args.lr_threshold)
    stopper = EarlyStopping(patience=args.patience)
    criterion = CrossEntropyLoss()
    history = fit(model, train_loader, val_loader, criterion, optimizer, epochs=args.epochs,
                  scheduler=scheduler, early_stopping=stopper,
                  checkpoint_path=os.path.join(args.out, "checkpoint.npz"), resume=args.resume,
                  progress=not args.no_progress)
    result = evaluate(model, test_loader, criterion)
    serialization.save(model, os.path.join(args.out, "model.npz"))
    return history, result


def _train_torch(args, train_loader, val_loader, test_loader):
    import torch

    from torch_impl.augment import default_train_augmentation as torch_augmentation
    from torch_impl.callbacks import EarlyStopping
    from torch_impl.models import build_model
    from torch_impl.training import DeviceLoader, TensorLoader, evaluate, fit, resolve_device, save_checkpoint

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
                  early_stopping=stopper, checkpoint_path=os.path.join(args.out, "checkpoint.pt"),
                  resume=args.resume, progress=not args.no_progress)
    result = evaluate(model, test_t, criterion)
    save_checkpoint(os.path.join(args.out, "model.pt"), model.state_dict())
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


def cmd_compare(args) -> int:
    from scratch.compare import compare_engines

    name = _resolve_dataset(args)
    r = compare_engines(model=args.model, steps=args.steps, dtype=args.dtype, batch_size=args.batch_size,
                        lr=args.lr, optimizer=args.optimizer, dataset=name, root=args.data_dir, seed=args.seed)
    print(f"{'step':>6} {'scratch loss':>22} {'torch loss':>22} {'|diff|':>10}")
    for i, (a, b) in enumerate(zip(r.losses_scratch, r.losses_torch, strict=True), 1):
        if i % args.every == 0 or i == 1 or i == args.steps:
            print(f"{i:6d} {a:22.15g} {b:22.15g} {abs(a - b):10.2e}")
    print(f"\nmodel {r.model}, {r.dtype}, {args.steps} steps on {r.dataset}")
    print(f"largest loss difference:   {r.max_loss_diff:.3e} (relative {r.max_loss_rel_diff:.3e})")
    print(f"largest weight difference: {r.max_weight_diff:.3e} (relative {r.max_weight_rel_diff:.3e})")
    print(f"time per step (median):    scratch {r.ms_per_step_scratch:.2f} ms, torch {r.ms_per_step_torch:.2f} ms")
    if args.json:
        from dataclasses import asdict

        write_json_atomic(asdict(r), args.json)
    return 0


def cmd_augment_preview(args) -> int:
    from scratch.augment import default_train_augmentation, preview_grid
    from scratch.data import load_dataset

    name = _resolve_dataset(args)
    data = load_dataset(name, root=args.data_dir, train=True, download=args.download)
    rng = np.random.default_rng(args.seed)
    idx = np.sort(rng.choice(len(data), size=min(args.n, len(data)), replace=False))
    images, labels = data.get_batch(idx)
    classes = list(getattr(data, "classes", []))
    path = preview_grid(images, labels, default_train_augmentation(**_augment_options(args), seed=args.seed), args.out,
                        class_names=classes or None, n=len(idx))
    print(f"wrote {path}")
    return 0


def cmd_bench(args) -> int:
    import importlib
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])  # benchmarks/ sits next to the package, not in it
    if root not in sys.path:
        sys.path.insert(0, root)
    module = {"ops": "bench_ops", "train": "bench_train", "plot": "plot"}[args.suite]
    return importlib.import_module(f"benchmarks.{module}").main(args.options)


COMMANDS = {"train": cmd_train, "compare": cmd_compare, "augment-preview": cmd_augment_preview,
            "bench": cmd_bench}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    code = COMMANDS[args.command](args)
    print(f"done in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return code
