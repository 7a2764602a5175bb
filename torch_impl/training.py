"""Training loops for the PyTorch engine, with the same names and signatures as :mod:`scratch.training`.

Batches come from scratch's :class:`scratch.data.DataLoader` (NumPy), either through :class:`TensorLoader`,
which moves each batch to the device, or through :class:`DeviceLoader`, which moves the whole dataset once and
cuts the batches on the device. Both apply an optional on-device transform (torchvision augmentation) and
yield the same batches in the same order.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from scratch.checkpoint import state_digest
from scratch.serialization import atomic_write
from scratch.training import (
    Engine,
    EvalResult,
    NonFiniteLossError,
    check_stop,
    eval_result,
    progress_bar,
    run_fit,
)

__all__ = ["DeviceLoader", "EvalResult", "NonFiniteLossError", "TensorLoader", "evaluate", "fit", "resolve_device",
           "save_checkpoint", "save_state", "load_checkpoint", "train_one_epoch"]


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without CUDA raises a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda: CUDA is not available on this machine (use --device cpu or auto)")
    return torch.device(device)


class TensorLoader:
    """Wraps a NumPy batch loader: yields ``(transform(x), y)`` tensors on ``device``, x in ``dtype``."""

    def __init__(self, loader, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.loader, self.device, self.dtype, self.transform = loader, torch.device(device), dtype, transform

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.loader:
            xt = torch.from_numpy(np.ascontiguousarray(x)).to(self.device, self.dtype, non_blocking=True)
            yt = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(self.device, non_blocking=True)
            yield (self.transform(xt) if self.transform is not None else xt), yt

    def state_dict(self) -> Any:
        return self.loader.state_dict() if hasattr(self.loader, "state_dict") else None

    def load_state_dict(self, state: Any) -> None:
        if state is not None and hasattr(self.loader, "load_state_dict"):
            self.loader.load_state_dict(state)


class DeviceLoader(TensorLoader):
    """A :class:`TensorLoader` whose dataset lives on ``device``: copied there once, batches cut there.

    The loader's dataset is fetched whole and passed through the loader's own transform (which must not be
    random, ``transform.random``: it runs once, not per epoch), then held as one tensor ``x`` (N, C, H, W)
    in ``dtype`` and one int64 tensor ``y``. Each epoch takes its order and batch slices from the wrapped
    :class:`scratch.data.DataLoader` (``epoch_order``, ``batch_indices``), moves the order to the device and
    indexes the resident tensors, so it yields the batches
    :class:`TensorLoader` yields, in the same order, and its ``state_dict`` is the wrapped loader's.
    Memory: N·C·H·W elements of ``dtype`` on the device (Fashion-MNIST's 60,000 training images: 188 MB in float32).
    """

    def __init__(self, loader, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None):
        super().__init__(loader, device, dtype, transform)
        if loader.transform_is_random:
            raise ValueError("DeviceLoader: the loader's transform is random (it takes rng); a resident dataset is "
                             "transformed once, so pass random augmentation as DeviceLoader(transform=...) instead")
        x, y = loader.load(np.arange(len(loader.dataset)))
        self.x = torch.from_numpy(np.ascontiguousarray(x)).to(self.device, self.dtype)
        self.y = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(self.device)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.from_numpy(self.loader.epoch_order()).to(self.device, non_blocking=True)
        for index in self.loader.batch_indices(order):
            x = self.x.index_select(0, index)
            yield (self.transform(x) if self.transform is not None else x), self.y.index_select(0, index)


def train_one_epoch(model, loader, criterion, optimizer, *, epoch: int = 1, progress: bool = False,
                    metrics: dict | None = None) -> float:
    """See :func:`scratch.training.train_one_epoch`; ``loss.backward()`` does the backward pass.

    On CUDA the loss is not synchronised every step: the first non-finite step is tracked on the device and
    reported at the end of the epoch (the same error, the same step number).
    """
    model.train()
    device = next(model.parameters()).device
    sync_each_step = device.type == "cpu" or progress
    total = torch.zeros((), dtype=torch.float64, device=device)
    first_bad = torch.full((), -1, dtype=torch.int64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    count = 0
    bar = progress_bar(loader, f"epoch {epoch} train", progress)
    for step, (x, y) in enumerate(bar, 1):
        logits = model(x)
        loss = criterion(logits, y)
        if sync_each_step:
            value = float(loss.detach())
            if not math.isfinite(value):
                raise NonFiniteLossError(epoch, step, value)
            if progress:
                bar.set_postfix(loss=f"{value:.4f}")
        else:
            first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss), step, first_bad)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.detach() * len(y)
        correct += (logits.detach().argmax(dim=1) == y).sum()
        count += len(y)
        check_stop(epoch, step)
    bad_step = int(first_bad)
    if bad_step >= 0:
        raise NonFiniteLossError(epoch, bad_step, float("nan"))
    if metrics is not None:
        metrics["accuracy"] = int(correct) / count if count else math.nan
    return float(total) / count if count else math.nan


@torch.no_grad()
def evaluate(model, loader, criterion, *, progress: bool = False) -> EvalResult:
    """See :func:`scratch.training.evaluate`."""
    model.eval()
    total, preds, labels = 0.0, [], []
    for x, y in progress_bar(loader, "eval", progress):
        logits = model(x)
        total += float(criterion(logits, y)) * len(y)
        preds.append(logits.argmax(dim=1).cpu().numpy())
        labels.append(y.cpu().numpy())
        check_stop(0, 0)
    return eval_result(total, preds, labels)


DIGEST_KEY = "__sha256__"


def save_state(path: str | os.PathLike, state: Any) -> None:
    """``torch.save(state)`` through :func:`scratch.serialization.atomic_write` (temporary file, fsync, rename).

    The bytes are serialised in memory first, so a full disk is an ``OSError`` from the write itself
    (torch's own writer reports it as "enforce fail ... unexpected pos").
    """
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_write(path) as f:
        f.write(buffer.getbuffer())


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """:func:`save_state` of ``state`` plus its SHA-256 (:func:`scratch.checkpoint.state_digest`) under
    ``__sha256__``, which :func:`load_checkpoint` verifies."""
    save_state(path, {**state, DIGEST_KEY: state_digest(state)})


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``: no code runs on load) and
    verify its SHA-256; a corrupt, altered or foreign file raises ValueError naming it."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_checkpoint: no such file: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError, RuntimeError (zip), EOFError, ...: all mean "not readable"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"load_checkpoint: {path} is not a readable torch_impl checkpoint ({first})") from err
    if not isinstance(state, dict) or DIGEST_KEY not in state:
        raise ValueError(f"load_checkpoint: {path} is not a torch_impl checkpoint (no {DIGEST_KEY} checksum)")
    stored = state.pop(DIGEST_KEY)
    actual = state_digest(state)
    if stored != actual:
        raise ValueError(f"load_checkpoint: {path} is corrupt: its content does not match its SHA-256 (stored "
                         f"{str(stored)[:16]}..., content {actual[:16]}...): the file was corrupted or altered")
    return state


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict | None) -> None:
    if not state:
        return
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


ENGINE = Engine(train_one_epoch=train_one_epoch, evaluate=evaluate, save_checkpoint=save_checkpoint,
                load_checkpoint=load_checkpoint, extra_rng_state=_rng_state,
                set_extra_rng_state=_set_rng_state)


def fit(model, train_loader, val_loader, criterion, optimizer, *, epochs: int, scheduler=None,
        early_stopping=None, checkpoint_path: str | os.PathLike | None = None, resume: bool = False,
        progress: bool = True, log: Callable[[str], None] | None = print, config: dict | None = None,
        after_resume: Callable[[dict], None] | None = None) -> dict:
    """See :func:`scratch.training.fit`."""
    return run_fit(ENGINE, model, train_loader, val_loader, criterion, optimizer, epochs=epochs,
                   scheduler=scheduler, early_stopping=early_stopping, checkpoint_path=checkpoint_path,
                   resume=resume, progress=progress, log=log, config=config, after_resume=after_resume)
