"""``random_split``, ``Subset``, ``DataLoader`` (float32 NCHW batches): torch's semantics, NumPy's RNG."""

from __future__ import annotations

import copy
import inspect
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

Seed = int | np.random.Generator | None


def fetch_batch(dataset: Any, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``dataset.get_batch(indices)`` when the dataset has it (vectorised), else ``dataset[i]`` stacked.

    Returns x (B, C, H, W) and y int64 (B,).
    """
    if hasattr(dataset, "get_batch"):
        return dataset.get_batch(indices)
    items = [dataset[int(i)] for i in indices]
    if not items:
        raise ValueError("fetch_batch: no indices to fetch")
    return np.stack([np.asarray(x) for x, _ in items]), np.asarray([y for _, y in items], dtype=np.int64)


class Subset:
    """The samples ``indices`` of ``dataset``, as torch's ``Subset`` (plus ``get_batch`` and ``targets``)."""

    def __init__(self, dataset: Any, indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.dataset[int(self.indices[index])]

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Samples ``indices`` (positions in this subset) as one batch, like the parent's ``get_batch``."""
        return fetch_batch(self.dataset, self.indices[np.asarray(indices, dtype=np.intp)])

    @property
    def targets(self) -> np.ndarray:
        """The parent's targets at this subset's indices, int64 (len(self),)."""
        return np.asarray(self.dataset.targets, dtype=np.int64)[self.indices]

    @property
    def classes(self) -> list[str]:
        return self.dataset.classes

    def __repr__(self) -> str:
        return f"Subset({self.dataset!r}, samples={len(self)})"


def random_split(dataset: Any, lengths: Sequence[int | float], seed: Seed = None) -> list[Subset]:
    """Split ``dataset`` into disjoint random ``Subset``s, as ``torch.utils.data.random_split``.

    ``lengths``: ints summing to ``len(dataset)``, or fractions summing to 1 (torch's test:
    ``math.isclose(sum, 1) and sum <= 1``) turned into ``floor(n·frac)`` items each, the remainder handed
    out one by one round-robin from the first split; a split of length 0 warns. The permutation comes from
    ``np.random.default_rng(seed)``, so the sizes match torch's but the members do not.
    """
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        sizes = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            sizes.append(math.floor(n * frac))
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.",
                              stacklevel=2)
        lengths = sizes
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    for i, length in enumerate(lengths):
        if isinstance(length, bool) or not isinstance(length, int | np.integer):
            raise TypeError(f"random_split: lengths must be ints summing to {n} or fractions summing to 1, "
                            f"got {length!r} at index {i}")
        if length < 0:
            raise ValueError(f"random_split: lengths must be non-negative, got {length} at index {i}")
    order = np.random.default_rng(seed).permutation(n)
    ends = np.cumsum(lengths)
    return [Subset(dataset, order[end - length:end]) for end, length in zip(ends, lengths, strict=True)]


class DataLoader:
    """Batches ``(x, y)`` of ``dataset``: x float32 (B, C, H, W), y int64 (B,), as torch's DataLoader.

    ``shuffle``: a fresh permutation each epoch (each ``iter()``), drawn from the loader's own
    ``generator`` (``np.random.default_rng(seed)``) when iteration starts. ``drop_last``: skip a final
    short batch. Uses ``dataset.get_batch`` when present (vectorised), else stacks ``dataset[i]``;
    ``transform``, if given, is then applied to each whole batch x (N, C, H, W), after the dataset's own
    (so two Subsets of one dataset can be normalised or augmented differently). A transform that takes an
    ``rng`` keyword (the random transforms of :mod:`scratch.augment`) draws from the loader's generator,
    so the loader's state covers augmentation too.
    ``state_dict()`` / ``load_state_dict()`` save and restore the generator, so a run resumed from a
    checkpoint taken between epochs sees the same batches as an uninterrupted one.
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: Seed = None, transform: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size <= 0:
            raise ValueError("batch_size should be a positive integer value, "
                             f"but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = drop_last
        self.transform = transform
        self._transform_takes_rng = transform is not None and _takes_rng(transform)
        self.generator = np.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = self.epoch_order()  # drawn when iteration starts
        return (self.load(index) for index in self.batch_indices(order))

    def epoch_order(self) -> np.ndarray:
        """The sample order of a new epoch: a fresh permutation from the generator when shuffling, else 0..n-1."""
        n = len(self.dataset)
        return self.generator.permutation(n) if self.shuffle else np.arange(n)

    def batch_indices(self, order: Any) -> Iterator[Any]:
        """The consecutive slices of ``order`` (an array or a tensor) that make this loader's batches."""
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield order[start:start + self.batch_size]

    def load(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The samples ``indices`` as one batch (x, y), through the loader's transform."""
        x, y = fetch_batch(self.dataset, indices)
        if self._transform_takes_rng:
            x = self.transform(x, rng=self.generator)
        elif self.transform is not None:
            x = self.transform(x)
        return x, y

    @property
    def transform_is_random(self) -> bool:
        """Whether the transform draws random numbers: its ``random`` flag (scratch.augment's transforms),
        else whether it takes an ``rng``."""
        return bool(getattr(self.transform, "random", self._transform_takes_rng))

    def state_dict(self) -> dict:
        """The generator's state (plain Python data: picklable, JSON-serialisable)."""
        return {"generator": copy.deepcopy(self.generator.bit_generator.state)}

    def load_state_dict(self, state: dict) -> None:
        """Restore a generator state saved by :meth:`state_dict` (same bit generator, PCG64 by default)."""
        self.generator.bit_generator.state = copy.deepcopy(state["generator"])


def _takes_rng(fn: Callable) -> bool:
    try:
        return "rng" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
