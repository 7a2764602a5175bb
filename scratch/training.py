"""Training loops for the scratch engine: ``train_one_epoch``, ``evaluate`` and ``fit``.

The loop reads like PyTorch's::

    logits = model(x)
    loss = criterion(logits, y)
    optimizer.zero_grad()
    model.backward(criterion.backward())   # loss.backward() in torch
    optimizer.step()

(:func:`train_one_epoch` passes ``input_grad=False`` to models that take it: the images need no gradient,
so the first layer skips computing one, as torch's autograd does.)

``fit`` is written once (:func:`run_fit`) and shared with :mod:`torch_impl.training`, which passes its own
epoch functions and checkpoint format.

Stopping cleanly: inside :func:`stop_on_signals` (the CLI's training runs there), SIGINT (Ctrl-C) and
SIGTERM only set a flag; the loops check it after every optimizer step and every evaluation batch and
raise :class:`TrainingInterrupted` (a ``KeyboardInterrupt``) there, so no kernel or file write is cut in
the middle. A second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from scratch.nn.module import takes_input_grad


class NonFiniteLossError(RuntimeError):
    """The training loss became inf or nan; names the epoch and step (1-based)."""

    def __init__(self, epoch: int, step: int, loss: float):
        self.epoch, self.step, self.loss = epoch, step, loss
        super().__init__(f"non-finite training loss {loss} at epoch {epoch}, step {step}: training stopped "
                         f"(lower the learning rate; checkpoints already written are kept)")


class TrainingInterrupted(KeyboardInterrupt):
    """A stop request (SIGINT / SIGTERM inside :func:`stop_on_signals`) honoured at a step boundary.

    ``epoch``, ``step``: where it stopped (1-based; ``step`` counts the epoch's completed optimizer steps,
    0 while validating); ``signal_name``; ``checkpoint`` and ``checkpoint_epoch``: the checkpoint that
    holds the last completed epoch (both None when none was written), set by :func:`run_fit`.
    """

    def __init__(self, epoch: int, step: int, signal_name: str):
        self.epoch, self.step, self.signal_name = epoch, step, signal_name
        self.checkpoint: str | None = None
        self.checkpoint_epoch: int | None = None
        super().__init__(f"{signal_name} received: stopped at epoch {epoch}, step {step}")


_stop: dict[str, str | None] = {"signal": None}


def request_stop(signal_name: str = "stop request") -> None:
    """Ask the running training loop to stop at its next step boundary."""
    _stop["signal"] = signal_name


def clear_stop() -> None:
    """Forget a pending stop request."""
    _stop["signal"] = None


def check_stop(epoch: int, step: int) -> None:
    """Raise :class:`TrainingInterrupted` if a stop was requested (call at each step boundary)."""
    if _stop["signal"] is not None:
        name, _stop["signal"] = _stop["signal"], None
        raise TrainingInterrupted(epoch, step, name)


@contextlib.contextmanager
def stop_on_signals(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)):
    """Within the block, ``signals`` request a stop at the next step boundary instead of killing mid-kernel.

    A second SIGINT while a stop is pending raises ``KeyboardInterrupt`` at once. The previous handlers
    are restored on exit. Only in the main thread (elsewhere the block changes nothing).
    """
    def handler(signum, frame):
        if _stop["signal"] is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        request_stop(signal.Signals(signum).name)

    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in signals}
    clear_stop()
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        clear_stop()


@dataclass
class EvalResult:
    """Mean loss and accuracy over a loader, with every prediction and label (for metrics and reports)."""

    loss: float
    accuracy: float
    predictions: np.ndarray
    labels: np.ndarray


def progress_bar(loader: Iterable, desc: str, progress: bool) -> Iterable:
    """``loader`` wrapped in a tqdm bar (``progress=False``: no bar)."""
    return tqdm(loader, desc=desc, leave=False, disable=not progress, dynamic_ncols=True)


def train_one_epoch(model, loader, criterion, optimizer, *, epoch: int = 1, progress: bool = False,
                    metrics: dict | None = None) -> float:
    """One pass over ``loader``, one optimizer step per batch; returns the mean loss (batch-size weighted).

    ``metrics``, if given, receives ``accuracy``: the share of training samples the model got right, each
    counted in the forward pass of its step (as the running accuracy tutorials print).
    Raises :class:`NonFiniteLossError` naming the epoch and step if the loss is not finite, and
    :class:`TrainingInterrupted` after a step when a stop was requested.
    """
    model.train()
    total, count, correct = 0.0, 0, 0
    skip_input_grad = takes_input_grad(model)
    bar = progress_bar(loader, f"epoch {epoch} train", progress)
    for step, (x, y) in enumerate(bar, 1):
        logits = model(x)
        loss = float(criterion(logits, y))
        if not math.isfinite(loss):
            raise NonFiniteLossError(epoch, step, loss)
        optimizer.zero_grad()
        if skip_input_grad:
            model.backward(criterion.backward(), input_grad=False)
        else:
            model.backward(criterion.backward())
        optimizer.step()
        total += loss * len(y)
        count += len(y)
        correct += int(np.count_nonzero(np.argmax(logits, axis=1) == np.asarray(y)))
        if progress:
            bar.set_postfix(loss=f"{total / count:.4f}")
        check_stop(epoch, step)
    if metrics is not None:
        metrics["accuracy"] = correct / count if count else math.nan
    return total / count if count else math.nan


def evaluate(model, loader, criterion, *, progress: bool = False) -> EvalResult:
    """Loss, accuracy, predictions and labels of ``model`` (in eval mode) over ``loader``.

    An empty loader gives loss and accuracy nan (never 0.0).
    """
    model.eval()
    total, preds, labels = 0.0, [], []
    for x, y in progress_bar(loader, "eval", progress):
        logits = model(x)
        total += float(criterion(logits, y)) * len(y)
        preds.append(np.argmax(logits, axis=1))
        labels.append(np.asarray(y))
        check_stop(0, 0)
    return eval_result(total, preds, labels)


def eval_result(total: float, preds: list[np.ndarray], labels: list[np.ndarray]) -> EvalResult:
    """The :class:`EvalResult` of a summed loss and the batches' predictions and labels (NaN when empty)."""
    p = np.concatenate(preds) if preds else np.zeros(0, dtype=np.int64)
    y = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
    n = len(y)
    return EvalResult(loss=total / n if n else math.nan, accuracy=float(np.mean(p == y)) if n else math.nan,
                      predictions=p.astype(np.int64), labels=y.astype(np.int64))


@dataclass
class Engine:
    """What :func:`run_fit` needs from an engine: its epoch functions and its checkpoint format."""

    train_one_epoch: Callable[..., float]
    evaluate: Callable[..., EvalResult]
    save_checkpoint: Callable[[str | os.PathLike, dict], Any]
    load_checkpoint: Callable[[str | os.PathLike], dict]
    extra_rng_state: Callable[[], Any] = field(default=lambda: None)
    set_extra_rng_state: Callable[[Any], None] = field(default=lambda state: None)


CHECKPOINT_KEYS = ("epoch", "model", "optimizer", "history")


def _resume_state(engine: Engine, checkpoint_path) -> dict:
    if checkpoint_path is None or not os.path.exists(checkpoint_path):
        raise FileNotFoundError(f"fit: --resume needs an existing checkpoint, none at {checkpoint_path}")
    state = engine.load_checkpoint(checkpoint_path)
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(f"{checkpoint_path}: not a complete training checkpoint (missing {', '.join(missing)})")
    return state


def run_fit(engine: Engine, model, train_loader, val_loader, criterion, optimizer, *, epochs: int,
            scheduler=None, early_stopping=None, checkpoint_path: str | os.PathLike | None = None,
            resume: bool = False, progress: bool = True, log: Callable[[str], None] | None = print,
            config: dict | None = None, after_resume: Callable[[dict], None] | None = None) -> dict:
    """The epoch loop shared by both engines; see :func:`fit`."""
    if hasattr(val_loader, "__len__") and len(val_loader) == 0:
        raise ValueError("fit: the validation loader is empty; the scheduler and early stopping need a "
                         "validation loss (give the validation split at least one sample)")
    history: dict[str, list] = {"epoch": [], "train_loss": [], "train_acc": [], "val_loss": [], "val_acc": [],
                                "lr": [], "epoch_time": []}
    start_epoch, saved_epoch = 1, None
    if resume:
        state = _resume_state(engine, checkpoint_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        if early_stopping is not None and state.get("early_stopping") is not None:
            early_stopping.load_state_dict(state["early_stopping"])
        if hasattr(train_loader, "load_state_dict") and state.get("loader") is not None:
            train_loader.load_state_dict(state["loader"])
        engine.set_extra_rng_state(state.get("extra_rng"))
        history = {**history, **{k: list(v) for k, v in state["history"].items()}}
        start_epoch = int(state["epoch"]) + 1
        saved_epoch = start_epoch - 1
        if log:
            log(f"resumed from {checkpoint_path} after epoch {start_epoch - 1}")
        if after_resume is not None:
            after_resume(state)
        if early_stopping is not None and early_stopping.early_stop:
            start_epoch = epochs + 1
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, epochs + 1):
            stop = _run_epoch(engine, model, train_loader, val_loader, criterion, optimizer, epoch, epochs,
                              scheduler, early_stopping, progress, log, history)
            if checkpoint_path is not None:
                engine.save_checkpoint(checkpoint_path, {
                    "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "early_stopping": early_stopping.state_dict() if early_stopping is not None else None,
                    "loader": train_loader.state_dict() if hasattr(train_loader, "state_dict") else None,
                    "extra_rng": engine.extra_rng_state(), "history": history, "config": config,
                })
                saved_epoch = epoch
            if stop:
                if log:
                    log(f"early stopping at epoch {epoch}: best val loss {early_stopping.best_score:.4f} "
                        f"at epoch {early_stopping.best_epoch}")
                break
    except TrainingInterrupted as err:
        err.epoch = err.epoch or epoch
        if saved_epoch is not None and checkpoint_path is not None:
            err.checkpoint, err.checkpoint_epoch = os.fspath(checkpoint_path), saved_epoch
        raise
    if early_stopping is not None and early_stopping.best_state is not None:
        early_stopping.load_best_model(model)
    return history


def _run_epoch(engine: Engine, model, train_loader, val_loader, criterion, optimizer, epoch: int, epochs: int,
               scheduler, early_stopping, progress: bool, log, history: dict) -> bool:
    """Train one epoch, validate, step the scheduler and early stopping, append to ``history``; True: stop."""
    t0 = time.perf_counter()
    lr = float(optimizer.param_groups[0]["lr"])  # the rate this epoch trains with, before the scheduler steps
    train_metrics: dict = {}
    train_loss = engine.train_one_epoch(model, train_loader, criterion, optimizer, epoch=epoch,
                                        progress=progress, metrics=train_metrics)
    val = engine.evaluate(model, val_loader, criterion, progress=False)
    if len(val.labels) == 0:
        raise ValueError(f"fit: the validation loader yielded no samples at epoch {epoch}")
    if scheduler is not None:
        scheduler.step(val.loss)
    stop = False
    if early_stopping is not None:
        early_stopping(val.loss, model, epoch=epoch)
        stop = early_stopping.early_stop
    for key, value in (("epoch", epoch), ("train_loss", train_loss), ("train_acc", train_metrics.get("accuracy")),
                       ("val_loss", val.loss), ("val_acc", val.accuracy), ("lr", lr),
                       ("epoch_time", time.perf_counter() - t0)):
        history[key].append(value)
    if log:
        log(f"epoch {epoch:3d}/{epochs}  train loss {train_loss:.4f}  val loss {val.loss:.4f}  "
            f"val acc {val.accuracy:.4f}  lr {lr:.2e}  ({history['epoch_time'][-1]:.1f}s)")
    return stop


def _engine(model) -> Engine:
    from scratch.checkpoint import load_checkpoint, save_checkpoint

    return Engine(train_one_epoch=train_one_epoch, evaluate=evaluate, save_checkpoint=save_checkpoint,
                  load_checkpoint=load_checkpoint, extra_rng_state=lambda: rng_states(model),
                  set_extra_rng_state=lambda state: set_rng_states(model, state))


def rng_states(model) -> dict:
    """The generators a training step draws from besides the loader's: scratch.nn.init's default one and
    every module's own ``rng`` (dropout masks), as plain data for a checkpoint."""
    from scratch.nn import init

    return {"default": init.default_rng().bit_generator.state,
            "modules": {name: m.rng.bit_generator.state for name, m in model.named_modules()
                        if isinstance(getattr(m, "rng", None), np.random.Generator)}}


def set_rng_states(model, state: dict | None) -> None:
    """Restore what :func:`rng_states` saved (nothing for a checkpoint without it)."""
    from scratch.nn import init

    if not state:
        return
    init.default_rng().bit_generator.state = state["default"]
    for name, m in model.named_modules():
        if name in state["modules"]:
            m.rng.bit_generator.state = state["modules"][name]


def fit(model, train_loader, val_loader, criterion, optimizer, *, epochs: int, scheduler=None,
        early_stopping=None, checkpoint_path: str | os.PathLike | None = None, resume: bool = False,
        progress: bool = True, log: Callable[[str], None] | None = print, config: dict | None = None,
        after_resume: Callable[[dict], None] | None = None) -> dict:
    """Train for ``epochs`` epochs with validation after each; returns the history.

    Per epoch: :func:`train_one_epoch`, :func:`evaluate` on ``val_loader``, ``scheduler.step(val_loss)``
    (ReduceLROnPlateau), ``early_stopping(val_loss, model, epoch)``, then an atomic checkpoint (model,
    optimizer, scheduler, early stopping, loader RNG, history) to ``checkpoint_path``. With
    ``resume=True`` the run continues from that checkpoint and reaches exactly the weights of an
    uninterrupted run. When early stopping is given, the best epoch's weights are loaded back at the end.
    ``config`` (plain data, e.g. the CLI's options) is stored in every checkpoint; ``after_resume(state)`` runs
    once the checkpoint's states are loaded (the CLI applies a changed learning rate there). An empty
    validation loader is refused before training.

    History: lists per epoch under ``epoch``, ``train_loss`` (the sample-weighted mean of the batch losses),
    ``train_acc``, ``val_loss``, ``val_acc``, ``lr`` (the learning rate used in that epoch, read before the
    scheduler steps) and ``epoch_time`` (seconds). A stop request raises :class:`TrainingInterrupted` naming
    the checkpoint that holds the last completed epoch.
    """
    return run_fit(_engine(model), model, train_loader, val_loader, criterion, optimizer, epochs=epochs,
                   scheduler=scheduler, early_stopping=early_stopping, checkpoint_path=checkpoint_path,
                   resume=resume, progress=progress, log=log, config=config, after_resume=after_resume)
