"""teach.cost_viz: the cost table the widget shows, chunked encoding, and the widget's live update."""

import pytest

from w2v_lite import Wav2Vec2Config
from w2v_lite.teach.cost_viz import chunked_cost, cost_breakdown, cost_breakdown_text, cost_widget

BASE = Wav2Vec2Config.base()


def test_breakdown_of_ten_seconds_of_base():
    b = cost_breakdown(BASE, 160_000)
    assert b["frames"] == 499
    assert sum(g["share"] for g in b["groups"].values()) == pytest.approx(1.0)
    # conv0 alone by hand: 31999 outputs x 512 channels x kernel 10 x 2 FLOPs; the FFN: 12 x 2 x 2 T H I
    assert b["groups"]["conv stack"]["gflops"] > 2 * 31_999 * 512 * 10 / 1e9
    assert b["groups"]["feed_forward"]["gflops"] == pytest.approx(12 * 4 * 499 * 768 * 3072 / 1e9)
    assert b["peak_mb"] == pytest.approx((160_000 + 2 * 512 * 31_999) * 4 / 1e6)


def test_breakdown_text_lists_every_kind_and_the_total():
    text = cost_breakdown_text(BASE, 10)
    lines = text.splitlines()
    assert lines[0] == "10 s = 160000 samples -> 499 frames"
    assert [line.split("  ")[0] for line in lines[2:9]] == [
        "conv stack (7 layers)", "feature projection", "positional conv", "q/k/v/out projections",
        "attention scores QK^T", "attention x V", "feed-forward"]
    assert lines[9].startswith("total") and lines[9].endswith("100.0%")
    assert lines[10] == "peak live activations: 131.7 MB"


def test_attention_share_grows_with_length():
    share = [cost_breakdown(BASE, s * 16_000)["groups"]["scores"]["share"] for s in (1, 10, 60)]
    assert share[0] < share[1] < share[2]


def test_chunked_cost_is_windows_times_one_window():
    """Ten minutes in 30 s windows without context: 20 x the cost of 30 s (each window holds 1500 whole
    frames, 80 samples more than 30 s); with 2.5 s of context on each side, 24 windows. Either way far cheaper
    and smaller than one 10-minute pass (attention's T^2)."""
    ten_min = 600 * 16_000
    plain = chunked_cost(BASE, ten_min, 30, 0)
    one = cost_breakdown(BASE, 30 * 16_000)
    assert plain["windows"] == 20
    assert plain["gflops"] == pytest.approx(20 * one["gflops"], rel=1e-3)
    assert plain["peak_mb"] == pytest.approx(one["peak_mb"], rel=1e-3)
    overlapped = chunked_cost(BASE, ten_min, 30, 2.5)
    assert overlapped["windows"] == 24 and overlapped["gflops"] > plain["gflops"]
    assert overlapped["whole_gflops"] > 3 * overlapped["gflops"]
    assert overlapped["whole_peak_mb"] > 19 * overlapped["peak_mb"]


def test_widget_updates_the_table():
    box = cost_widget(BASE, value=10)
    slider, out = box.children
    assert "10 s = 160000 samples -&gt; 499 frames" in out.value
    slider.value = 60
    assert "60 s = 960000 samples -&gt; 2999 frames" in out.value
