"""scratch.plots and scratch.augment.preview_grid: valid PNGs of the expected pixel size, not blank, written
atomically (no temporary file left behind), and clear errors for malformed inputs."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from scratch import augment, plots

pytestmark = pytest.mark.backend_independent

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, after checking the signature and the chunk's CRC."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13, f"{path}: first chunk is {kind!r}"
    body = data[16:16 + length]
    (crc,) = struct.unpack(">I", data[16 + length:20 + length])
    assert zlib.crc32(kind + body) == crc, f"{path}: IHDR CRC mismatch"
    width, height = struct.unpack(">II", body[:8])
    return width, height


def _assert_png(path: Path, size: tuple[int, int] | None = None) -> None:
    assert path.is_file(), f"{path} was not written"
    width, height = _png_size(path)
    if size is not None:
        assert (width, height) == size, f"{path}: {width}x{height} pixels, expected {size[0]}x{size[1]}"
    pixels = imread(path)
    assert pixels.shape[:2] == (height, width)
    assert float(pixels[..., :3].std()) > 0.01, f"{path} looks blank"
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]
    assert not leftovers, f"temporary files left next to {path}: {leftovers}"


@pytest.mark.parametrize("normalize", [False, True])
def test_confusion_matrix_plot(tmp_path, normalize):
    cm = np.array([[50, 2, 0], [3, 40, 7], [0, 0, 0]])
    out = plots.plot_confusion_matrix(cm, ["cat", "dog", "a rather long class"], tmp_path / "sub" / "cm.png",
                                      normalize=normalize, title="test", figsize=(6.0, 5.0), dpi=80)
    assert out == tmp_path / "sub" / "cm.png"
    _assert_png(out, (480, 400))


def test_confusion_matrix_plot_default_size_and_overwrite(tmp_path):
    path = tmp_path / "cm.png"
    path.write_bytes(b"old")
    cm = np.arange(100).reshape(10, 10)
    plots.plot_confusion_matrix(cm, None, path)
    _assert_png(path)


def test_history_plot(tmp_path):
    history = {"train_loss": [1.0, 0.6, 0.4, 0.35], "val_loss": [0.9, 0.7, 0.5, None],
               "train_acc": [0.5, 0.7, 0.8, 0.85], "val_acc": [0.55, 0.65, 0.75, 0.8],
               "lr": [0.1, 0.1, 0.01, 0.01], "epoch": [1, 2, 3, 4], "test_acc": 0.8}
    out = plots.plot_history(history, tmp_path / "curves.png", title="run", dpi=50)
    _assert_png(out, (round(4.2 * 3 * 50), round(3.6 * 50)))


def test_preview_grid(tmp_path):
    rng = np.random.default_rng(0)
    images = np.zeros((5, 1, 28, 28), dtype=np.float32)
    images[:, :, 8:20, 10:18] = rng.random((5, 1, 12, 8)).astype(np.float32)
    out = augment.preview_grid(images, [0, 1, 2, 3, 4], augment.default_train_augmentation(seed=0),
                               tmp_path / "grid.png", class_names=[f"class {i}" for i in range(5)], n=4,
                               rng=1)
    _assert_png(out, (round(1.25 * 4 * 100), round(1.5 * 3 * 100)))


@pytest.mark.parametrize("call, match", [
    (lambda p: plots.plot_confusion_matrix(np.zeros((2, 3)), None, p), "square"),
    (lambda p: plots.plot_confusion_matrix(np.zeros((2, 2)), ["a"], p), "1 class names"),
    (lambda p: plots.plot_history({"note": "text"}, p), "no per-epoch lists"),
    (lambda p: augment.preview_grid(np.zeros((2, 2, 1, 4, 4)), [0, 1], augment.Compose([]), p), "shape"),
    (lambda p: augment.preview_grid(np.zeros((3, 1, 4, 4)), [0], augment.Compose([]), p), "1 labels"),
])
def test_bad_input_raises_value_error(tmp_path, call, match):
    with pytest.raises(ValueError, match=match):
        call(tmp_path / "x.png")
    assert not list(tmp_path.iterdir()), "nothing may be written on error"


def _capture(monkeypatch) -> list:
    figures = []
    save = plots.save_figure
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: (figures.append(fig), save(fig, path))[1])
    return figures


def test_history_plot_labels_units_and_keeps_compile_time_out(tmp_path, monkeypatch):
    figures = _capture(monkeypatch)
    history = {"epoch": [1, 2, 3], "train_loss": [1.0, 0.6, 0.4], "val_loss": [0.9, 0.7, 0.5],
               "train_acc": [0.5, 0.7, 0.8], "val_acc": [0.55, 0.65, 0.75], "lr": [1e-3, 1e-3, 5e-4],
               "epoch_time": [61.0, 3.0, 3.1], "test_loss": 0.5, "test_acc": 0.74}
    title = "scratch engine (numba) · lenet5 · mnist · test accuracy 74.00%"
    _assert_png(plots.plot_history(history, tmp_path / "curves.png", title=title, dpi=50))
    (fig,) = figures
    assert fig._suptitle.get_text() == title
    axes = {ax.get_title(): ax for ax in fig.axes}
    assert list(axes) == ["Loss", "Accuracy", "Learning rate", "Time per epoch"]
    assert axes["Loss"].get_ylabel() == "cross-entropy loss (nats)" and axes["Accuracy"].get_ylabel() == "accuracy (%)"
    assert all(ax.get_xlabel() == "epoch" and ax.get_ylabel() for ax in fig.axes)
    acc_labels = [line.get_label() for line in axes["Accuracy"].get_lines()]
    assert acc_labels[:2] == ["train", "validation"] and acc_labels[2].startswith("test")
    np.testing.assert_allclose(axes["Accuracy"].get_lines()[0].get_ydata(), [50, 70, 80])
    (time_line,) = axes["Time per epoch"].get_lines()
    assert list(time_line.get_xdata()) == [2, 3], "epoch 1 (compile) is kept out of the time panel"
    assert any("61.0 s" in t.get_text() for t in axes["Time per epoch"].texts)


@pytest.mark.parametrize("normalize, label", [(False, "number of images"), (True, "share of the true class")])
def test_confusion_matrix_colour_bar_is_labelled(tmp_path, monkeypatch, normalize, label):
    figures = _capture(monkeypatch)
    plots.plot_confusion_matrix(np.array([[5, 1], [2, 7]]), ["a", "b"], tmp_path / "cm.png", normalize=normalize)
    (fig,) = figures
    assert any(label in ax.get_ylabel() for ax in fig.axes)
