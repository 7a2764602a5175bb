"""Image-classification datasets: MNIST, Fashion-MNIST (torchvision's files and layout) and sklearn's digits.

Every dataset holds ``data`` uint8 (N, 28, 28) and ``targets`` int64 (N,). Unlike torchvision, whose
datasets return PIL images, ``ds[i]`` returns the image with ``ToTensor`` already applied: float32
(1, 28, 28) in [0, 1], i.e. ``data[i] / 255``, the same values ``transforms.ToTensor()`` gives.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from scratch.data.download import DOWNLOAD_TIMEOUT, MIRROR_ENV, download_files, resolve_mirrors
from scratch.data.idx import read_idx

DATA_DIR_ENV = "SCRATCH_DATA_DIR"
DATASET_NAMES = ("fashion-mnist", "mnist", "digits")

Transform = Callable[[np.ndarray], np.ndarray]


def user_cache_dir() -> Path:
    """The per-user data cache: ``$XDG_CACHE_HOME/scratchnet``, else ``~/.cache/scratchnet``."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base).expanduser() if base else Path.home() / ".cache") / "scratchnet"


def default_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: ``root`` if given, else ``$SCRATCH_DATA_DIR``, else :func:`user_cache_dir`."""
    if root is None:
        root = os.environ.get(DATA_DIR_ENV, "").strip() or user_cache_dir()
    return Path(root).expanduser()


class ArrayDataset:
    """Grayscale images in memory: ``data`` uint8 (N, H, W), ``targets`` int64 (N,).

    ``ds[i]`` -> ``(x, y)``: x float32 (1, H, W) = data[i] / 255 (ToTensor applied), then ``transform(x)``
    if given; y a Python int. ``get_batch(indices)`` -> ``(x float32 (B, 1, H, W), y int64 (B,))`` does the
    same for many samples at once, ``transform`` applied to the whole batch.
    """

    classes: list[str] = []

    def __init__(self, data: np.ndarray, targets: np.ndarray, transform: Transform | None = None,
                 classes: Sequence[str] | None = None) -> None:
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 3:
            raise ValueError(f"{type(self).__name__}: data must be a uint8 array (N, H, W), got "
                             f"{getattr(data, 'dtype', type(data).__name__)} {np.shape(data)}")
        targets = np.asarray(targets)
        if targets.shape != (len(data),) or not np.issubdtype(targets.dtype, np.integer):
            raise ValueError(f"{type(self).__name__}: targets must be integers of shape ({len(data)},), got "
                             f"{targets.dtype} {targets.shape}")
        self.data = data
        self.targets = targets.astype(np.int64)
        self.transform = transform
        if classes is not None:
            self.classes = list(classes)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        i = operator.index(index)
        if not -len(self) <= i < len(self):
            raise IndexError(f"{type(self).__name__}: index {i} is out of range for {len(self)} samples")
        x = self.data[i][None].astype(np.float32) / np.float32(255)
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.targets[i])

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Samples ``indices`` as one batch: x float32 (B, 1, H, W) (transformed), y int64 (B,)."""
        idx = np.asarray(indices, dtype=np.intp)
        if idx.ndim != 1:
            raise ValueError(f"{type(self).__name__}.get_batch: indices must be 1-D, got shape {idx.shape}")
        x = self.data[idx][:, None].astype(np.float32) / np.float32(255)
        if self.transform is not None:
            x = self.transform(x)
        return x, self.targets[idx]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(samples={len(self)}, image={self.data.shape[1:]})"


class MNIST(ArrayDataset):
    """MNIST handwritten digits from ``<root>/MNIST/raw/`` (torchvision's layout; ``.gz`` or extracted).

    ``root``: the data folder (:func:`default_root`). ``train``: the 60,000-image training split, else the
    10,000-image test split; only that split's two files are needed. ``download``: fetch missing files
    from ``mirrors`` (see :mod:`scratch.data.download`), verifying the SHA-256 of their decompressed
    content; without it, missing files raise FileNotFoundError. ``ds[i]`` returns ToTensor'd float32
    images, not PIL images (see :class:`ArrayDataset`).
    """

    folder = "MNIST"
    display_name = "MNIST"
    mirrors = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
    resources = {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    }
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 transform: Transform | None = None, download: bool = False,
                 mirrors: str | Sequence[str] | None = None, timeout: float = DOWNLOAD_TIMEOUT) -> None:
        self.root = default_root(root)
        self.train = train
        images_stem, labels_stem = self.split_files(train)
        paths = self.locate(self.root, train, download=download, mirrors=mirrors, timeout=timeout)
        images = read_idx(paths[images_stem], sha256=self.resources[images_stem])
        labels = read_idx(paths[labels_stem], sha256=self.resources[labels_stem])
        where = f"{paths[images_stem]} and {paths[labels_stem]}"
        if images.dtype != np.uint8 or images.ndim != 3:
            raise ValueError(f"{paths[images_stem]}: expected uint8 images (N, H, W), got "
                             f"{images.dtype} {images.shape}")
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise ValueError(f"{paths[labels_stem]}: expected uint8 labels (N,), got "
                             f"{labels.dtype} {labels.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{where}: {len(images)} images but {len(labels)} labels")
        if labels.size and labels.max() >= len(self.classes):
            raise ValueError(f"{paths[labels_stem]}: label {labels.max()} out of range for "
                             f"{len(self.classes)} classes")
        super().__init__(images, labels, transform)

    @classmethod
    def split_files(cls, train: bool) -> tuple[str, str]:
        """The (images, labels) file stems of a split, e.g. ``t10k-images-idx3-ubyte``."""
        prefix = "train" if train else "t10k"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    @classmethod
    def raw_folder(cls, root: str | os.PathLike | None = None) -> Path:
        """``<root>/<folder>/raw``, where torchvision keeps the files."""
        return default_root(root) / cls.folder / "raw"

    @classmethod
    def locate(cls, root: str | os.PathLike | None = None, train: bool = True, download: bool = False,
               mirrors: str | Sequence[str] | None = None,
               timeout: float = DOWNLOAD_TIMEOUT) -> dict[str, Path]:
        """Paths of a split's files (the extracted file if present, else the ``.gz``).

        Missing files are downloaded when ``download`` (RuntimeError if that fails); otherwise they raise
        FileNotFoundError naming the expected paths and how to provide them.
        """
        raw = cls.raw_folder(root)
        stems = cls.split_files(train)
        missing = [s for s in stems if _existing(raw, s) is None]
        if missing and download:
            download_files(raw, {s: cls.resources[s] for s in missing},
                           resolve_mirrors(mirrors, cls.mirrors), cls.display_name, timeout)
        elif missing:
            raise FileNotFoundError(cls.missing_message(root, train, missing))
        return {s: _existing(raw, s) for s in stems}

    @classmethod
    def missing_message(cls, root: str | os.PathLike | None, train: bool, missing: Sequence[str]) -> str:
        """One line: which files of a split are missing and how to provide them."""
        raw = cls.raw_folder(root)
        expected = ", ".join(str(raw / f"{s}.gz") for s in missing)
        folder = default_root(root)
        hint = ""
        if folder.name in ("MNIST", "FashionMNIST", "raw") or (folder / "raw").is_dir():
            hint = (f" ({folder} looks like a dataset folder itself: give the folder that contains "
                    f"{cls.folder}/, e.g. {folder.parent if folder.name != 'raw' else folder.parent.parent})")
        return (f"{cls.display_name} {'train' if train else 'test'} split not found: missing {expected}{hint}. "
                f"Point --data-dir / {DATA_DIR_ENV} at a folder with {cls.folder}/raw/*.gz (torchvision's "
                f"layout), or download them (scratchnet download / --download / download=True; mirror: "
                f"{MIRROR_ENV}).")

    @classmethod
    def is_present(cls, root: str | os.PathLike | None = None, train: bool | None = None) -> bool:
        """Whether a split's files (both splits' when ``train`` is None) are in ``root``."""
        splits = (True, False) if train is None else (train,)
        raw = cls.raw_folder(root)
        return all(_existing(raw, s) is not None for t in splits for s in cls.split_files(t))


def _existing(raw: Path, stem: str) -> Path | None:
    for path in (raw / stem, raw / f"{stem}.gz"):
        if path.is_file():
            return path
    return None


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST from ``<root>/FashionMNIST/raw/``; same interface as :class:`MNIST`."""

    folder = "FashionMNIST"
    display_name = "Fashion-MNIST"
    mirrors = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    resources = {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    }
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


class Digits(ArrayDataset):
    """scikit-learn's bundled handwritten digits (1,797 8×8 images), resized to 28×28; no download needed.

    Pixel values 0..16 are resized bilinearly (:func:`resize_bilinear`) and scaled to uint8 0..255.
    The train/test split is sklearn's ``train_test_split`` stratified by class with ``test_fraction`` and
    ``seed`` (deterministic); each split keeps the original sample order. ``root`` is accepted for a
    uniform interface and ignored.
    """

    classes = MNIST.classes

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 transform: Transform | None = None, test_fraction: float = 0.2, seed: int = 0) -> None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"Digits: test_fraction must be in (0, 1), got {test_fraction}")
        self.root = root
        self.train = train
        digits = load_digits()
        train_idx, test_idx = train_test_split(np.arange(len(digits.target)), test_size=test_fraction,
                                               random_state=seed, stratify=digits.target)
        idx = np.sort(train_idx if train else test_idx)
        images = resize_bilinear(digits.images[idx], (28, 28))
        data = np.clip(np.rint(images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
        super().__init__(data, digits.target[idx], transform)


def resize_bilinear(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of the last two axes, as ``F.interpolate(mode="bilinear", align_corners=False)``.

    Shapes:  x (..., H, W) float -> out (..., H_out, W_out), same dtype.
    Formula: out = Ry · x · Rxᵀ, Ry (H_out, H) the 1-D linear interpolation weights at the half-pixel
             source coordinates src = max((i + 0.5)·H/H_out − 0.5, 0), neighbours clamped to the edge.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating) or x.ndim < 2:
        raise ValueError(f"resize_bilinear: expected a float array (..., H, W), got {x.dtype} {x.shape}")
    h_out, w_out = size
    ry = _interp_weights(x.shape[-2], h_out).astype(x.dtype)
    rx = _interp_weights(x.shape[-1], w_out).astype(x.dtype)
    return ry @ x @ rx.T


def _interp_weights(n_in: int, n_out: int) -> np.ndarray:
    src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.intp), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    weights = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(weights, (rows, i0), 1.0 - frac)
    np.add.at(weights, (rows, i1), frac)
    return weights


def load_dataset(name: str, root: str | os.PathLike | None = None, train: bool = True,
                 transform: Transform | None = None, download: bool = True,
                 mirrors: str | Sequence[str] | None = None) -> ArrayDataset:
    """One split of a dataset by name, one of :data:`DATASET_NAMES`: fashion-mnist, mnist, digits.

    ``download`` and ``mirrors`` apply to the MNIST family; ``digits`` is bundled with scikit-learn.
    """
    if name == "fashion-mnist":
        return FashionMNIST(root, train, transform, download=download, mirrors=mirrors)
    if name == "mnist":
        return MNIST(root, train, transform, download=download, mirrors=mirrors)
    if name == "digits":
        return Digits(root, train, transform)
    raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASET_NAMES)}")


def resolve_auto_dataset(root: str | os.PathLike | None = None, download: bool = True,
                         mirrors: str | Sequence[str] | None = None, timeout: float = 5.0) -> tuple[str, str]:
    """The CLI's ``--dataset auto``: ``(name, reason)``.

    Fashion-MNIST when its four files are in ``root``; else, when ``download``, Fashion-MNIST if the
    missing files can be downloaded (``timeout`` seconds per network operation); else sklearn's digits.
    """
    raw = FashionMNIST.raw_folder(root)
    if FashionMNIST.is_present(root):
        return "fashion-mnist", f"Fashion-MNIST found in {raw}"
    if not download:
        return "digits", (f"Fashion-MNIST not found in {raw} and downloading is off; using scikit-learn's "
                          "bundled digits (8×8 images resized to 28×28)")
    try:
        for train in (True, False):
            FashionMNIST.locate(root, train, download=True, mirrors=mirrors, timeout=timeout)
    except (RuntimeError, OSError) as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        why = "; ".join(lines[:2]) if lines else type(e).__name__
        return "digits", (f"Fashion-MNIST not found in {raw} and could not be downloaded ({why}); "
                          "using scikit-learn's bundled digits (8×8 images resized to 28×28)")
    return "fashion-mnist", f"Fashion-MNIST downloaded to {raw}"
