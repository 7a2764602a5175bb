"""scratch.perf: importing scratch or torch_impl changes no process-wide state; configure() applies the
thread and memory policies, once, on request; the backend switch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import scratch
from scratch import perf

pytestmark = pytest.mark.backend_independent

_STATE_SCRIPT = """
import json, sys
from threadpoolctl import threadpool_info
import numpy, scipy.linalg.cython_blas  # load both BLAS first, so their pools are seen before and after
def state():
    return sorted((p["filepath"], p["num_threads"]) for p in threadpool_info())
before = state()
for name in sys.argv[1:]:
    __import__(name)
import numba
print(json.dumps({"same_pools": state() == before, "pools": len(before),
                  "numba_threads": numba.get_num_threads(), "cores": numba.config.NUMBA_NUM_THREADS,
                  "configured": __import__("scratch.perf").perf.info()["configured"]}))
"""


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})})
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("modules", [("scratch",), ("scratch.nn", "scratch.optim", "scratch.functional"),
                                     ("torch_impl",), ("scratch.training", "scratch.cli")])
def test_import_leaves_thread_pools_alone(modules: tuple[str, ...]) -> None:
    result = _run(_STATE_SCRIPT, *modules, env={"SCRATCH_NUM_THREADS": "1"})
    assert result["pools"] >= 1 and result["same_pools"], result
    assert result["numba_threads"] == result["cores"], "import changed Numba's thread count"
    assert result["configured"] is False


_MALLOPT_SCRIPT = """
import json, resource, sys
import numpy as np
mode = sys.argv[1]
import scratch, torch_impl  # noqa: F401
if mode == "configure":
    from scratch import perf
    perf.configure()
def cycle():  # like a training step: several arrays alive at once, then all freed
    arrays = [np.ones(1 << 19, dtype=np.float32) for _ in range(8)]  # 8 x 2 MiB, every page written
    return sum(float(a[-1]) for a in arrays)
for _ in range(5):
    cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):
    cycle()
print(json.dumps({"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the memory policy is glibc's mallopt")
def test_import_leaves_malloc_alone_and_configure_tunes_it() -> None:
    """100 cycles of allocating and writing 8 x 2 MiB, then freeing them. After a plain import malloc
    keeps glibc's defaults: the freed 16 MiB exceed the trim threshold, go back to the OS, and every cycle
    faults its pages in again. After perf.configure() the pages are reused (no page faults)."""
    plain = _run(_MALLOPT_SCRIPT, "import")["faults"]
    tuned = _run(_MALLOPT_SCRIPT, "configure")["faults"]
    assert plain > 100 * 1024, plain  # 4096 pages of 4 KiB per cycle
    assert tuned < 100, tuned


_CONFIGURE_SCRIPT = """
import json
from scratch import perf
info = perf.configure(1)
print(json.dumps(info))
"""


def test_configure_applies_and_reports_the_policies() -> None:
    info = _run(_CONFIGURE_SCRIPT)
    assert info["configured"] is True and info["numba_threads"] == 1 and info["blas_threads_limit"] == 1
    assert all(p["threads"] == 1 for p in info["pools"] if p["api"] == "blas")
    assert info["malloc_policy"] is (sys.platform.startswith("linux"))


def test_configure_reads_the_thread_count_from_the_environment() -> None:
    assert _run(_CONFIGURE_SCRIPT.replace("configure(1)", "configure()"),
                env={"SCRATCH_NUM_THREADS": "1"})["numba_threads"] == 1
    bad = subprocess.run([sys.executable, "-c", "from scratch import perf; perf.configure()"], text=True,
                         capture_output=True, env={**os.environ, "SCRATCH_NUM_THREADS": "two"})
    assert bad.returncode != 0 and "SCRATCH_NUM_THREADS: expected a positive integer, got 'two'" in bad.stderr


def test_set_num_threads_checks_its_range() -> None:
    n = perf.get_num_threads()
    perf.set_num_threads(1)
    assert perf.get_num_threads() == 1
    perf.set_num_threads(n)
    with pytest.raises(ValueError, match="set_num_threads: expected 1 <= n"):
        perf.set_num_threads(0)
    assert perf.available_cores() >= 1


def test_backend_switch_and_context_manager() -> None:
    start = scratch.get_backend()
    with scratch.backend("reference") as name:
        assert name == "reference" == scratch.get_backend()
        with scratch.backend("numba"):
            assert scratch.get_backend() == "numba"
        assert scratch.get_backend() == "reference"
    assert scratch.get_backend() == start
    scratch.set_backend("reference")
    try:
        assert scratch.get_backend() == "reference"
    finally:
        scratch.set_backend(start)
    with pytest.raises(ValueError, match="set_backend: expected one of reference, numba, got 'cuda'"):
        scratch.set_backend("cuda")
    with pytest.raises(TypeError, match="set_backend: expected a backend name"):
        scratch.set_backend(1)


def test_backend_from_the_environment() -> None:
    script = "import scratch; print('\"' + scratch.get_backend() + '\"')"
    assert _run(script, env={"SCRATCH_BACKEND": "reference"}) == "reference"
    assert _run(script, env={"SCRATCH_BACKEND": ""}) == "numba"
    bad = subprocess.run([sys.executable, "-c", "import scratch"], text=True, capture_output=True,
                         env={**os.environ, "SCRATCH_BACKEND": "fast"})
    assert bad.returncode != 0 and "SCRATCH_BACKEND: expected one of reference, numba, got 'fast'" in bad.stderr
