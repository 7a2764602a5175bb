"""Hypothesis profiles (``HYPOTHESIS_PROFILE=dev|ci|thorough``) and shared fixtures."""

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
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
torch.use_deterministic_algorithms(False)


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The dataset folder: $SCRATCH_DATA_DIR, else ../shared/data.

    Skips only outside CI when the files are missing and SCRATCH_DATA_DIR is unset; under CI (``CI=true``)
    or with SCRATCH_DATA_DIR set, missing data is a failure, never a skip.
    """
    from scratch.data import DATA_DIR_ENV, MNIST, FashionMNIST

    env = os.environ.get(DATA_DIR_ENV, "").strip()
    root = Path(env) if env else REPO.parent / "shared" / "data"
    if FashionMNIST.is_present(root) and MNIST.is_present(root, train=False):
        return root.resolve()
    message = (f"Fashion-MNIST (all four files) and the MNIST test split not found under {root}; set "
               f"{DATA_DIR_ENV} to a folder with FashionMNIST/raw/*.gz and MNIST/raw/t10k-*.gz")
    if env or os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


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
