"""Training end to end: learning on real data, exact resume from checkpoints, non-finite losses, the
engine-vs-engine ``compare`` run, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import scratch
from scratch import optim
from scratch.callbacks import EarlyStopping
from scratch.checkpoint import load_checkpoint
from scratch.data import DataLoader, Digits, FashionMNIST, Subset, random_split
from scratch.data import normalize_transform as normalize
from scratch.models import build_model
from scratch.nn.loss import CrossEntropyLoss
from scratch.optim.lr_scheduler import ReduceLROnPlateau
from scratch.training import (
    NonFiniteLossError,
    TrainingInterrupted,
    evaluate,
    fit,
    request_stop,
    train_one_epoch,
)
from torch_impl import training as ttraining
from torch_impl.callbacks import EarlyStopping as TorchEarlyStopping
from torch_impl.compare import compare_engines
from torch_impl.models import build_model as build_torch_model

UNTRAINED_BAR = 0.6  # an untrained 10-class model scores ~0.1; one epoch on 4,000 images clears 0.7


@pytest.fixture(scope="module")
def fashion_subsets(data_root):
    train = Subset(FashionMNIST(data_root, train=True), np.arange(4000))
    test = Subset(FashionMNIST(data_root, train=False), np.arange(1000))
    return train, test


def test_scratch_one_epoch_learns(fashion_subsets):
    train, test = fashion_subsets
    model = build_model("lenet5", rng=np.random.default_rng(0))
    crit = CrossEntropyLoss()
    opt = optim.Adam(list(model.parameters()), lr=1e-3)
    before = evaluate(model, DataLoader(test, 500, transform=normalize()), crit)
    train_loader = DataLoader(train, 64, shuffle=True, seed=0, transform=normalize())
    loss = train_one_epoch(model, train_loader, crit, opt)
    after = evaluate(model, DataLoader(test, 500, transform=normalize()), crit)
    assert np.isfinite(loss) and after.loss < before.loss
    assert before.accuracy < 0.3 < UNTRAINED_BAR < after.accuracy, (before.accuracy, after.accuracy)
    assert after.predictions.shape == after.labels.shape == (1000,)


def test_torch_one_epoch_learns(fashion_subsets):
    train, test = fashion_subsets
    torch.manual_seed(0)
    model = build_torch_model("lenet5")
    crit = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    test_loader = ttraining.TensorLoader(DataLoader(test, 500, transform=normalize()))
    before = ttraining.evaluate(model, test_loader, crit)
    train_loader = ttraining.TensorLoader(DataLoader(train, 64, shuffle=True, seed=0, transform=normalize()))
    ttraining.train_one_epoch(model, train_loader, crit, opt)
    after = ttraining.evaluate(model, test_loader, crit)
    assert before.accuracy < 0.3 < UNTRAINED_BAR < after.accuracy, (before.accuracy, after.accuracy)


def _digits_loaders(seed=0):
    train, val = random_split(Digits(train=True), [0.8, 0.2], seed=seed)
    return (DataLoader(train, 32, shuffle=True, seed=seed, transform=normalize()),
            DataLoader(val, 256, transform=normalize()))


def _scratch_run(tmp_path, epochs, resume=False, init_seed=0, model_name="simple-cnn"):
    scratch.manual_seed(init_seed)  # dropout's masks come from the default generator
    model = build_model(model_name, rng=np.random.default_rng(init_seed))
    opt = optim.Adam(list(model.parameters()), lr=2e-3)
    sched = ReduceLROnPlateau(opt, factor=0.5, patience=0)
    stopper = EarlyStopping(patience=5)
    train, val = _digits_loaders()
    history = fit(model, train, val, CrossEntropyLoss(), opt, epochs=epochs, scheduler=sched,
                  early_stopping=stopper, checkpoint_path=tmp_path / "ckpt.npz", resume=resume,
                  progress=False, log=None)
    return model, history


@pytest.mark.parametrize("model_name", ["simple-cnn", "simple-cnn-bn"])  # -bn: dropout masks, running stats
def test_scratch_resume_reaches_the_uninterrupted_weights(tmp_path, model_name):
    full, full_history = _scratch_run(tmp_path / "a", epochs=3, model_name=model_name)
    _scratch_run(tmp_path / "b", epochs=2, model_name=model_name)
    assert load_checkpoint(tmp_path / "b" / "ckpt.npz")["epoch"] == 2
    resumed, resumed_history = _scratch_run(tmp_path / "b", epochs=3, resume=True, init_seed=99,
                                            model_name=model_name)
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"{k} differs after resume")
    for key in ("train_loss", "val_loss", "val_acc", "lr"):
        assert full_history[key] == resumed_history[key], key


def _torch_run(tmp_path, epochs, resume=False, init_seed=0):
    torch.manual_seed(init_seed)
    model = build_torch_model("simple-cnn")
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    stopper = TorchEarlyStopping(patience=5)
    train, val = _digits_loaders()
    history = ttraining.fit(model, ttraining.TensorLoader(train), ttraining.TensorLoader(val),
                            torch.nn.CrossEntropyLoss(), opt, epochs=epochs, scheduler=sched,
                            early_stopping=stopper, checkpoint_path=tmp_path / "ckpt.pt", resume=resume,
                            progress=False, log=None)
    return model, history


def test_torch_resume_reaches_the_uninterrupted_weights(tmp_path):
    full, full_history = _torch_run(tmp_path / "a", epochs=3)
    _torch_run(tmp_path / "b", epochs=2)
    resumed, resumed_history = _torch_run(tmp_path / "b", epochs=3, resume=True, init_seed=99)
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), f"{k} differs after resume"
    assert full_history["val_loss"] == resumed_history["val_loss"]


@pytest.mark.parametrize("drop_last", [False, True])
def test_device_loader_yields_the_tensor_loader_batches(drop_last):
    def loaders(transform):
        train, _ = random_split(Digits(train=True), [0.8, 0.2], seed=0)
        numpy_loader = DataLoader(train, 50, shuffle=True, drop_last=drop_last, seed=3, transform=normalize())
        return numpy_loader, transform(numpy_loader)

    a_np, a = loaders(lambda nl: ttraining.TensorLoader(nl, dtype=torch.float64, transform=lambda x: x * 2))
    b_np, b = loaders(lambda nl: ttraining.DeviceLoader(nl, dtype=torch.float64, transform=lambda x: x * 2))
    assert len(a) == len(b)
    for _epoch in range(2):  # a fresh permutation per epoch, the same in both
        pairs = list(zip(a, b, strict=True))
        assert len(pairs) == len(a)
        for (xa, ya), (xb, yb) in pairs:
            assert xb.dtype == torch.float64 and yb.dtype == torch.int64
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert a.state_dict() == b.state_dict() == b_np.state_dict()


def test_device_loader_refuses_a_random_loader_transform():
    from scratch.augment import Compose, GaussianNoise, RandomRotation

    for transform in (RandomRotation(10), Compose([GaussianNoise(sigma=0.1), normalize()])):
        assert transform.random
        loader = DataLoader(Digits(train=False), 32, transform=transform)
        with pytest.raises(ValueError, match="DeviceLoader: the loader's transform is random"):
            ttraining.DeviceLoader(loader)
    assert not Compose([normalize()]).random


class _NaNAt:
    """Batches of a loader with NaN written into the batch at (epoch, step)."""

    def __init__(self, loader, epoch, step):
        self.loader, self.epoch, self.step, self.calls = loader, epoch, step, 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.calls += 1
        for i, (x, y) in enumerate(self.loader, 1):
            if (self.calls, i) == (self.epoch, self.step):
                x = x.copy()
                x[0, 0, 0, 0] = np.nan
            yield x, y

    def state_dict(self):
        return self.loader.state_dict()


def test_non_finite_loss_names_epoch_and_step_and_keeps_the_checkpoint(tmp_path):
    model = build_model("simple-nn", rng=np.random.default_rng(0))
    opt = optim.SGD(list(model.parameters()), lr=0.01)
    train, val = _digits_loaders()
    ckpt = tmp_path / "ckpt.npz"
    with pytest.raises(NonFiniteLossError, match="epoch 2, step 3") as err:
        fit(model, _NaNAt(train, 2, 3), val, CrossEntropyLoss(), opt, epochs=3, checkpoint_path=ckpt,
            progress=False, log=None)
    assert (err.value.epoch, err.value.step) == (2, 3)
    state = load_checkpoint(ckpt)
    assert state["epoch"] == 1 and all(np.isfinite(v).all() for v in state["model"].values())


def test_torch_non_finite_loss_names_epoch_and_step():
    torch.manual_seed(0)
    model = build_torch_model("simple-nn")
    train, _ = _digits_loaders()
    with pytest.raises(NonFiniteLossError, match="epoch 1, step 4"):
        ttraining.train_one_epoch(model, ttraining.TensorLoader(_NaNAt(train, 1, 4)),
                                  torch.nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.01))


@pytest.mark.parametrize("dtype,limit", [("float64", 1e-9), ("float32", 1e-4)])
def test_compare_engines_agree_step_by_step(data_root, dtype, limit):
    r = compare_engines("lenet5", steps=30, dtype=dtype, batch_size=32, dataset="fashion-mnist",
                        root=str(data_root), seed=0)
    assert len(r.losses_scratch) == len(r.losses_torch) == 30
    assert r.losses_scratch[-1] < r.losses_scratch[0]  # it trains
    if dtype == "float64":
        assert r.max_loss_diff <= limit, r.max_loss_diff
        assert r.max_weight_rel_diff <= 1e-9, r.max_weight_rel_diff
    else:
        assert r.max_loss_rel_diff <= limit, r.max_loss_rel_diff


@pytest.mark.parametrize("model,optimizer", [("simple-cnn-bn", "sgd"), ("lenet5-classic", "adam")])
def test_compare_engines_in_lockstep_with_dropout_and_batch_norm(model, optimizer):
    """Dropout masks shared, batch norm's running statistics in the compared state dicts (float64).

    SGD for simple-cnn-bn: the conv bias before batch norm has an exactly zero gradient, so what each
    engine computes for it is rounding noise (~1e-17), which Adam's normalised step turns into updates of
    up to lr; SGD keeps it at noise x lr."""
    r = compare_engines(model, steps=12, dtype="float64", batch_size=16, dataset="digits", seed=0,
                        optimizer=optimizer)
    assert r.losses_scratch[-1] < r.losses_scratch[0]
    assert r.max_loss_diff <= 1e-9, r.max_loss_diff
    assert r.max_weight_rel_diff <= 1e-9, r.max_weight_rel_diff


def test_cli_train_both_engines_and_preview(tmp_path, capsys):
    from scratch.cli import main

    for engine in ("scratch", "torch"):
        out = tmp_path / engine
        assert main(["train", "--engine", engine, "--model", "simple-nn", "--dataset", "digits",
                     "--epochs", "2", "--out", str(out), "--no-progress", "--augment"]) == 0
        history = json.loads((out / "history.json").read_text())
        assert len(history["val_loss"]) == 2 and 0.5 < history["test_acc"] <= 1
        for name in ("curves.png", "confusion_matrix.png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / ("model.npz" if engine == "scratch" else "model.pt")).exists()
    # --resident: the same batches from tensors kept on the device, so the very same run
    assert main(["train", "--engine", "torch", "--model", "simple-nn", "--dataset", "digits", "--epochs", "2",
                 "--out", str(tmp_path / "resident"), "--no-progress", "--augment", "--resident"]) == 0
    resident = json.loads((tmp_path / "resident" / "history.json").read_text())
    history = json.loads((tmp_path / "torch" / "history.json").read_text())
    for key in ("train_loss", "val_loss", "val_acc", "test_loss", "test_acc"):
        assert resident[key] == history[key], key
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "macro avg" in printed and "weighted avg" in printed
    assert main(["augment-preview", "--dataset", "digits", "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["compare", "--dataset", "digits", "--steps", "3", "--json", str(tmp_path / "c.json")]) == 0
    assert json.loads((tmp_path / "c.json").read_text())["max_loss_diff"] <= 1e-9


def test_cli_torch_compile_trains_like_eager(tmp_path):
    """--compile (torch.compile, in place) trains the same model: inductor's fused float32 kernels round
    differently, so losses agree to ~1e-7 relative after 2 epochs (bound: 1e-5, ~100 float32 ulps over
    42 Adam steps); every accuracy is identical. --resident and --compile are torch-only options."""
    from scratch.cli import main

    histories = []
    for extra in ([], ["--compile"]):
        out = tmp_path / ("compiled" if extra else "eager")
        assert main(["train", "--engine", "torch", "--model", "simple-nn", "--dataset", "digits", "--epochs", "2",
                     "--out", str(out), "--no-progress", "--resident", *extra]) == 0
        histories.append(json.loads((out / "history.json").read_text()))
    eager, compiled = histories
    for key in ("train_loss", "val_loss"):
        np.testing.assert_allclose(compiled[key], eager[key], rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(compiled["test_loss"], eager["test_loss"], rtol=1e-5)
    assert compiled["val_acc"] == eager["val_acc"] and compiled["test_acc"] == eager["test_acc"]
    assert main(["train", "--engine", "scratch", "--dataset", "digits", "--compile", "--out", str(tmp_path / "s")]) == 2
    assert not (tmp_path / "s").exists()


class _Scripted:
    """A model and criterion whose loss is scripted per batch: batch i gives loss ``losses[i]``."""

    def __init__(self, losses):
        self.losses, self.i = list(losses), 0

    def train(self):
        pass

    def eval(self):
        pass

    def __call__(self, x, y=None):
        if y is None:  # the model: logits that always predict class 0
            return np.tile(np.array([[1.0, 0.0]]), (len(x), 1))
        loss, self.i = self.losses[self.i % len(self.losses)], self.i + 1
        return loss

    def backward(self, *args, **kwargs):
        return None

    def parameters(self):
        return []


class _NoOpOptimizer:
    def __init__(self, lr):
        self.param_groups = [{"lr": lr}]

    def zero_grad(self):
        pass

    def step(self):
        pass


class _Batches:
    def __init__(self, sizes):
        self.sizes = sizes

    def __len__(self):
        return len(self.sizes)

    def __iter__(self):
        for n in self.sizes:
            yield np.zeros((n, 1)), np.arange(n) % 2


def test_epoch_loss_is_the_sample_weighted_mean_of_batch_losses():
    sizes, losses = [4, 4, 1], [1.0, 2.0, 10.0]  # uneven last batch: the plain mean (4.33) is wrong
    scripted = _Scripted(losses)
    metrics = {}
    loss = train_one_epoch(scripted, _Batches(sizes), scripted, _NoOpOptimizer(0.1), metrics=metrics)
    assert loss == pytest.approx((4 * 1.0 + 4 * 2.0 + 1 * 10.0) / 9, rel=1e-15)
    assert metrics["accuracy"] == pytest.approx(5 / 9)  # class 0 is right for samples 0, 2, ... of each batch


def test_history_lr_is_the_rate_used_in_the_epoch_before_the_scheduler_steps():
    model = build_model("simple-nn", rng=np.random.default_rng(0))
    opt = optim.SGD(list(model.parameters()), lr=0.01)
    sched = ReduceLROnPlateau(opt, factor=0.5, patience=0, threshold=10.0)  # every epoch is a plateau
    train, val = _digits_loaders()
    history = fit(model, train, val, CrossEntropyLoss(), opt, epochs=3, scheduler=sched, progress=False, log=None)
    assert history["lr"] == pytest.approx([0.01, 0.005, 0.0025], rel=1e-15)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.00125, rel=1e-15)
    assert len(history["train_acc"]) == 3 and all(0 <= a <= 1 for a in history["train_acc"])


def test_empty_validation_set_is_refused_before_training():
    model = build_model("simple-nn", rng=np.random.default_rng(0))
    train, _ = _digits_loaders()
    empty = DataLoader(Subset(Digits(train=False), np.arange(0)), 32)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="validation loader is empty"):
        fit(model, train, empty, CrossEntropyLoss(), optim.SGD(list(model.parameters()), lr=0.1), epochs=1,
            progress=False, log=None)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    result = evaluate(model, empty, CrossEntropyLoss())
    assert np.isnan(result.loss) and np.isnan(result.accuracy)


class _StopAt(_NaNAt):
    """Batches of a loader; asks for a stop during (epoch, step)."""

    def __iter__(self):
        self.calls += 1
        for i, batch in enumerate(self.loader, 1):
            if (self.calls, i) == (self.epoch, self.step):
                request_stop("SIGINT")
            yield batch


def test_stop_request_ends_at_the_step_boundary_naming_the_checkpoint(tmp_path):
    model = build_model("simple-nn", rng=np.random.default_rng(0))
    opt = optim.SGD(list(model.parameters()), lr=0.01)
    train, val = _digits_loaders()
    ckpt = tmp_path / "ckpt.npz"
    with pytest.raises(TrainingInterrupted) as err:
        fit(model, _StopAt(train, 2, 3), val, CrossEntropyLoss(), opt, epochs=3, checkpoint_path=ckpt,
            progress=False, log=None)
    stop = err.value
    assert (stop.epoch, stop.step, stop.signal_name) == (2, 3, "SIGINT")
    assert stop.checkpoint == str(ckpt) and stop.checkpoint_epoch == 1
    assert load_checkpoint(ckpt)["epoch"] == 1


def test_resume_from_a_checkpoint_lacking_a_key_names_the_file(tmp_path):
    from scratch.checkpoint import save_checkpoint

    ckpt = tmp_path / "ckpt.npz"
    save_checkpoint(ckpt, {"epoch": 1, "model": {}, "optimizer": {}})
    model = build_model("simple-nn", rng=np.random.default_rng(0))
    train, val = _digits_loaders()
    with pytest.raises(ValueError, match=f"{ckpt}.*missing history"):
        fit(model, train, val, CrossEntropyLoss(), optim.SGD(list(model.parameters()), lr=0.1), epochs=2,
            checkpoint_path=ckpt, resume=True, progress=False, log=None)
