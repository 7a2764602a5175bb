"""The one chunked-parallel helper and the one table of thresholds of the engine room.

A kernel family whose work splits into independent units (elements, image planes, images, matrix rows)
has a serial kernel ``kernel(*args, lo, hi)`` over units ``lo..hi-1`` and a ``prange`` wrapper
``parallel(*args, chunks)`` that runs it over one range per thread. :func:`run` picks one: the threaded
path only for work of at least ``THRESHOLDS[family]`` (below it, waking the thread pool costs more than
it saves; each figure was measured on 2 cores, see ``benchmarks/README.md``).

:func:`thresholds` overrides the table, e.g. ``with thresholds(0): ...`` forces every threaded path and
``with thresholds(math.inf): ...`` every serial one (the tests do both).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numba

THRESHOLDS: dict[str, float] = {
    "elementwise": 350_000,  # elements; LeNet's first activation at batch 64 (301k) is faster serial
    "sigmoid": 50_000,       # elements; an exp per element: 2 threads win from ~20k
    "pool": 350_000,         # input elements; LeNet's pool1 at batch 64 (301k) serial, pool2 at 256 (410k) not
    "linear": 1_500_000,     # multiply-adds; 2 threads win from ~1M (forward) to ~1.5M (backward)
    "conv": 1_500_000,       # multiply-adds of the whole batch; LeNet's convolutions at batch 1 stay serial
    "norm": 350_000,         # elements; batch norm's passes are memory-bound like the elementwise ops
    "affine": 1 << 20,       # pixels; one training batch (64·28·28) takes ~0.5 ms on one core
}


def chunks(family: str, work: float, units: int) -> int:
    """How many ranges to split ``units`` into: 1 below the family's threshold, else one per thread."""
    if work < THRESHOLDS[family] or units < 2:
        return 1
    return min(units, numba.get_num_threads())


def run(family: str, kernel: Callable, parallel: Callable, work: float, units: int, *args: object) -> None:
    """``kernel(*args, 0, units)`` on this thread, or ``parallel(*args, n)`` over n = :func:`chunks` ranges."""
    n = chunks(family, work, units)
    if n < 2:
        kernel(*args, 0, units)
    else:
        parallel(*args, n)


@contextlib.contextmanager
def thresholds(value: float | None = None, **per_family: float) -> Iterator[dict[str, float]]:
    """Override the thresholds inside a ``with`` block: ``value`` for every family, or per family
    (``thresholds(pool=0)``); ``0`` forces the threaded paths, ``math.inf`` the serial ones."""
    unknown = set(per_family) - set(THRESHOLDS)
    if unknown:
        raise ValueError(f"thresholds: unknown families {sorted(unknown)}, expected some of {sorted(THRESHOLDS)}")
    saved = dict(THRESHOLDS)
    try:
        if value is not None:
            THRESHOLDS.update(dict.fromkeys(THRESHOLDS, value))
        THRESHOLDS.update(per_family)
        yield THRESHOLDS
    finally:
        THRESHOLDS.clear()
        THRESHOLDS.update(saved)


__all__ = ["THRESHOLDS", "chunks", "run", "thresholds"]
