"""Data for both engines: IDX files, MNIST / Fashion-MNIST / sklearn digits, splits and batches.

- :mod:`scratch.data.idx`: :func:`read_idx` (``.gz`` or raw, validated).
- :mod:`scratch.data.datasets`: :class:`MNIST`, :class:`FashionMNIST` (torchvision's layout,
  ``<root>/<Name>/raw/*.gz``; downloads verified by SHA-256), :class:`Digits` (bundled with
  scikit-learn, no network), :func:`load_dataset`, :func:`resolve_auto_dataset`.
  ``root``: argument, else ``$SCRATCH_DATA_DIR``, else the per-user cache (:func:`user_cache_dir`:
  ``$XDG_CACHE_HOME/scratchnet`` or ``~/.cache/scratchnet``); IDX contents are verified by SHA-256 on every
  load; download mirrors: argument, else
  ``$SCRATCH_DATA_MIRROR``, else the official ones.
- :mod:`scratch.data.loader`: :func:`random_split`, :class:`Subset`, :class:`DataLoader` (float32 NCHW
  batches, seeded NumPy shuffling whose state can be saved and restored).

Datasets return images with ``ToTensor`` already applied (float32 (1, 28, 28) in [0, 1]); the tutorial's
normalisation ``Normalize((0.5,), (0.5,))`` is :func:`normalize_transform`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scratch.data.datasets import (
    DATA_DIR_ENV,
    DATASET_NAMES,
    MNIST,
    ArrayDataset,
    Digits,
    FashionMNIST,
    default_root,
    load_dataset,
    resize_bilinear,
    resolve_auto_dataset,
    user_cache_dir,
)
from scratch.data.download import MIRROR_ENV
from scratch.data.idx import content_sha256, read_idx
from scratch.data.loader import DataLoader, Subset, fetch_batch, random_split

__all__ = [
    "DATA_DIR_ENV", "DATASET_NAMES", "MIRROR_ENV", "ArrayDataset", "DataLoader", "Digits", "FashionMNIST",
    "MNIST", "Subset", "content_sha256", "default_root", "fetch_batch", "load_dataset", "normalize_transform",
    "random_split", "read_idx", "resize_bilinear", "resolve_auto_dataset", "user_cache_dir",
]


def normalize_transform() -> Callable[[np.ndarray], np.ndarray]:
    """The tutorial's ``Normalize((0.5,), (0.5,))``: x -> (x − 0.5) / 0.5, on (C, H, W) or (N, C, H, W).

    Applied after ToTensor (which the datasets already do), it maps [0, 1] to [−1, 1].
    """
    from scratch.augment import Normalize

    return Normalize((0.5,), (0.5,))
