"""Which room computes the ops: ``reference`` (plain NumPy, :mod:`scratch.functional`'s modules) or
``numba`` (:mod:`scratch.kernels`, the default).

The choice is made at call time by the dispatching names of :mod:`scratch.functional` (and the
optimizers' steps and the affine warp): ``$SCRATCH_BACKEND`` at start-up, then :func:`set_backend` or
the :func:`backend` context manager. A backward always runs in the room whose forward made its cache,
so switching between a forward and its backward cannot mix the two.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
from collections.abc import Callable, Iterator

BACKENDS = ("reference", "numba")
BACKEND_ENV = "SCRATCH_BACKEND"
_PACKAGES = {"reference": "scratch.functional", "numba": "scratch.kernels"}


def _from_env() -> str:
    name = os.environ.get(BACKEND_ENV, "").strip().lower() or "numba"
    if name not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV}: expected one of {', '.join(BACKENDS)}, got {name!r}")
    return name


_current: contextvars.ContextVar[str] = contextvars.ContextVar("scratch_backend", default=_from_env())  # noqa: B039 (a str)


def _check(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"set_backend: expected a backend name ({', '.join(BACKENDS)}), got "
                        f"{type(name).__name__}")
    if name.lower() not in BACKENDS:
        raise ValueError(f"set_backend: expected one of {', '.join(BACKENDS)}, got {name!r}")
    return name.lower()


def get_backend() -> str:
    """The name of the backend in force: ``"reference"`` or ``"numba"``."""
    return _current.get()


def set_backend(name: str) -> None:
    """Make ``name`` (``"reference"`` or ``"numba"``) the backend of every later op call."""
    _current.set(_check(name))


@contextlib.contextmanager
def backend(name: str) -> Iterator[str]:
    """``with scratch.backend("reference"): ...`` runs the block on that backend, then restores the previous."""
    token = _current.set(_check(name))
    try:
        yield token.var.get()
    finally:
        _current.reset(token)


def _lookup(backend_name: str, family: str, name: str) -> Callable | None:
    try:
        module = importlib.import_module(f"{_PACKAGES[backend_name]}.{family}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{_PACKAGES[backend_name]}.{family}":
            raise
        return None
    return getattr(module, name, None)


def _owner(cache: object) -> str | None:
    """The backend whose module defined the type of ``cache`` (None when neither did); memoised per type."""
    kind = type(cache)
    if kind not in _owners:
        _owners[kind] = next((name for name, package in _PACKAGES.items()
                              if kind.__module__.startswith(package + ".")), None)
    return _owners[kind]


_owners: dict[type, str | None] = {}


def dispatcher(family: str, name: str) -> tuple[Callable[[], Callable], Callable[[object], Callable]]:
    """Two functions for op ``name`` of ``family``: one giving its implementation in the backend in force,
    one giving it for a backward's cache (in the backend that made the cache). A kernel family without its
    own ``name`` uses the reference (nothing to speed up there). Lookups are made once per backend."""
    found: dict[str | None, Callable] = {}

    def resolve(backend_name: str) -> Callable:
        fn = found.get(backend_name)
        if fn is None:
            fn = found[backend_name] = _lookup(backend_name, family, name) or _lookup("reference", family, name)
        return fn

    def current() -> Callable:
        return resolve(_current.get())

    def for_cache(cache: object) -> Callable:
        return resolve(_owner(cache) or _current.get())

    return current, for_cache


def implementation(family: str, name: str, cache: object = None) -> Callable:
    """The function ``name`` of ``family`` in the backend in force, or, for a backward given its
    ``cache``, in the backend that made the cache (see :func:`dispatcher`)."""
    current, for_cache = dispatcher(family, name)
    return current() if cache is None else for_cache(cache)
