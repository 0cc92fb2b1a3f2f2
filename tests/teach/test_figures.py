"""w2v_lite.teach.figures: every figure draws the measured data, and regenerating gives identical PNG bytes."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from w2v_lite import Wav2Vec2Config, Wav2Vec2Model
from w2v_lite.cli import main as cli_main
from w2v_lite.model.pretraining import Wav2Vec2ForPreTraining
from w2v_lite.teach import figures as F
from w2v_lite.teach.explain import model_overview, trace_shapes
from w2v_lite.teach.padding import mask_stages

TINY = Wav2Vec2Config.tiny()


def texts(fig: Figure) -> str:
    """All text drawn in a figure (titles, labels, annotations), joined."""
    parts = [t.get_text() for t in fig.findobj(match=lambda a: hasattr(a, "get_text"))]
    return " | ".join(p for p in parts if p)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_frames_over_waveform_marks_real_windows():
    clip = torch.sin(torch.arange(16000.0) / 7)
    fig = F.frames_over_waveform_figure(clip, TINY, first_frame=10, count=3)
    drawn = texts(fig)
    assert "16000 samples (1.000 s) -> T = 49 frames" in drawn  # 3 decimals, as in the notebooks
    for t in (10, 11, 12):
        assert f"frame {t}: samples {320 * t}-{320 * t + 399}" in drawn
    assert "frame 13" not in drawn
    assert "400 samples (25 ms)" in drawn and "share 80 samples" in drawn


def test_frames_over_waveform_rejects_too_short_clips():
    with pytest.raises(ValueError, match="2 frames"):
        F.frames_over_waveform_figure(torch.zeros(800), count=4)


def test_flow_stages_are_the_measured_shapes():
    torch.manual_seed(0)
    model = Wav2Vec2Model(TINY).eval()
    x = torch.randn(1, 16000)
    stages = F.flow_stages(model, x)
    assert stages == [("waveform", (1, 16000)), ("conv feature encoder", (1, 64, 49)),
                      ("transpose", (1, 49, 64)), ("feature projection", (1, 49, 96)),
                      ("transformer", (1, 49, 96))]
    assert F.stages_from_trace(trace_shapes(model, x), (1, 16000)) == stages


def test_shape_flow_figure_shows_every_shape():
    flows = {"short": [("waveform", (1, 16000)), ("transformer", (1, 49, 768))],
             "long": [("waveform", (1, 48000)), ("transformer", (1, 149, 768))]}
    drawn = texts(F.shape_flow_figure(flows))
    for piece in ("short", "long", "(1, 16000)", "(1, 49, 768)", "(1, 48000)", "(1, 149, 768)"):
        assert piece in drawn


def test_shape_flow_bars_are_proportional_to_t():
    flows = {"short": [("waveform", (1, 16000)), ("transformer", (1, 49, 768))],
             "long": [("waveform", (1, 48000)), ("transformer", (1, 149, 768))]}
    fig = F.shape_flow_figure(flows)
    bars = [p for p in fig.axes[0].patches if p.get_height() == pytest.approx(0.2)]
    assert len(bars) == 2 and bars[0].get_width() / bars[1].get_width() == pytest.approx(49 / 149)
    assert "T = 49 frames" in texts(fig) and "T = 149 frames" in texts(fig)


def test_whole_model_figure_shows_the_live_shapes(one_thread):
    torch.manual_seed(0)
    model = Wav2Vec2ForPreTraining(TINY.replace(num_hidden_layers=1)).eval()
    overview = model_overview(model, torch.randn(49546, generator=torch.Generator().manual_seed(0)))
    assert (overview.waveform, overview.conv, overview.z, overview.c) == (
        (1, 49546), (1, 64, 154), (1, 154, 64), (1, 154, 96))
    assert overview.q == (1, 154, TINY.codevector_dim) and overview.logits == (1, 154, 1 + TINY.num_negatives)
    assert overview.num_masked > 0 and overview.num_layers == 1
    drawn = texts(F.whole_model_figure(overview))
    for piece in ("(1, 49546)", "(1, 64, 154)", "(1, 154, 64)", "(1, 154, 96)", f"(1, 154, {TINY.codevector_dim})",
                  "quantizer", "contrastive loss", f"{overview.num_masked} of 154 frames",
                  "T = floor((L - 400) / 320) + 1 = 154"):
        assert piece in drawn, piece
    with pytest.raises(TypeError, match="Wav2Vec2ForPreTraining"):
        model_overview(model.wav2vec2, torch.zeros(16000))


def test_attention_maps_figure_greys_out_padded_keys():
    weights = torch.rand(2, 3, 10, 10)
    fig = F.attention_maps_figure(weights, [6, 10], ["short", "long"], layer=1)
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 6  # clips x heads
    assert "layer 1 attention" in texts(fig) and "short" in texts(fig) and "6 of 10 frames" in texts(fig)
    assert (panels[0].get_images()[0].get_array() == weights[0, 0].numpy()).all()
    assert len(panels[0].patches) == 2 and len(panels[3].patches) == 0  # grey bands only on the padded clip


def test_masks_figure_draws_the_three_masks():
    fig = F.masks_figure(mask_stages([16000, 35200, 49546]))
    drawn = texts(fig)
    assert "sample mask (B=3, L=49546)" in drawn and "frame mask (B=3, T=154)" in drawn
    assert "49 valid" in drawn and "109 valid" in drawn and "key mask of clip 0" in drawn
    assert "-inf" not in drawn and "bias" not in drawn  # one account: the model passes a boolean key mask
    images = [im.get_array() for ax in fig.axes for im in ax.get_images()]
    assert images[1].sum() == 49 + 109 + 154  # the frame-mask image is the frame mask
    assert images[2].shape == (154, 154) and images[2][0].sum() == 154 - 49  # padded keys of clip 0
    assert np.allclose(images[2][49:, :49], 0.35) and (images[2][:49, :49] == 0).all()  # padded queries marked


def test_invariance_and_waste_figures_plot_the_given_numbers():
    fig = F.invariance_figure([0, 16000], {"a": [0.0, 0.5], "b": [1e-6, 2e-6]})
    (ax,) = fig.axes
    lines = [ln for ln in ax.get_lines() if ln.get_label() in ("a", "b")]
    assert [list(ln.get_ydata()) for ln in lines] == [[1e-9, 0.5], [1e-6, 2e-6]]  # 0 drawn at the floor
    assert list(lines[0].get_xdata()) == [0.0, 1.0]  # seconds
    drawn = texts(F.waste_figure({"naive": 0.486, "bucketed": 0.019}, "note"))
    assert "48.6%" in drawn and "1.9%" in drawn and "note" in drawn


def test_save_is_byte_stable_and_untagged(tmp_path):
    clip = torch.sin(torch.arange(16000.0) / 7)
    a = F.save(F.frames_over_waveform_figure(clip), tmp_path / "a.png")
    b = F.save(F.frames_over_waveform_figure(clip), tmp_path / "b.png")
    assert digest(a) == digest(b)
    assert b"Software" not in a.read_bytes() and b"matplotlib" not in a.read_bytes()


@pytest.mark.slow
def test_make_all_writes_every_figure_deterministically(tmp_path, one_thread):
    first = F.make_all(tmp_path / "one", shape_config=TINY, extras=(0, 1600), long_audio=False)
    second = F.make_all(tmp_path / "two", shape_config=TINY, extras=(0, 1600), long_audio=False)
    names = ["frames_over_waveform.png", "whole_model.png", "shape_flow.png", "masks.png",
             "padding_invariance.png", "attention_maps.png", "padding_waste.png"]
    assert [p.name for p in first] == names
    assert [digest(p) for p in first] == [digest(p) for p in second]


def test_cli_passes_the_output_folder(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_make_all(out):  # the real one is tested above
        seen["out"] = out
        return [tmp_path / "x.png"]

    monkeypatch.setattr(F, "make_all", fake_make_all)
    assert cli_main(["figures", "--out", str(tmp_path)]) == 0
    assert seen["out"] == str(tmp_path) and "x.png" in capsys.readouterr().out


COMMITTED = Path(__file__).resolve().parents[2] / "figures"


@pytest.mark.slow
def test_every_committed_figure_is_what_the_current_code_draws(tmp_path, one_thread):
    # redraw every figure from the current code and checkpoints (as `w2v-lite figures` does: one thread,
    # matplotlib's default rcParams) and compare the decoded pixels with the committed PNGs, so a change in
    # the code, a checkpoint or a measurement that moves a figure fails here until `make figures` is rerun
    from matplotlib.image import imread

    drawn = {p.name: p for p in F.make_all(tmp_path)}
    committed = {p.name: p for p in COMMITTED.glob("*.png")}
    assert sorted(drawn) == sorted(committed), "figures/ and make_all() disagree on which figures exist"
    stale = []
    for name, path in sorted(drawn.items()):
        new, old = imread(path), imread(committed[name])
        if new.shape != old.shape or not np.array_equal(new, old):
            changed = "size" if new.shape != old.shape else f"{(np.abs(new - old).max(-1) > 0).mean():.1%} of pixels"
            stale.append(f"{name} ({changed})")
    assert not stale, f"stale figures, rerun `make figures`: {', '.join(stale)}"
