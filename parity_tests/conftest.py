"""Hypothesis profiles (``HYPOTHESIS_PROFILE=dev|ci|thorough``, default ``ci``), the backends under test, and
shared fixtures.

Every test runs once per backend (``[numba]``, ``[reference]``; ``SCRATCH_TEST_BACKENDS=numba`` picks
some), except those marked ``backend_independent`` (they touch no op, or compare the two rooms
themselves). ``threads`` forces a kernel's serial or threaded path (thresholds at infinity or 0).
"""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
               print_blob=True)
settings.register_profile("dev", max_examples=10, **_common)
settings.register_profile("ci", max_examples=40, derandomize=True, **_common)  # reproducible CI
settings.register_profile("thorough", max_examples=400, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
torch.use_deterministic_algorithms(False)


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder with MNIST and Fashion-MNIST (all four files of each, torchvision's layout).

    ``$SCRATCH_DATA_DIR`` if set; else the per-user cache (``scratch.data.user_cache_dir()``), where the
    files are downloaded once (verified by SHA-256) when a network answers (5 s per try, off with
    ``SCRATCH_TEST_DOWNLOAD=0``). Missing files fail the test under CI (``CI=true``) or with
    ``SCRATCH_DATA_DIR`` set; otherwise the test skips with one line saying how to enable it.
    """
    from scratch.data import DATA_DIR_ENV, MNIST, FashionMNIST, user_cache_dir

    env = os.environ.get(DATA_DIR_ENV, "").strip()
    root = Path(env).expanduser() if env else user_cache_dir()
    classes = (MNIST, FashionMNIST)
    present = lambda: all(cls.is_present(root) for cls in classes)
    if not present() and not env and os.environ.get("SCRATCH_TEST_DOWNLOAD", "1").strip() != "0":
        try:
            for cls in classes:
                for train in (True, False):
                    cls.locate(root, train, download=True, timeout=5)
        except (RuntimeError, OSError):
            pass
    if present():
        return root.resolve()
    message = (f"MNIST/Fashion-MNIST not in {root}: run `scratchnet download` (needs a network) or set "
               f"{DATA_DIR_ENV} to a folder with MNIST/raw and FashionMNIST/raw to run the data tests")
    if env or os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


TEST_BACKENDS = tuple(b.strip() for b in os.environ.get("SCRATCH_TEST_BACKENDS", "numba,reference").split(",")
                      if b.strip())


def pytest_generate_tests(metafunc):
    if "scratch_backend" in metafunc.fixturenames and not metafunc.definition.get_closest_marker(
            "backend_independent"):
        metafunc.parametrize("scratch_backend", TEST_BACKENDS, indirect=True)


@pytest.fixture(autouse=True)
def scratch_backend(request):
    """The backend this test runs on (numba for a backend-independent test)."""
    import scratch

    name = getattr(request, "param", "numba")
    with scratch.backend(name):
        yield name


@pytest.fixture(params=["serial", "threaded"])
def threads(request):
    """Run the test with every kernel forced onto its serial path, then onto its threaded path."""
    import math

    from scratch.kernels import thresholds

    with thresholds(math.inf if request.param == "serial" else 0):
        yield request.param


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="CUDA is not available")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
