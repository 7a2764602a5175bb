"""The reading room stays readable: scratch/functional imports no Numba, each public op body is short,
and a whole model trains on the reference backend in a process where Numba cannot be imported."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_independent

FUNCTIONAL = Path(__file__).resolve().parents[1] / "scratch" / "functional"
MAX_BODY_LINES = 25


def _modules() -> list[Path]:
    return sorted(p for p in FUNCTIONAL.rglob("*.py"))


def _code_lines(fn: ast.FunctionDef, source: list[str]) -> int:
    """Lines of the body holding code: no docstring, blank lines or comment-only lines."""
    body = fn.body[1:] if ast.get_docstring(fn) is not None else fn.body
    lines = set()
    for node in body:
        lines.update(range(node.lineno, node.end_lineno + 1))
    return sum(1 for i in lines if source[i - 1].strip() and not source[i - 1].strip().startswith("#"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(FUNCTIONAL)))
def test_functional_imports_no_numba(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        for name in names:
            assert name.split(".")[0] not in ("numba", "llvmlite"), f"{path.name} imports {name}"
            assert not name.startswith("scratch.kernels"), f"{path.name} imports the engine room ({name})"


@pytest.mark.parametrize("path", [p for p in _modules() if not p.name.startswith("_") and p.parent == FUNCTIONAL],
                         ids=lambda p: p.name)
def test_public_op_bodies_are_short(path: Path) -> None:
    text = path.read_text()
    source = text.splitlines()
    long = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            n = _code_lines(node, source)
            if n > MAX_BODY_LINES:
                long[node.name] = n
    assert not long, f"{path.name}: public bodies over {MAX_BODY_LINES} code lines: {long}"


_NO_NUMBA = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("numba", "llvmlite"):
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, Block())
import numpy as np
import scratch
from scratch.models import build_model
from scratch.nn.loss import CrossEntropyLoss
from scratch.optim import Adam
assert scratch.get_backend() == "reference"
rng = np.random.default_rng(0)
x, y = rng.standard_normal((4, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 4)
for name in ("lenet5", "lenet5-classic", "simple-cnn", "simple-cnn-bn", "simple-nn"):
    model = build_model(name, dtype=np.float32, rng=rng)
    criterion, optimizer = CrossEntropyLoss(), Adam(list(model.parameters()))
    for _ in range(2):
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        model.backward(criterion.backward())
        optimizer.step()
    assert np.isfinite(float(loss)), name
print("numba" in sys.modules)
"""


def test_models_train_on_the_reference_backend_without_numba() -> None:
    out = subprocess.run([sys.executable, "-c", _NO_NUMBA], capture_output=True, text=True,
                         env={**os.environ, "SCRATCH_BACKEND": "reference"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "False"
