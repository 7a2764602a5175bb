"""``Optimizer``: torch.optim.Optimizer's bookkeeping (param groups, per-parameter state, state dicts).

Subclasses set ``defaults`` and implement ``_update(param, group)``, which :meth:`Optimizer.step` calls for
every parameter whose ``grad`` is not None (the others are skipped, as in torch) and which updates
``param.data`` in place. The state dict has torch's layout, with NumPy arrays where torch has tensors::

    {"state": {0: {"momentum_buffer": array}, ...},
     "param_groups": [{"lr": 0.1, "momentum": 0.9, ..., "params": [0, 1]}, ...]}

so converting the arrays to tensors (``torch.from_numpy``) is all a torch optimizer needs to load it, and
a torch optimizer's state dict loads here as it is (tensors are converted to arrays).
"""

from __future__ import annotations

import copy
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from itertools import chain
from typing import Any

import numpy as np

from scratch.nn.module import Parameter

_SET_MESSAGE = ("optimizer parameters need to be organized in ordered collections, but the ordering of "
                "parameters in sets will change between runs. Please use a list instead.")

ParamsT = Iterable[Parameter] | Iterable[tuple[str, Parameter]] | Iterable[dict[str, Any]]


class Optimizer:
    """Base class: ``param_groups`` (list of dicts with ``"params"`` and the options), ``defaults``, and
    ``state`` (a dict keyed by :class:`~scratch.nn.module.Parameter`, filled lazily by :meth:`step`)."""

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Parameter, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Parameter):
            raise TypeError("params argument given to the optimizer should be an iterable of Parameters or "
                            "dicts, but got Parameter")
        if isinstance(params, set):
            warnings.warn(_SET_MESSAGE, FutureWarning, stacklevel=2)
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Append a group; options it does not set are taken from ``defaults`` (torch's rules and errors)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        param_group = dict(param_group)
        params = param_group["params"]
        if isinstance(params, Parameter):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(_SET_MESSAGE)
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. "
                                 "Some param names are missing")
            param_group["param_names"] = names
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer can only optimize Parameters, but one of the params is "
                                f"{type(p).__name__}")
        param_group["params"] = params
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        if len(params) != len(set(params)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters", stacklevel=3)
        for group in self.param_groups:
            if ("param_names" in param_group) != ("param_names" in group):
                kind = "with names" if "param_names" in param_group else "without names"
                raise ValueError(f"all optimizer param groups should be with/without names. cannot add param "
                                 f"group {kind} to the optimizer")
        existing = set(chain.from_iterable(g["params"] for g in self.param_groups))
        if not existing.isdisjoint(params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set every ``grad`` to None (default), or fill it with zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.fill(0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()`` when given."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, group)
        return loss

    def _update(self, p: Parameter, group: dict[str, Any]) -> None:
        """Update ``p.data`` in place from ``p.grad`` (not None), group options and ``self.state[p]``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _update")

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """torch's format: parameters replaced by their index (in group order), state arrays copied."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {(index[id(p)] if isinstance(p, Parameter) else p): {k: _copy_value(v) for k, v in s.items()}
                 for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a :meth:`state_dict` (ours, or a torch optimizer's: tensors are converted to arrays).

        Groups are matched by position, parameters by index; state arrays are copied and cast to their
        parameter's dtype (``step`` keeps its own), and must have the parameter's shape.
        """
        groups = self.param_groups
        saved_groups = copy.deepcopy(list(state_dict["param_groups"]))
        if len(groups) != len(saved_groups):
            raise ValueError(f"loaded state dict has a different number of parameter groups "
                             f"({len(saved_groups)}, the optimizer has {len(groups)})")
        for i, (g, s) in enumerate(zip(groups, saved_groups, strict=True)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(f"loaded state dict contains a parameter group that doesn't match the size "
                                 f"of optimizer's group: group {i} has {len(s['params'])} parameters in the "
                                 f"state dict, {len(g['params'])} in the optimizer")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved_groups),
                          chain.from_iterable(g["params"] for g in groups), strict=True))
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key not in id_map:
                state[key] = value
                continue
            p = id_map[key]
            state[p] = {name: _cast_state(name, v, p, key) for name, v in value.items()}
        for g, s in zip(groups, saved_groups, strict=True):
            s["params"] = g["params"]
            if "param_names" in g and "param_names" not in s:
                s["param_names"] = g["param_names"]
        self.state = state
        self.param_groups = saved_groups

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k not in ("params", "param_names")]
        return "\n".join(lines) + "\n)"


def _copy_value(v: Any) -> Any:
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    if isinstance(v, np.ndarray):
        return np.array(v, copy=True)
    return copy.deepcopy(v)


def _cast_state(name: str, value: Any, p: Parameter, index: int) -> Any:
    value = _copy_value(value)
    if not isinstance(value, np.ndarray) or name == "step":
        return value
    if value.shape != p.data.shape:
        raise ValueError(f"loaded state dict has {name} of shape {value.shape} for parameter {index}, "
                         f"whose shape is {p.data.shape}")
    return value.astype(p.data.dtype, copy=False) if np.issubdtype(value.dtype, np.floating) else value
