"""Parameter, Module and Sequential: torch-shaped containers over the functional core.

A ``Module`` runs its forward with ``module(x)`` and keeps what its backward needs; ``module.backward(dout)``
returns the gradient with respect to the input and *accumulates* parameter gradients into ``param.grad``
(as autograd does), so ``zero_grad()`` is needed between steps. Parameter names and array layouts are
torch's, so a state dict moves between engines unchanged::

    torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in scratch_model.state_dict().items()})
    scratch_model.load_state_dict({k: v.numpy() for k, v in torch_model.state_dict().items()})
"""

from __future__ import annotations

import functools
import inspect
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np


class Parameter:
    """A trainable array: ``data`` (np.ndarray) and ``grad`` (np.ndarray of the same shape, or None)."""

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray):
        self.data = np.array(data, copy=True) if not isinstance(data, np.ndarray) else data
        self.grad: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def accumulate_grad(self, g: np.ndarray) -> None:
        """``grad += g`` (``grad = copy of g`` when it is None), as autograd accumulates into ``.grad``."""
        if g.shape != self.data.shape:
            raise ValueError(f"Parameter: gradient of shape {g.shape} for a parameter of shape "
                             f"{self.data.shape}")
        if self.grad is None:
            self.grad = np.array(g, dtype=self.data.dtype, copy=True)
        else:
            self.grad += g

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of every layer and model (torch.nn.Module's container API, NumPy arrays inside)."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration -------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call Module.__init__() before assigning attributes")
        for store in (self._parameters, self._modules, self._buffers):
            store.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif value is None and name in ("weight", "bias"):
            self._parameters[name] = None
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_modules", "_buffers"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def register_buffer(self, name: str, array: np.ndarray, persistent: bool = True) -> None:
        """Register a non-trainable array; persistent buffers are part of ``state_dict``."""
        self.__dict__.pop(name, None)
        self._buffers[name] = array
        if not persistent:
            self._non_persistent.add(name)

    # -- running ------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Accumulate the parameters' gradients from ``dout`` (the gradient of the loss with respect to the
        last forward's output) and return the gradient with respect to its input. Modules with parameters
        also take ``input_grad=False`` (Conv2d, Linear, Sequential): skip the input's gradient and return
        None, as torch does for an input that does not require grad."""
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    # -- traversal ----------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        mods = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        seen: set[int] = set()
        for mod_prefix, m in mods:
            for name, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for mod_prefix, m in self.named_modules(prefix):
            for name, b in m._buffers.items():
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), b

    # -- modes and gradients ------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.fill(0)

    # -- state --------------------------------------------------------------------------------
    def _state_items(self) -> Iterator[tuple[str, Module, str, str]]:
        """(full key, owning module, local name, kind) for every entry of the state dict, in torch's order."""
        for mod_prefix, m in self.named_modules():
            for name, p in m._parameters.items():
                if p is not None:
                    yield (f"{mod_prefix}.{name}" if mod_prefix else name), m, name, "param"
            for name in m._buffers:
                if name not in m._non_persistent:
                    yield (f"{mod_prefix}.{name}" if mod_prefix else name), m, name, "buffer"

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies (never views) of every parameter and persistent buffer, keyed as torch keys them."""
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        for key, m, name, kind in self._state_items():
            arr = m._parameters[name].data if kind == "param" else m._buffers[name]
            out[key] = np.array(arr, copy=True)
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (NumPy arrays, anything ``np.asarray`` takes, torch tensors) into place.

        Values keep each parameter's dtype. A wrongly shaped entry always raises ``ValueError`` naming the
        key and both shapes; with ``strict=True`` missing or unexpected keys raise ``KeyError`` naming them.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a mapping of name -> array, "
                            f"got {type(state_dict).__name__}")
        items = list(self._state_items())
        own = [key for key, *_ in items]
        missing = [key for key in own if key not in state_dict]
        own_set = set(own)
        unexpected = [key for key in state_dict if key not in own_set]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        values = {}
        for key, m, name, kind in items:
            if key not in state_dict:
                continue
            value = state_dict[key]
            if hasattr(value, "detach"):
                value = value.detach().cpu().numpy()
            value = np.asarray(value)
            target = m._parameters[name].data if kind == "param" else m._buffers[name]
            if value.shape != target.shape:
                raise ValueError(f"load_state_dict for {type(self).__name__}: size mismatch for {key}: "
                                 f"got shape {value.shape} in the state dict, the model has {target.shape}")
            values[key] = (target, value)
        for target, value in values.values():
            target[...] = value
        return IncompatibleKeys(missing, unexpected)

    def to(self, dtype: Any) -> Module:
        """Cast every parameter and floating buffer to ``dtype`` in place (grads are dropped)."""
        dtype = np.dtype(dtype)
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None:
                    p.data = p.data.astype(dtype)
                    p.grad = None
            for name, b in m._buffers.items():
                if np.issubdtype(b.dtype, np.floating):
                    m._buffers[name] = b.astype(dtype)
        return self

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    # -- display ------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


class Sequential(Module):
    """Children run in order in ``forward`` and in reverse order in ``backward`` (chain rule)."""

    def __init__(self, *modules: Module | Mapping[str, Module]):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for name, m in modules[0].items():
                setattr(self, name, m)
        else:
            for i, m in enumerate(modules):
                if not isinstance(m, Module):
                    raise TypeError(f"Sequential: argument {i} is {type(m).__name__}, not a Module")
                setattr(self, str(i), m)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: int) -> Module:
        return list(self._modules.values())[idx]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for m in self._modules.values():
            x = m(x)
        return x

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Children's backward in reverse order. With ``input_grad=False`` (the training loop's call: the
        data needs no gradient) the backward stops at the first child that has parameters, which gets
        ``input_grad=False`` where it takes it (a network's first convolution then skips its col2im), and
        None is returned."""
        children = list(self._modules.values())
        first = 0 if input_grad else next((i for i, m in enumerate(children) if _has_parameters(m)), len(children))
        for i in range(len(children) - 1, first - 1, -1):
            m = children[i]
            if i == first and not input_grad and takes_input_grad(m):
                dout = m.backward(dout, input_grad=False)
            else:
                dout = m.backward(dout)
        return dout if input_grad else None


def _has_parameters(module: Module) -> bool:
    return next(iter(module.parameters()), None) is not None


@functools.cache
def _backward_takes_input_grad(cls: type) -> bool:
    return "input_grad" in inspect.signature(cls.backward).parameters


def takes_input_grad(module: Module) -> bool:
    """Whether ``module.backward`` accepts ``input_grad`` (see :meth:`Module.backward`)."""
    return _backward_takes_input_grad(type(module))
