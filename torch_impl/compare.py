"""End-to-end parity: both engines start from the same weights, see the same batches, take the same steps.

``scratchnet compare`` prints the per-step loss of each engine, the largest loss and weight differences, and
the time per step of each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from scratch import optim as scratch_optim
from scratch.data import DataLoader, load_dataset, resolve_auto_dataset
from scratch.models import build_model
from scratch.nn.loss import CrossEntropyLoss
from torch_impl.models import build_model as build_torch_model


@dataclass
class CompareResult:
    """Per-step losses of both engines and the largest differences between them."""

    model: str
    dtype: str
    dataset: str
    losses_scratch: list[float] = field(default_factory=list)
    losses_torch: list[float] = field(default_factory=list)
    max_loss_diff: float = 0.0
    max_loss_rel_diff: float = 0.0
    max_weight_diff: float = 0.0
    max_weight_rel_diff: float = 0.0
    ms_per_step_scratch: float = 0.0  # median over steps
    ms_per_step_torch: float = 0.0
    backend: str = ""  # scratch's backend (scratch.get_backend()) during the run
    perf: dict = field(default_factory=dict)  # scratch.perf.info(), filled in by the CLI


def share_dropout_masks(ours, ref) -> None:
    """Make each torch Dropout of ``ref`` apply the mask the same-named Dropout of ``ours`` drew in its last
    forward (a forward hook replacing torch's output by x·mask/(1-p)); ``ours`` must run first each step."""
    from scratch.nn.norm import Dropout

    modules = dict(ours.named_modules())
    for key, module in ref.named_modules():
        if isinstance(module, torch.nn.Dropout):
            if not isinstance(modules.get(key), Dropout):
                raise ValueError(f"share_dropout_masks: {key} is a Dropout in torch's model only")

            def hook(mod, inputs, output, mine=modules[key]):
                if not mod.training or mine.mask is None:
                    return output
                return inputs[0] * (torch.from_numpy(mine.mask).to(inputs[0].dtype) / (1 - mod.p))
            module.register_forward_hook(hook)


def make_optimizers(name: str, scratch_params, torch_params, lr: float):
    """The same optimizer, with the same hyperparameters, for both engines."""
    if name == "adam":
        return scratch_optim.Adam(scratch_params, lr=lr), torch.optim.Adam(torch_params, lr=lr)
    if name == "adamw":
        return scratch_optim.AdamW(scratch_params, lr=lr), torch.optim.AdamW(torch_params, lr=lr)
    if name == "sgd":
        return (scratch_optim.SGD(scratch_params, lr=lr, momentum=0.9),
                torch.optim.SGD(torch_params, lr=lr, momentum=0.9))
    raise ValueError(f"unknown optimizer {name!r}; expected adam, adamw or sgd")


def compare_engines(model: str = "lenet5", steps: int = 200, dtype: str = "float64", batch_size: int = 64,
                    lr: float = 1e-3, optimizer: str = "adam", dataset: str = "auto",
                    root: str | None = None, seed: int = 0, threads: int | None = None) -> CompareResult:
    """Train ``model`` for ``steps`` steps in both engines from identical weights on identical batches (and
    identical dropout masks); batch norm's running statistics are part of the compared state dicts."""
    if dtype not in ("float32", "float64"):
        raise ValueError(f"compare: dtype must be float32 or float64, got {dtype!r}")
    if steps < 1:
        raise ValueError(f"compare: steps must be positive, got {steps}")
    if threads:
        torch.set_num_threads(threads)
    np_dtype, t_dtype = np.dtype(dtype), getattr(torch, dtype)
    if dataset == "auto":
        dataset, _ = resolve_auto_dataset(root)
    from scratch.augment import Normalize

    data = load_dataset(dataset, root=root, train=True)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, drop_last=True, seed=seed,
                        transform=Normalize((0.5,), (0.5,)))
    ours = build_model(model, dtype=np_dtype, rng=np.random.default_rng(seed))
    ref = build_torch_model(model, dtype=t_dtype)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    share_dropout_masks(ours, ref)  # the same dropout masks in both (ours draws them first each step)
    opt_ours, opt_ref = make_optimizers(optimizer, list(ours.parameters()), list(ref.parameters()), lr)
    crit_ours, crit_ref = CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    import scratch

    result = CompareResult(model=model, dtype=dtype, dataset=dataset, backend=scratch.get_backend())
    times_ours, times_ref = [], []
    batches = iter(loader)
    for _ in range(steps):
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(loader)
            x, y = next(batches)
        x = x.astype(np_dtype)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        t0 = time.perf_counter()
        loss = crit_ours(ours(x), y)
        opt_ours.zero_grad()
        ours.backward(crit_ours.backward())
        opt_ours.step()
        t1 = time.perf_counter()
        loss_t = crit_ref(ref(xt), yt)
        opt_ref.zero_grad()
        loss_t.backward()
        opt_ref.step()
        t2 = time.perf_counter()

        times_ours.append(t1 - t0)
        times_ref.append(t2 - t1)
        result.losses_scratch.append(float(loss))
        result.losses_torch.append(float(loss_t.detach()))
    a, b = np.array(result.losses_scratch), np.array(result.losses_torch)
    result.max_loss_diff = float(np.max(np.abs(a - b)))
    result.max_loss_rel_diff = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-30)))
    ref_sd = ref.state_dict()
    for k, v in ours.state_dict().items():
        w = ref_sd[k].detach().numpy()
        diff = float(np.max(np.abs(v - w)))
        result.max_weight_diff = max(result.max_weight_diff, diff)
        result.max_weight_rel_diff = max(result.max_weight_rel_diff, diff / max(float(np.max(np.abs(w))), 1e-30))
    # medians: the first scratch step includes loading Numba's compiled kernels
    result.ms_per_step_scratch = 1e3 * float(np.median(times_ours))
    result.ms_per_step_torch = 1e3 * float(np.median(times_ref))
    return result
