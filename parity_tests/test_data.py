"""Data layer: IDX reader, datasets (MNIST, Fashion-MNIST, digits), downloads, random_split, DataLoader.

Tests marked ``data`` read the real files from ``$SCRATCH_DATA_DIR`` (else the repository's
``../shared/data``); where they are missing these tests skip, except under CI (``CI=true``) or with an
explicit ``SCRATCH_DATA_DIR``, where they fail. Downloads are tested against a local HTTP server on
127.0.0.1 serving copies of those files; nothing here touches the network.
"""

from __future__ import annotations

import gzip
import os
import pickle
import re
import socket
import threading
import warnings
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image
from torchvision import transforms

from parity_tests.parity import assert_parity
from parity_tests.strategies import seeds
from parity_tests.strategies.data import idx_bytes, idx_cases, loader_cases, resize_cases, split_cases
from scratch.data import (
    DATA_DIR_ENV,
    MIRROR_ENV,
    MNIST,
    ArrayDataset,
    DataLoader,
    Digits,
    FashionMNIST,
    Subset,
    content_sha256,
    default_root,
    load_dataset,
    normalize_transform,
    random_split,
    read_idx,
    resize_bilinear,
    resolve_auto_dataset,
)

FASHION_TRAIN_FIRST = [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
FASHION_TEST_FIRST = [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
MNIST_TEST_FIRST = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


# ---------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def fashion_train(data_root) -> FashionMNIST:
    return FashionMNIST(data_root, train=True)


@pytest.fixture(scope="module")
def mnist_test(data_root) -> MNIST:
    return MNIST(data_root, train=False)


@pytest.fixture(scope="module")
def digits_train() -> Digits:
    return Digits(train=True)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _rewrap(src: Path, dst: Path, corrupt: bool) -> None:
    """``dst``: the gzip of ``src``'s content with its last byte changed (corrupt) or ``src`` cut in half."""
    if corrupt:
        content = bytearray(gzip.decompress(src.read_bytes()))
        content[-1] ^= 0xFF
        dst.write_bytes(gzip.compress(bytes(content), compresslevel=1))
    else:
        data = src.read_bytes()
        dst.write_bytes(data[: len(data) // 2])


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, data_root) -> str:
    """Base URL of a local HTTP server: ``flat/`` (torchvision's mirror layout: the MNIST test files),
    ``tree/`` (the whole data folder: ``{name}/raw/``), ``badsum/`` and ``truncated/`` (corrupted MNIST
    test files), ``empty/`` (404 for everything)."""
    served = tmp_path_factory.mktemp("mirror")
    raw = data_root / "MNIST" / "raw"
    (served / "tree").symlink_to(data_root, target_is_directory=True)
    for name in ("flat", "badsum", "truncated", "empty"):
        (served / name).mkdir()
    for stem in MNIST.split_files(train=False):
        (served / "flat" / f"{stem}.gz").symlink_to(raw / f"{stem}.gz")
        _rewrap(raw / f"{stem}.gz", served / "badsum" / f"{stem}.gz", corrupt=True)
        _rewrap(raw / f"{stem}.gz", served / "truncated" / f"{stem}.gz", corrupt=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _unreachable_url() -> str:
    """A URL on a local port nobody listens on (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# ---------------------------------------------------------------------------------------------- IDX reader

@given(idx_cases())
def test_read_idx_matches_torchvision_reader(tmp_path_factory, case):
    array, code, desc = case
    path = tmp_path_factory.mktemp("idx") / "file-idx"
    path.write_bytes(idx_bytes(array, code))
    ref = torchvision.datasets.mnist.read_sn3_pascalvincent_tensor(str(path), strict=True).numpy()
    ours = read_idx(path)
    assert ours.dtype == ref.dtype and ours.dtype.isnative and ours.flags.writeable, desc
    np.testing.assert_array_equal(ours, ref, err_msg=desc, strict=True)
    np.testing.assert_array_equal(ours, array, err_msg=desc, strict=True)


@pytest.mark.parametrize("shape, code", [((7,), 0x08), ((3, 4, 5), 0x08), ((2, 3), 0x0D), ((4,), 0x0B)])
def test_read_idx_gz_equals_raw(tmp_path, shape, code):
    array = np.arange(int(np.prod(shape))).reshape(shape).astype(np.dtype(
        {0x08: np.uint8, 0x0D: np.float32, 0x0B: np.int16}[code]))
    content = idx_bytes(array, code)
    (tmp_path / "a-idx").write_bytes(content)
    (tmp_path / "a-idx.gz").write_bytes(gzip.compress(content))
    raw, gz = read_idx(tmp_path / "a-idx"), read_idx(tmp_path / "a-idx.gz")
    assert raw.shape == gz.shape == shape and raw.dtype == gz.dtype == array.dtype
    np.testing.assert_array_equal(raw, array)
    np.testing.assert_array_equal(gz, array)


_GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4), 0x08)


@pytest.mark.parametrize("content, message", [
    (b"\x00\x00\x07\x01" + _GOOD[4:], "magic number 0x00000701"),
    (b"\x01\x00" + _GOOD[2:], "magic number 0x01000803"),
    (b"\x00\x00\x08\x00", "magic number 0x00000800"),
    (b"\x00\x00", "truncated IDX file: 2 bytes"),
    (_GOOD[:10], "truncated IDX file: 10 bytes, less than its 16-byte header"),
    (_GOOD[:-1], r"truncated IDX file: dims \(2, 3, 4\) of uint8 need 40 bytes, the file has 39"),
    (_GOOD + b"\x00\x00", "2 trailing bytes"),
])
@pytest.mark.parametrize("compressed", [False, True])
def test_read_idx_rejects_bad_files_naming_them(tmp_path, content, message, compressed):
    path = tmp_path / ("bad-idx.gz" if compressed else "bad-idx")
    path.write_bytes(gzip.compress(content) if compressed else content)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + message):
        read_idx(path)


@pytest.mark.parametrize("damage", ["truncated", "flipped", "not gzip"])
def test_read_idx_rejects_corrupt_gzip(tmp_path, damage):
    packed = bytearray(gzip.compress(_GOOD * 50))
    if damage == "truncated":
        packed = packed[: len(packed) // 2]
    elif damage == "flipped":
        packed[len(packed) // 2] ^= 0xFF
    else:
        packed = bytearray(_GOOD)
    path = tmp_path / "data-idx.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": not a valid gzip file"):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-idx"):
        read_idx(tmp_path / "nothing-idx")


# ---------------------------------------------------------------------------------------------- MNIST family

@pytest.mark.data
@pytest.mark.parametrize("cls", [MNIST, FashionMNIST])
def test_shared_files_match_checksums(data_root, cls):
    files = sorted((data_root / cls.folder / "raw").glob("*.gz"))
    assert files, f"no files in {data_root / cls.folder / 'raw'}"
    for path in files:
        assert content_sha256(path) == cls.resources[path.name.removesuffix(".gz")], path


@pytest.mark.data
def test_fashion_train(fashion_train):
    ds = fashion_train
    assert len(ds) == 60000 and ds.data.shape == (60000, 28, 28) and ds.data.dtype == np.uint8
    assert ds.targets.shape == (60000,) and ds.targets.dtype == np.int64
    assert ds.targets[:10].tolist() == FASHION_TRAIN_FIRST
    assert np.bincount(ds.targets).tolist() == [6000] * 10
    assert ds.classes == torchvision.datasets.FashionMNIST.classes
    assert ds.data.min() == 0 and ds.data.max() == 255


@pytest.mark.data
def test_fashion_and_mnist_test_splits(data_root, mnist_test):
    fashion = FashionMNIST(data_root, train=False)
    assert fashion.data.shape == mnist_test.data.shape == (10000, 28, 28)
    assert fashion.targets[:10].tolist() == FASHION_TEST_FIRST
    assert mnist_test.targets[:10].tolist() == MNIST_TEST_FIRST
    assert mnist_test.classes == torchvision.datasets.MNIST.classes


@pytest.mark.data
def test_items_equal_torchvision_pipeline(data_root, mnist_test):
    """ds[i] is ToTensor'd (float32 (1, 28, 28) = data / 255); with the tutorial's Normalize it equals
    torchvision's Compose([ToTensor(), Normalize((0.5,), (0.5,))]) on the PIL image."""
    ref_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    normalized = MNIST(data_root, train=False, transform=normalize_transform())
    for i in (0, 1, 9999, -1):
        x, y = mnist_test[i]
        assert x.dtype == np.float32 and x.shape == (1, 28, 28) and type(y) is int
        img = Image.fromarray(mnist_test.data[i], mode="L")
        assert_parity("to_tensor", x, transforms.ToTensor()(img), f"MNIST test [{i}]")
        assert_parity("normalize", normalized[i][0], ref_tf(img), f"MNIST test [{i}]")
        assert y == int(mnist_test.targets[i])
    xb, yb = normalized.get_batch([0, 1, 9999])
    assert xb.shape == (3, 1, 28, 28) and xb.dtype == np.float32 and yb.dtype == np.int64
    np.testing.assert_array_equal(xb, np.stack([normalized[i][0] for i in (0, 1, 9999)]))
    with pytest.raises(IndexError, match="out of range"):
        mnist_test[10000]


@pytest.mark.data
def test_extracted_files_are_read_like_gz(tmp_path, data_root, mnist_test):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in MNIST.split_files(train=False):
        (raw / stem).write_bytes(gzip.decompress((data_root / "MNIST" / "raw" / f"{stem}.gz").read_bytes()))
    ds = MNIST(tmp_path, train=False)
    np.testing.assert_array_equal(ds.data, mnist_test.data)
    np.testing.assert_array_equal(ds.targets, mnist_test.targets)


def test_missing_files_without_download(tmp_path):
    expected = re.escape(str(tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"))
    with pytest.raises(FileNotFoundError, match=f"{expected}.*{DATA_DIR_ENV}"):
        MNIST(tmp_path, train=False)


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_root() == tmp_path / "cache" / "scratchnet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_root() == Path.home() / ".cache" / "scratchnet"
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert default_root() == tmp_path
    assert default_root("elsewhere") == Path("elsewhere")


@pytest.mark.data
def test_load_dataset_by_name(data_root):
    assert isinstance(load_dataset("fashion-mnist", data_root, train=False, download=False), FashionMNIST)
    assert isinstance(load_dataset("mnist", data_root, train=False, download=False), MNIST)
    assert isinstance(load_dataset("digits", train=False), Digits)
    with pytest.raises(ValueError, match="unknown dataset 'cifar'.*fashion-mnist, mnist, digits"):
        load_dataset("cifar")


# ---------------------------------------------------------------------------------------------- downloads

def _left_in(raw: Path) -> list[str]:
    return sorted(os.listdir(raw)) if raw.exists() else []


@pytest.mark.data
def test_download_only_the_needed_split(tmp_path, mirror, mnist_test):
    ds = MNIST(tmp_path, train=False, download=True, mirrors=f"{mirror}/flat/")
    assert _left_in(tmp_path / "MNIST" / "raw") == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    np.testing.assert_array_equal(ds.data, mnist_test.data)
    np.testing.assert_array_equal(ds.targets, mnist_test.targets)
    again = MNIST(tmp_path, train=False, download=True, mirrors=_unreachable_url())
    np.testing.assert_array_equal(again.targets, mnist_test.targets)


@pytest.mark.data
def test_download_mirror_from_env_with_name_placeholder(tmp_path, monkeypatch, mirror):
    monkeypatch.setenv(MIRROR_ENV, f"{mirror}/tree/{{name}}/raw")
    ds = FashionMNIST(tmp_path, train=False, download=True)
    assert ds.targets[:10].tolist() == FASHION_TEST_FIRST
    for path in (tmp_path / "FashionMNIST" / "raw").iterdir():
        assert content_sha256(path) == FashionMNIST.resources[path.name.removesuffix(".gz")]


@pytest.mark.data
@pytest.mark.parametrize("folder, reason", [("badsum", "checksum mismatch: SHA-256 of the decompressed file"),
                                            ("truncated", "not a valid gzip file")])
def test_corrupt_download_is_rejected_and_removed(tmp_path, mirror, folder, reason):
    with pytest.raises(RuntimeError, match=f"(?s){reason}.*To fix it.*{DATA_DIR_ENV}"):
        MNIST(tmp_path, train=False, download=True, mirrors=[f"{mirror}/{folder}/"])
    assert _left_in(tmp_path / "MNIST" / "raw") == []


def test_unreachable_mirror_says_what_to_do(tmp_path):
    url = _unreachable_url()
    with pytest.raises(RuntimeError) as info:
        FashionMNIST(tmp_path, train=False, download=True, mirrors=url, timeout=5)
    message = str(info.value)
    for needed in (url + "t10k-images-idx3-ubyte.gz", "--data-dir", DATA_DIR_ENV, "FashionMNIST/raw/*.gz",
                   MIRROR_ENV, "--dataset digits"):
        assert needed in message, f"{needed!r} missing from:\n{message}"
    assert not (tmp_path / "FashionMNIST").exists(), "a failed download leaves no empty folders"


@pytest.mark.data
@pytest.mark.parametrize("damage", ["label", "pixel", "dims"])
def test_changed_idx_content_is_refused_on_load(tmp_path, data_root, damage):
    """A valid gzip whose content differs from the known file (a changed label, a changed pixel, dims 28x28 ->
    14x56 with the same bytes) is a ValueError naming the file: the SHA-256 is checked on every load."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images, labels = MNIST.split_files(train=False)
    src = data_root / "MNIST" / "raw"
    content = {s: bytearray(gzip.decompress((src / f"{s}.gz").read_bytes())) for s in (images, labels)}
    if damage == "label":
        content[labels][8] = (content[labels][8] + 1) % 10
    elif damage == "pixel":
        content[images][16 + 400] ^= 0x01
    else:
        content[images][8:16] = (14).to_bytes(4, "big") + (56).to_bytes(4, "big")
    changed = images if damage != "label" else labels
    for stem, data in content.items():
        (raw / f"{stem}.gz").write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(ValueError, match=re.escape(str(raw / f"{changed}.gz")) + ".*SHA-256"):
        MNIST(tmp_path, train=False)


@pytest.mark.data
def test_download_falls_back_to_later_mirrors(tmp_path, mirror, mnist_test):
    ds = MNIST(tmp_path, train=False, download=True,
               mirrors=[_unreachable_url(), f"{mirror}/empty/", f"{mirror}/badsum/", f"{mirror}/flat/"])
    np.testing.assert_array_equal(ds.data, mnist_test.data)
    assert _left_in(tmp_path / "MNIST" / "raw") == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


@pytest.mark.data
def test_resolve_auto_dataset(tmp_path, data_root, mirror):
    assert resolve_auto_dataset(data_root)[0] == "fashion-mnist"
    name, reason = resolve_auto_dataset(tmp_path / "offline", download=False)
    assert name == "digits" and "downloading is off" in reason
    name, reason = resolve_auto_dataset(tmp_path / "unreachable", mirrors=_unreachable_url(), timeout=2)
    assert name == "digits" and "could not be downloaded" in reason
    name, reason = resolve_auto_dataset(tmp_path / "online", mirrors=f"{mirror}/tree/{{name}}/raw/")
    assert name == "fashion-mnist" and "downloaded" in reason
    assert FashionMNIST.is_present(tmp_path / "online")


# ---------------------------------------------------------------------------------------------- digits

@given(resize_cases())
def test_resize_bilinear_matches_torch_interpolate(case):
    x, size, desc = case
    ref = torch.nn.functional.interpolate(torch.from_numpy(x), size, mode="bilinear", align_corners=False)
    assert_parity("resize_bilinear", resize_bilinear(x, size), ref, desc, reduction=4)


def test_digits(digits_train):
    test = Digits(train=False)
    assert len(digits_train) + len(test) == 1797 and len(test) == 360
    for ds in (digits_train, test):
        assert ds.data.shape == (len(ds), 28, 28) and ds.data.dtype == np.uint8
        assert ds.targets.dtype == np.int64 and ds.data.min() == 0 and ds.data.max() == 255
    assert np.bincount(test.targets).min() >= 35
    x, y = digits_train[0]
    assert x.shape == (1, 28, 28) and x.dtype == np.float32 and type(y) is int
    assert x.min() == 0 and x.max() <= 1
    again = Digits(train=True)
    np.testing.assert_array_equal(again.data, digits_train.data)
    np.testing.assert_array_equal(again.targets, digits_train.targets)
    other = Digits(train=True, seed=1)
    assert not np.array_equal(other.targets, digits_train.targets)
    with pytest.raises(ValueError, match="test_fraction must be in"):
        Digits(test_fraction=1.0)


# ---------------------------------------------------------------------------------------------- random_split

def _torch_sizes(n, lengths):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return [len(s) for s in torch.utils.data.random_split(range(n), lengths, torch.Generator())]
        except ValueError:
            return ValueError


@given(split_cases(), seeds)
@example((10, [0.8, 0.2]), 0)
@example((5, [1, 0]), 0)
@example((7, [0.5, 0.5]), 0)
@example((3, [0.1, 0.2, 0.7]), 0)
@example((0, [0.5, 0.5]), 0)
def test_random_split_matches_torch_sizes(case, seed):
    n, lengths = case
    data = ArrayDataset(np.zeros((n, 2, 2), np.uint8), np.arange(n))
    expected = _torch_sizes(n, lengths)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if expected is ValueError:
            with pytest.raises(ValueError, match="Sum of input lengths"):
                random_split(data, lengths, seed)
            return
        parts, again = random_split(data, lengths, seed), random_split(data, lengths, seed)
    assert [len(p) for p in parts] == expected, f"n={n} lengths={lengths}"
    members = np.concatenate([p.targets for p in parts])
    assert sorted(members.tolist()) == list(range(n)), "subsets must be disjoint and cover the dataset"
    for p, q in zip(parts, again, strict=True):
        np.testing.assert_array_equal(p.indices, q.indices)


def test_random_split_errors_and_warnings():
    data = ArrayDataset(np.zeros((5, 2, 2), np.uint8), np.arange(5))
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(data, [2, 2])
    with pytest.raises(ValueError, match="Fraction at index 1 is not between 0 and 1"):
        random_split(data, [0.5, 1.5, -1.0])
    with pytest.raises(TypeError, match="lengths must be ints"):
        random_split(data, [2.0, 3.0])
    with pytest.raises(ValueError, match="non-negative"):
        random_split(data, [-1, 6])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(data, [1.0, 0.0])


def test_subset_reads_through(digits_train):
    sub = random_split(digits_train, [0.8, 0.2], seed=3)[1]
    np.testing.assert_array_equal(sub.targets, digits_train.targets[sub.indices])
    x, y = sub.get_batch([0, 2])
    ref_x, ref_y = digits_train.get_batch(sub.indices[[0, 2]])
    np.testing.assert_array_equal(x, ref_x)
    np.testing.assert_array_equal(y, ref_y)
    assert sub[1][1] == int(digits_train.targets[sub.indices[1]]) and sub.classes == digits_train.classes
    nested = Subset(sub, [1, 0])
    np.testing.assert_array_equal(nested.targets, sub.targets[[1, 0]])


# ---------------------------------------------------------------------------------------------- DataLoader

class _ItemsOnly:
    """A dataset without get_batch (the loader's slow path)."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        return self.ds[i]


def _dataset(n: int) -> ArrayDataset:
    data = (np.arange(n * 4) % 256).astype(np.uint8).reshape(n, 2, 2)
    return ArrayDataset(data, np.arange(n) % 10, transform=normalize_transform())


def _epoch(loader) -> list[np.ndarray]:
    return [y for _, y in loader]


@given(loader_cases)
@example({"n": 10, "batch_size": 3, "shuffle": False, "drop_last": True, "seed": 0})
@example({"n": 9, "batch_size": 3, "shuffle": True, "drop_last": False, "seed": 0})
@example({"n": 2, "batch_size": 5, "shuffle": False, "drop_last": True, "seed": 0})
def test_dataloader_batches(case):
    n, bs = case["n"], case["batch_size"]
    ds = _dataset(n)
    loader = DataLoader(ds, bs, case["shuffle"], case["drop_last"], seed=case["seed"])
    slow = DataLoader(_ItemsOnly(ds), bs, case["shuffle"], case["drop_last"], seed=case["seed"])
    ref = torch.utils.data.DataLoader(range(n), batch_size=bs, drop_last=case["drop_last"])
    batches = list(loader)
    assert len(batches) == len(loader) == len(ref), case
    seen = []
    for (x, y), (xs, ys), ref_idx in zip(batches, slow, ref, strict=True):
        assert x.dtype == np.float32 and x.shape == (len(ref_idx), 1, 2, 2) and y.dtype == np.int64, case
        np.testing.assert_array_equal(x, xs)
        np.testing.assert_array_equal(y, ys)
        seen.extend(y.tolist())
    if not case["shuffle"]:
        assert seen == (np.arange(len(seen)) % 10).tolist(), case
    if not case["drop_last"]:
        assert sorted(seen) == sorted((np.arange(n) % 10).tolist()), case


@given(seeds)
def test_dataloader_shuffle_is_seeded_and_resumable(seed):
    ds = ArrayDataset(np.zeros((23, 1, 1), np.uint8), np.arange(23))
    first = DataLoader(ds, 5, shuffle=True, seed=seed)
    epochs = [_epoch(first) for _ in range(2)]
    state = pickle.loads(pickle.dumps(first.state_dict()))
    later = [_epoch(first) for _ in range(2)]
    assert not np.array_equal(np.concatenate(epochs[0]), np.concatenate(epochs[1])), "reshuffle each epoch"
    same_seed = DataLoader(ds, 5, shuffle=True, seed=seed)
    for ref in epochs:
        for a, b in zip(_epoch(same_seed), ref, strict=True):
            np.testing.assert_array_equal(a, b)
    resumed = DataLoader(ds, 5, shuffle=True, seed=seed + 1)
    resumed.load_state_dict(state)
    for ref in later:
        for a, b in zip(_epoch(resumed), ref, strict=True):
            np.testing.assert_array_equal(a, b)


def test_dataloader_transform_and_errors():
    ds = _dataset(6)
    plain = ArrayDataset(ds.data, ds.targets)
    loader = DataLoader(plain, 4, transform=normalize_transform())
    for (x, _), (ref, _) in zip(loader, DataLoader(ds, 4), strict=True):
        np.testing.assert_array_equal(x, ref)
    for kwargs, message in [({"batch_size": 0}, "batch_size should be a positive integer value"),
                            ({"batch_size": 2.0}, "batch_size should be a positive integer value"),
                            ({"drop_last": None}, "drop_last should be a boolean value")]:
        with pytest.raises(ValueError, match=message):
            DataLoader(ds, **kwargs)


@given(st.integers(1, 3))
def test_normalize_transform_keeps_dtype(n):
    for dtype in (np.float32, np.float64):
        x = np.linspace(0, 1, n * 4, dtype=dtype).reshape(n, 1, 2, 2)
        out = normalize_transform()(x)
        ref = transforms.Normalize((0.5,), (0.5,))(torch.from_numpy(x))
        assert_parity("normalize", out, ref, f"x {x.shape} {np.dtype(dtype).name}")
