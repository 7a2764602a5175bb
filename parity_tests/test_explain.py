"""scratch.explain: every worked example's written-out sums equal the reference's values and torch's."""

import pytest

import scratch.explain as ex

pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize("op, extra", [("conv2d", ["--stride", "2", "--size", "5,5"]),
                                       ("conv2d", ["--channels", "2", "--out-channels", "2", "--dilation", "2"]),
                                       ("max_pool2d", ["--kernel-size", "2", "--stride", "1"]),
                                       ("avg_pool2d", ["--padding", "1", "--stride", "2", "--no-count-include-pad"]),
                                       ("sum_pool2d", ["--kernel-size", "2"]), ("linear", [])])
def test_worked_example_adds_up(op, extra, capsys):
    assert ex.main([op, *extra]) == 0
    text = capsys.readouterr().out
    assert "the same in torch:" in text and "torch gives" in text and "DIFFERENT" not in text
    example = ex.build_example(op, **_kwargs(extra))
    for lhs, _, terms, value in example.sums:
        total = max(t.value for t in terms) if op == "max_pool2d" and lhs.startswith("out") else \
            sum(t.value for t in terms)
        assert total == pytest.approx(value, abs=1e-12), lhs


def _kwargs(extra: list[str]) -> dict:
    parsed = ex.build_parser().parse_args(["conv2d", *extra])
    size = parsed.size if isinstance(parsed.size, tuple) else (parsed.size, parsed.size)
    return dict(size=size, channels=parsed.channels, out_channels=parsed.out_channels, kernel_size=parsed.kernel_size,
                stride=parsed.stride, padding=parsed.padding, dilation=parsed.dilation,
                count_include_pad=not parsed.no_count_include_pad)


def test_png_and_chosen_elements(tmp_path, capsys):
    png = tmp_path / "conv.png"
    assert ex.main(["conv2d", "--out-at", "0,3", "--in-at", "3,3", "--png", str(png)]) == 0
    text = capsys.readouterr().out
    assert "out[0,0,0,3] =" in text and "dx[0,0,3,3] =" in text and "(pad)" in text
    assert png.stat().st_size > 10_000


def test_bad_index_is_a_clear_error(capsys):
    assert ex.main(["conv2d", "--out-at", "9,9"]) == 2
    assert "outside the shape" in capsys.readouterr().err
