"""What every benchmark shares: thread pinning, interleaved timing, result checks, environment, output.

Timing rules (llm.c's dev/cuda benchmarks, adapted to a shared CPU): results are checked against torch
before anything is timed; every function is warmed up (its first call, which includes Numba's compile or
cache load, is reported on its own and never mixed into a timing); the engines are timed *interleaved*,
one sample of each in turn (the order rotating every round), so a load spike from another process hits
both; each sample repeats the call enough times to last ``target_s``; the report gives the median and the
minimum of the samples.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass
class Timing:
    """Per-call times of one function, in milliseconds, from ``len(samples_ms)`` samples of ``number`` calls."""

    median_ms: float
    min_ms: float
    p90_ms: float
    number: int
    samples_ms: list[float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pin_threads(n: int | None = None) -> int:
    """Give scratch (Numba) and torch the same number of threads, ``n`` or every available core.

    torch is imported first, so that it loads its own OpenMP runtime before Numba's pool starts (sharing
    Numba's made torch ~3x slower, see :mod:`scratch.perf`). scratch's thread and memory policies
    (:func:`scratch.perf.configure`) are applied and recorded in the JSON; apart from the count, torch
    keeps its libraries' defaults.
    """
    try:
        import torch
    except ImportError:
        torch = None
    from scratch import perf

    n = perf.available_cores() if n is None else int(n)
    perf.configure(n)
    if torch is not None:
        torch.set_num_threads(n)
    return n


def first_call_ms(fn: Callable[[], Any], sync: Callable[[], None] | None = None) -> float:
    """Wall time of one call of ``fn`` (for the first call: Numba's compile or cache load included)."""
    t0 = time.perf_counter()
    fn()
    if sync is not None:
        sync()
    return 1e3 * (time.perf_counter() - t0)


def _calls_per_sample(fn: Callable[[], Any], target_s: float, sync: Callable[[], None] | None) -> int:
    t0 = time.perf_counter()
    fn()
    if sync is not None:
        sync()
    once = max(time.perf_counter() - t0, 1e-7)
    return max(1, min(10_000, int(target_s / once)))


def time_interleaved(fns: dict[str, Callable[[], Any]], *, repeats: int = 15, warmup: int = 2,
                     target_s: float = 2e-3,
                     syncs: dict[str, Callable[[], None]] | None = None) -> dict[str, Timing]:
    """Time every function of ``fns``, interleaved: ``repeats`` rounds of one sample per function.

    ``warmup`` untimed calls each first. A sample is ``number`` back-to-back calls (``number`` chosen per
    function so that a sample lasts about ``target_s``) divided by ``number``. ``syncs[name]``, when given,
    is called after each sample's calls and inside its timing (``torch.cuda.synchronize`` for CUDA).
    """
    syncs = syncs or {}
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
        if name in syncs:
            syncs[name]()
    number = {name: _calls_per_sample(fns[name], target_s, syncs.get(name)) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn, sync, k = fns[name], syncs.get(name), number[name]
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            if sync is not None:
                sync()
            samples[name].append(1e3 * (time.perf_counter() - t0) / k)
    return {name: _summary(s, number[name]) for name, s in samples.items()}


def _summary(samples: Sequence[float], number: int) -> Timing:
    a = np.asarray(samples, dtype=np.float64)
    return Timing(median_ms=float(np.median(a)), min_ms=float(a.min()), p90_ms=float(np.percentile(a, 90)),
                  number=number, samples_ms=[float(v) for v in a])


def check_close(name: str, ours: Any, ref: Any, dtype: np.dtype | str) -> float:
    """Raise AssertionError unless ``ours`` matches torch's ``ref`` within the dtype's tolerance.

    Tolerance: max |ours - ref| <= tol · max(1, max |ref|), tol = 1e-4 (float32) or 1e-9 (float64): loose
    enough for any summation order, tight enough to catch a wrong result. Returns the scaled error.
    """
    if hasattr(ref, "detach"):
        ref = ref.detach().cpu().numpy()
    ours, ref = np.asarray(ours), np.asarray(ref)
    if ours.shape != ref.shape:
        raise AssertionError(f"{name}: shape {ours.shape} vs torch {ref.shape}")
    tol = 1e-4 if np.dtype(dtype) == np.float32 else 1e-9
    scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
    err = float(np.max(np.abs(ours.astype(np.float64) - ref.astype(np.float64)))) / scale if ref.size else 0.0
    if not err <= tol:
        raise AssertionError(f"{name}: differs from torch by {err:.3e} (scaled), tolerance {tol:.0e}")
    return err


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def environment(threads: int) -> dict[str, Any]:
    """Date, machine, library versions and thread settings, stored with every result file."""
    import numba

    from scratch import perf

    env: dict[str, Any] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpu": _cpu_name(), "cores": perf.available_cores(), "platform": platform.platform()},
        "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
        "threads": threads, "scratch_threads": perf.info(),
    }
    try:
        import torch
    except ImportError:
        return env
    env["torch"] = torch.__version__
    env["torch_threads"] = torch.get_num_threads()
    env["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return env


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_json(obj: Any, path: str | os.PathLike) -> str:
    """Write ``obj`` as indented JSON (atomically, through a temporary file) and return the path."""
    from scratch.cli import write_json_atomic

    path = os.fspath(path)
    write_json_atomic(json.loads(json.dumps(obj, default=_jsonable)), path)
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a table cell (``n/a`` for None); fixed significant digits, no scientific notation."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - int(np.floor(np.log10(abs(value)))))
    return f"{value:.{decimals}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; the first column is left-aligned, the rest right-aligned."""
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
