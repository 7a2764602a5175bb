"""IDX files (the format of MNIST and Fashion-MNIST), gzip-compressed or raw.

Layout (big-endian): magic ``0x0000TTDD`` (``TT`` the element type, ``DD`` the number of dimensions),
then ``DD`` uint32 sizes, then the elements in C order.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
import zlib
from pathlib import Path

import numpy as np

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_bytes(path: str | Path) -> bytes:
    """The content of ``path``, decompressed when its name ends in ``.gz``.

    Raises ValueError naming the file when a ``.gz`` file is not valid gzip (corrupt or truncated).
    """
    path = Path(path)
    data = path.read_bytes()
    if path.suffix != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: not a valid gzip file (corrupt or truncated download?): {e}") from e


def content_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of the file's content, decompressed first for ``.gz`` files."""
    return hashlib.sha256(read_bytes(path)).hexdigest()


def read_idx(path: str | Path, sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) into an array, as torchvision's ``read_sn3_pascalvincent_tensor``.

    Shapes:  the dims stored in the header, e.g. (N, 28, 28) images or (N,) labels.
    Types:   0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64, returned in
             native byte order (a writable copy).
    Errors:  ValueError naming the file for a bad magic number, a file shorter than its header or dims
             say (truncated), bytes after the data (trailing), or a corrupt gzip stream; with ``sha256``
             (hex), also when the (decompressed) content has another SHA-256 (a changed pixel or label).
    """
    path = Path(path)
    raw = read_bytes(path)
    if sha256 is not None:
        got = hashlib.sha256(raw).hexdigest()
        if got != sha256.lower():
            raise ValueError(f"{path}: content SHA-256 is {got}, expected {sha256} (the file was changed or "
                             f"damaged; delete it and download it again)")
    if len(raw) < 4:
        raise ValueError(f"{path}: truncated IDX file: {len(raw)} bytes, less than the 4-byte magic number")
    code, ndim = raw[2], raw[3]
    if raw[0] != 0 or raw[1] != 0 or code not in _IDX_DTYPES or ndim == 0:
        magic = int.from_bytes(raw[:4], "big")
        raise ValueError(
            f"{path}: not an IDX file: magic number 0x{magic:08X}, expected 0x0000TTDD with element type TT "
            f"in {{08, 09, 0B, 0C, 0D, 0E}} and DD >= 1 dimensions (e.g. 0x00000803 for uint8 images)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX file: {len(raw)} bytes, less than its {header}-byte header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _IDX_DTYPES[code]
    count = math.prod(dims)
    expected = header + count * dtype.itemsize
    if len(raw) < expected:
        raise ValueError(
            f"{path}: truncated IDX file: dims {dims} of {dtype.name} need {expected} bytes, "
            f"the file has {len(raw)}"
        )
    if len(raw) > expected:
        raise ValueError(
            f"{path}: {len(raw) - expected} trailing bytes after the IDX data: dims {dims} of {dtype.name} "
            f"need {expected} bytes, the file has {len(raw)}"
        )
    out = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    return out.astype(dtype.newbyteorder("="))
