"""Training checkpoints of both engines: a SHA-256 of the content that loading verifies, so every corruption
or alteration is a ValueError naming the file; torch checkpoints load with ``weights_only=True`` (no code
runs on load)."""

from __future__ import annotations

import re
from collections import OrderedDict

import numpy as np
import pytest

from scratch import serialization
from scratch.checkpoint import load_checkpoint, save_checkpoint, state_digest

pytestmark = pytest.mark.backend_independent


def _state():
    return {"epoch": 3, "model": OrderedDict(w=np.arange(12.0).reshape(3, 4), b=np.ones(3, np.float32)),
            "history": {"val_loss": [0.5, 0.25]}, "config": {"lr": 1e-3, "model": "lenet5"}, "extra": (1, None)}


def test_round_trip_keeps_values_and_digest(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, _state())
    loaded = load_checkpoint(path)
    assert state_digest(loaded) == state_digest(_state())
    np.testing.assert_array_equal(loaded["model"]["w"], _state()["model"]["w"])
    assert loaded["extra"] == (1, None) and loaded["history"] == {"val_loss": [0.5, 0.25]}


@pytest.mark.parametrize("change", ["weight", "meta", "digest removed"])
def test_altered_scratch_checkpoint_is_refused_naming_the_file(tmp_path, change):
    """A rewrite with valid zip CRCs (what a bit flip in a copy or a careless edit gives) still fails."""
    path = tmp_path / "c.npz"
    save_checkpoint(path, _state())
    members = serialization.load(path)
    if change == "weight":
        key = next(k for k in members if not k.startswith("__"))
        members[key] = members[key].copy()
        members[key].reshape(-1)[1] = -7.65e36
    elif change == "meta":
        meta = members["__meta__"].tobytes().replace(b"lenet5", b"lenet6")
        members["__meta__"] = np.frombuffer(meta, np.uint8)
    else:
        del members["__sha256__"]
    serialization.save(members, path)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_checkpoint(path)


def test_torch_checkpoint_digest_and_weights_only(tmp_path):
    torch = pytest.importorskip("torch")
    from torch_impl.training import load_checkpoint as torch_load
    from torch_impl.training import save_checkpoint as torch_save

    path = tmp_path / "c.pt"
    state = {"epoch": 1, "model": OrderedDict(w=torch.arange(6.0)), "history": {"val_loss": [0.5]},
             "extra_rng": {"torch": torch.get_rng_state()}, "config": {"lr": 0.001}}
    torch_save(path, state)
    assert torch.equal(torch_load(path)["model"]["w"], torch.arange(6.0))

    altered = torch.load(path, weights_only=True)
    altered["model"]["w"][1] = -7.65e36  # keeps the stored digest
    torch.save(altered, path)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*does not match its SHA-256"):
        torch_load(path)

    path.write_text("a text file, not a checkpoint")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        torch_load(path)

    class Exploit:
        def __reduce__(self):
            return (exec, (f"open({str(tmp_path / 'pwned')!r}, 'w').write('ran')",))

    torch.save({"epoch": 1, "payload": Exploit()}, path)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        torch_load(path)
    assert not (tmp_path / "pwned").exists(), "loading a checkpoint ran code"
