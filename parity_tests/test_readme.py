"""README.md's examples run as written.

Every ```python block that follows the line ``<!-- runs in parity_tests/test_readme.py -->``
is executed in a fresh namespace inside a temporary folder (the examples write files).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.backend_independent

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- runs in parity_tests/test_readme.py -->"


def examples(text: str) -> list[str]:
    """The code of every python block right after the marker."""
    return re.findall(re.escape(MARKER) + r"\s*```python\n(.*?)```", text, flags=re.DOTALL)


@pytest.fixture(scope="module")
def readme_examples() -> list[str]:
    found = examples(README.read_text(encoding="utf-8"))
    assert found, f"{README} has no python block after {MARKER!r}"
    return found


def test_scratch_training_loop_runs_and_learns(readme_examples, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    loop = next(code for code in readme_examples if "stopper.load_best_model" in code)
    exec(compile(loop, f"{README}:scratch training loop", "exec"), namespace)
    stopper, model = namespace["stopper"], namespace["model"]
    assert namespace["accuracy"] > 0.8
    assert (tmp_path / "circle.npz").exists() and stopper.best_epoch is not None
    for key, value in stopper.best_state.items():
        np.testing.assert_array_equal(model.state_dict()[key], value, err_msg=key)


def test_every_marked_example_runs(readme_examples, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for i, code in enumerate(readme_examples):
        exec(compile(code, f"{README}:example {i}", "exec"), {})
