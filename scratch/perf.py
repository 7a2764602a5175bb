"""The scratch engine's thread and memory policies: one explicit call, :func:`configure`, never an import.

Importing :mod:`scratch` changes nothing outside it. The CLI and the benchmarks call :func:`configure`
before the first kernel runs and record what it did (:func:`info`) in their output; a library user may
call it too. What it does, and why:

* **BLAS: one thread** in every loaded BLAS (SciPy's, which Numba's ``np.dot`` calls, is loaded first).
  scratch parallelises over the batch inside its Numba kernels and calls BLAS on small matrices; left at
  their defaults a process holds several thread pools as large as the machine (Numba's OpenMP, NumPy's
  and SciPy's OpenBLAS, torch's), and OpenBLAS's workers spin ~0.1 s after each call: on 2 cores a
  LeNet-5 step measured 15–150 ms instead of ~5 ms. (conv2d's GEMMs are sliced small enough that
  OpenBLAS keeps them on the calling thread even without this.)
* **Numba's thread count**: ``num_threads``, else ``$SCRATCH_NUM_THREADS``, else Numba's default (all
  cores). The OpenMP wait policy stays at its default (measurements in benchmarks/README.md).
* **malloc keeps freed arrays in the heap** (glibc only): ``mallopt`` sets ``M_MMAP_THRESHOLD`` 32 MiB,
  ``M_TRIM_THRESHOLD`` 1 GiB and ``M_TOP_PAD`` 64 MiB, so a training step that frees and reallocates the
  same arrays does not page-fault through fresh pages each time (LeNet-5, batch 64: per-layer medians
  summed to 6.3 ms with glibc's defaults, 4.6 ms with this). The process keeps its peak heap.

All three are process-wide: torch in the same process gets them too. Numba's OpenMP pool also is: a
torch imported after scratch has run a parallel kernel shares it, and ``torch.set_num_threads`` then
slowed torch's LeNet-5 step about 3x, so the benchmarks time each engine in its own process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from typing import Any

NUM_THREADS_ENV = "SCRATCH_NUM_THREADS"

# glibc's <malloc.h>: parameter numbers of mallopt
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
MALLOC_SETTINGS = {_M_MMAP_THRESHOLD: 32 << 20, _M_TRIM_THRESHOLD: 1 << 30, _M_TOP_PAD: 64 << 20}

_state: dict[str, Any] = {"blas_threads": None, "malloc": False, "configured": False}


def configure(num_threads: int | None = None, *, blas: bool = True, malloc: bool = True) -> dict[str, Any]:
    """Apply the policies of this module (see its docstring) and return :func:`info`.

    ``num_threads``: Numba's thread count (default ``$SCRATCH_NUM_THREADS``, else Numba's own);
    ``blas=False`` leaves the BLAS pools alone, ``malloc=False`` glibc's malloc. Calling it again is
    harmless (only the thread count changes).
    """
    _state["configured"] = True
    if blas and _state["blas_threads"] is None:
        _state["blas_threads"] = _limit_blas()
    if malloc and not _state["malloc"]:
        _state["malloc"] = _tune_malloc()
    if num_threads is None and os.environ.get(NUM_THREADS_ENV, "").strip():
        raw = os.environ[NUM_THREADS_ENV].strip()
        if not raw.isdigit():
            raise ValueError(f"{NUM_THREADS_ENV}: expected a positive integer, got {raw!r}")
        num_threads = int(raw)
    if num_threads is not None:
        set_num_threads(num_threads)
    return info()


def set_num_threads(n: int) -> None:
    """Numba's thread count for scratch's parallel kernels (1 <= n <= NUMBA_NUM_THREADS)."""
    import numba

    n = int(n)
    if not 1 <= n <= numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"set_num_threads: expected 1 <= n <= {numba.config.NUMBA_NUM_THREADS} "
                         f"(NUMBA_NUM_THREADS), got {n}")
    numba.set_num_threads(n)


def get_num_threads() -> int:
    """Numba's current thread count."""
    import numba

    return numba.get_num_threads()


def available_cores() -> int:
    """The number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def info() -> dict[str, Any]:
    """What :func:`configure` did in this process and the thread pools as they stand (for reports)."""
    import numba

    result: dict[str, Any] = {
        "configured": _state["configured"],
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": _threading_layer(),
        "omp_env": {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in os.environ},
        "blas_threads_limit": _state["blas_threads"],
        "malloc_policy": _state["malloc"],
    }
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_info

        result["pools"] = [{"library": os.path.basename(p["filepath"]), "api": p["user_api"],
                            "threads": p["num_threads"]} for p in threadpool_info()]
    return result


def _threading_layer() -> str | None:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return None


def _limit_blas() -> int | None:
    """One thread in every loaded BLAS, SciPy's (used by Numba's ``np.dot``) loaded first."""
    with contextlib.suppress(ImportError):
        import scipy.linalg.cython_blas  # noqa: F401
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    ThreadpoolController().limit(limits=1, user_api="blas")
    return 1


def _tune_malloc() -> bool:
    """The malloc settings of the module docstring; True if glibc accepted every one."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all([mallopt(param, value) == 1 for param, value in MALLOC_SETTINGS.items()])
