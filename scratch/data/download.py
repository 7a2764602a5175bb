"""Downloading the MNIST-family ``.gz`` files from mirrors, verified and written atomically.

A mirror is a base URL; a file's URL is the base followed by its name (``<base>t10k-images-idx3-ubyte.gz``),
as in torchvision's mirror lists. ``{name}`` in a base is replaced by the dataset's folder name
(``MNIST``, ``FashionMNIST``), so one mirror can serve every dataset laid out as torchvision lays them out
(``http://host/data/{name}/raw/``). Mirrors come from the ``mirrors`` argument, else from the environment
variable ``SCRATCH_DATA_MIRROR`` (base URLs separated by commas or spaces), else the official ones; the
first mirror that serves a file with the expected content wins.

Verification: the SHA-256 of the DECOMPRESSED content. It identifies the data whatever the gzip wrapper
(compression level, timestamps), so an original archive and a losslessly re-compressed copy both pass,
where the MD5s of the ``.gz`` files that torchvision checks would reject the latter.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from scratch.data.idx import read_bytes

MIRROR_ENV = "SCRATCH_DATA_MIRROR"
DOWNLOAD_TIMEOUT = 30.0


def resolve_mirrors(mirrors: str | Sequence[str] | None, official: Sequence[str]) -> list[str]:
    """Mirrors to try: ``mirrors`` (one URL or several), else ``$SCRATCH_DATA_MIRROR``, else ``official``."""
    if mirrors is None:
        mirrors = os.environ.get(MIRROR_ENV, "").strip() or None
    if mirrors is None:
        return list(official)
    if isinstance(mirrors, str):
        mirrors = [m for m in re.split(r"[,\s]+", mirrors) if m]
    mirrors = list(mirrors)
    if not mirrors:
        raise ValueError("mirrors: expected at least one base URL, got none")
    return mirrors


def file_url(mirror: str, folder: str, filename: str) -> str:
    """``mirror`` with ``{name}`` replaced by ``folder``, a trailing slash, then ``filename``."""
    base = mirror.replace("{name}", folder)
    return base + filename if base.endswith("/") else f"{base}/{filename}"


def download_files(raw_folder: Path, files: Mapping[str, str], mirrors: Sequence[str], dataset: str,
                   timeout: float = DOWNLOAD_TIMEOUT) -> None:
    """Download ``<stem>.gz`` into ``raw_folder`` for each ``stem -> sha256`` of ``files``.

    Each file goes to a hidden temporary file in ``raw_folder``, is checked (valid gzip whose decompressed
    content has the expected SHA-256) and only then renamed into place (``os.replace``), so an interrupted
    or corrupt download never leaves a file under the real name. Raises RuntimeError, listing what each
    mirror answered and what to do, when no mirror serves a good copy.
    """
    raw_folder = Path(raw_folder)
    created = [p for p in (raw_folder, raw_folder.parent) if not p.exists()]
    raw_folder.mkdir(parents=True, exist_ok=True)
    try:
        _download_all(raw_folder, files, mirrors, dataset, timeout)
    except BaseException:
        for folder in created:  # leave no empty folders behind (raw first, then its parent)
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _download_all(raw_folder: Path, files: Mapping[str, str], mirrors: Sequence[str], dataset: str,
                  timeout: float) -> None:
    folder = raw_folder.parent.name
    for stem, sha256 in files.items():
        filename = f"{stem}.gz"
        failures = []
        for mirror in mirrors:
            url = file_url(mirror, folder, filename)
            fd, tmp = tempfile.mkstemp(dir=raw_folder, prefix=f".{stem}.", suffix=".part.gz")
            try:
                print(f"Downloading {url}", file=sys.stderr)
                with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                    shutil.copyfileobj(response, out, 1 << 20)
                got = hashlib.sha256(read_bytes(tmp)).hexdigest()
                if got != sha256:
                    raise ValueError(f"checksum mismatch: SHA-256 of the decompressed file is {got}, "
                                     f"expected {sha256}")
                os.replace(tmp, raw_folder / filename)
                break
            except (OSError, ValueError, http.client.HTTPException) as e:
                failures.append(f"  {url}: {e}")
            finally:
                Path(tmp).unlink(missing_ok=True)
        else:
            raise RuntimeError(_failure_message(dataset, folder, raw_folder, filename, failures))


def _failure_message(dataset: str, folder: str, raw_folder: Path, filename: str, failures: list[str]) -> str:
    return "\n".join([
        f"Could not download {dataset} file {filename}; every mirror failed:",
        *failures,
        "To fix it, either:",
        f"  - put the {dataset} files (torchvision's layout: <data dir>/{folder}/raw/*.gz) in {raw_folder}, "
        "or point --data-dir / SCRATCH_DATA_DIR at a folder that has them;",
        f"  - or give a reachable mirror in {MIRROR_ENV} (base URLs; "
        f"'{{name}}' in a URL becomes '{folder}');",
        "  - or use the digits dataset (--dataset digits): it ships with scikit-learn, no download needed.",
    ])
