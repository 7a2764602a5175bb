"""scratch.visualize on a tiny run made by ``scratchnet train`` (one epoch on a few hundred images)."""

import json

import pytest

from scratch import cli, visualize

pytestmark = [pytest.mark.backend_independent, pytest.mark.data]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("run")
    rc = cli.main(["train", "--limit-train", "300", "--epochs", "1", "--batch-size", "64", "--out", str(out),
                   "--overwrite", "--no-progress", "--data-dir", str(data_root), "--dataset", "fashion-mnist"])
    assert rc == 0
    return out


def test_visualize_writes_the_three_pictures(tiny_run, data_root, tmp_path, capsys):
    rc = visualize.main([str(tiny_run), "--out", str(tmp_path), "--data-dir", str(data_root), "--limit-test", "600"])
    assert rc == 0, capsys.readouterr().err
    for name in ("conv1_filters.png", "feature_maps.png", "misclassified.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name
    model, run = visualize.load_run(tiny_run)
    assert run["model"] == json.loads((tiny_run / "history.json").read_text())["run"]["model"] == "lenet5"
    assert model.conv1.weight.data.shape == (6, 1, 5, 5)


def test_missing_run_is_a_clear_error(tmp_path, capsys):
    assert visualize.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "model.npz" in err or "history.json" in err
