"""scratch.serialization: exact round trips, atomic writes (a crash mid-write keeps the old file), and clear
errors for corrupt, truncated or foreign files."""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from parity_tests.strategies import distinct_array, float_dtypes, seeds
from scratch.nn.module import Module, Parameter
from scratch.serialization import load, save

pytestmark = pytest.mark.backend_independent


class Net(Module):
    def __init__(self, rng: np.random.Generator, dtype=np.float64):
        super().__init__()
        self.weight = Parameter(distinct_array(rng, (3, 4), dtype))
        self.block = Module()
        self.block.bias = Parameter(distinct_array(rng, (3,), dtype))
        self.block.register_buffer("count", np.arange(3, dtype=np.int64))


def _files(directory) -> list[str]:
    return sorted(os.listdir(directory))


@given(seed=seeds, dtype=float_dtypes, keys=st.lists(st.text(min_size=1, max_size=12).filter(
    lambda k: "\x00" not in k), min_size=1, max_size=5, unique=True))
def test_round_trip_is_exact_and_keeps_order(tmp_path_factory, seed, dtype, keys):
    rng = np.random.default_rng(seed)
    state = OrderedDict((k, distinct_array(rng, (2, i + 1), dtype)) for i, k in enumerate(keys))
    path = tmp_path_factory.mktemp("ser") / "state.npz"
    save(state, path)
    out = load(path)
    assert list(out) == keys
    for k, v in state.items():
        assert out[k].dtype == v.dtype and out[k].shape == v.shape
        np.testing.assert_array_equal(out[k], v)
    assert _files(path.parent) == ["state.npz"]


def test_module_and_torch_state_dicts(tmp_path):
    net = Net(np.random.default_rng(0))
    save(net, tmp_path / "net.npz")
    out = load(tmp_path / "net.npz")
    assert list(out) == ["weight", "block.bias", "block.count"]
    fresh = Net(np.random.default_rng(1))
    fresh.load_state_dict(out)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k], v)
    lin = torch.nn.Linear(3, 2)
    save(lin, tmp_path / "lin.npz")
    loaded = load(tmp_path / "lin.npz")
    torch.nn.Linear(3, 2).load_state_dict({k: torch.from_numpy(v) for k, v in loaded.items()})
    save({"file": np.zeros(2), "allow_pickle": np.ones(1)}, tmp_path / "names.npz")
    assert list(load(tmp_path / "names.npz")) == ["file", "allow_pickle"]


def _old_and_new(tmp_path):
    path = tmp_path / "model.npz"
    old = OrderedDict(w=np.arange(6.0).reshape(2, 3))
    save(old, path)
    new = OrderedDict(w=np.full((2, 3), 7.0), b=np.ones(3))
    return path, old, new


def test_crash_while_writing_keeps_the_previous_file(tmp_path, monkeypatch):
    path, old, new = _old_and_new(tmp_path)
    write_array = np.lib.format.write_array
    calls = []

    def crash_on_second_array(fp, array, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            fp.write(b"\x93NUMPY half an array")
            raise OSError("disk full")
        return write_array(fp, array, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", crash_on_second_array)
    with pytest.raises(OSError, match="disk full"):
        save(new, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(load(path)["w"], old["w"])
    assert list(load(path)) == ["w"]
    assert _files(tmp_path) == ["model.npz"]


def test_crash_before_rename_keeps_the_previous_file(tmp_path, monkeypatch):
    path, old, new = _old_and_new(tmp_path)

    def crash(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save(new, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(load(path)["w"], old["w"])
    assert _files(tmp_path) == ["model.npz"]


def test_data_is_fsynced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    import stat

    path, _, new = _old_and_new(tmp_path)
    events = []
    fsync, replace = os.fsync, os.replace

    def record_fsync(fd):
        kind = "fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file"
        events.append(kind)
        return fsync(fd)

    monkeypatch.setattr(os, "fsync", record_fsync)
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), replace(a, b))[1])
    save(new, path)
    expected = ["fsync file", "replace", "fsync dir"] if os.name == "posix" else ["fsync file", "replace"]
    assert events == expected
    np.testing.assert_array_equal(load(path)["w"], new["w"])


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_written_files_get_the_users_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        save({"w": np.zeros(2)}, tmp_path / "w.npz")
    finally:
        os.umask(old)
    if os.name == "posix":
        assert (tmp_path / "w.npz").stat().st_mode & 0o777 == 0o666 & ~umask


def test_stale_temporaries_are_removed(tmp_path):
    from scratch.serialization import remove_stale_temporaries

    save({"w": np.zeros(2)}, tmp_path / "w.npz")
    for name in (".w.npz.abc123.tmp", ".history.json.x.tmp"):
        (tmp_path / name).write_bytes(b"half")
    (tmp_path / "keep.tmp").write_bytes(b"not ours: not hidden")
    assert remove_stale_temporaries(tmp_path) == [".history.json.x.tmp", ".w.npz.abc123.tmp"]
    assert _files(tmp_path) == ["keep.tmp", "w.npz"]


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _corrupt_files(tmp_path) -> dict:
    good = tmp_path / "good.npz"
    save(OrderedDict(w=np.arange(1000.0), b=np.ones(3)), good)
    raw = good.read_bytes()
    npy = tmp_path / "plain.npy"
    np.save(npy, np.arange(3.0))
    objects = tmp_path / "objects.npz"
    np.savez(objects, a=np.array([{"x": 1}, None], dtype=object))
    strings = tmp_path / "strings.npz"
    np.savez(strings, a=np.array(["a", "b"]))
    foreign = tmp_path / "foreign.npz"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("notes.txt", "hello")
    flipped = bytearray(raw)
    flipped[len(raw) // 3] ^= 0xFF
    return {
        "empty": _write(tmp_path / "empty.npz", b""),
        "truncated": _write(tmp_path / "truncated.npz", raw[: len(raw) // 2]),
        "bit flip in data": _write(tmp_path / "flipped.npz", bytes(flipped)),
        "random bytes": _write(tmp_path / "random.npz", np.random.default_rng(0).bytes(300)),
        "pickle": _write(tmp_path / "pickle.npz", pickle.dumps({"w": np.zeros(2)})),
        "torch.save": tmp_path / "torch.pt",
        ".npy": npy, "object array": objects, "string array": strings, "foreign zip": foreign,
    }


def _zip_header_damage(tmp_path, name: str, offset: int, value: int):
    """A copy of a valid archive with one byte of its central directory entry set (flag or method bits)."""
    good = tmp_path / "good2.npz"
    save(OrderedDict(w=np.arange(10.0)), good)
    raw = bytearray(good.read_bytes())
    raw[raw.index(b"PK\x01\x02") + offset] = value
    return _write(tmp_path / name, bytes(raw))


CORRUPT = ["empty", "truncated", "bit flip in data", "random bytes", "pickle", "torch.save", ".npy",
           "object array", "string array", "foreign zip", "encrypted flag", "unknown method"]


@pytest.mark.parametrize("kind", CORRUPT)
def test_corrupt_or_foreign_file_gives_a_clear_error(tmp_path, kind):
    if kind == "encrypted flag":
        path = _zip_header_damage(tmp_path, "flag.npz", 8, 0x01)  # general purpose flag: encrypted
    elif kind == "unknown method":
        path = _zip_header_damage(tmp_path, "method.npz", 10, 0x63)  # compression method 99
    else:
        path = _corrupt_files(tmp_path)[kind]
    if kind == "torch.save":
        torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load(tmp_path / "nope.npz")


@pytest.mark.parametrize(("state", "error", "match"), [
    ({"w": "text"}, TypeError, "entry 'w' is a str"),
    ({"w": [1.0, 2.0]}, TypeError, "entry 'w' is a list"),
    ({"w": np.array([None])}, TypeError, "array of dtype object"),
    ({1: np.zeros(2)}, TypeError, "keys must be non-empty strings"),
    ({"": np.zeros(2)}, TypeError, "keys must be non-empty strings"),
    ({"a\x00b": np.zeros(2)}, TypeError, "without NUL"),
    ([np.zeros(2)], TypeError, "expected a module or a mapping"),
])
def test_save_rejects_what_it_cannot_store(tmp_path, state, error, match):
    with pytest.raises(error, match=match):
        save(state, tmp_path / "x.npz")
    assert _files(tmp_path) == []
