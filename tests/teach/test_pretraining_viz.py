"""Notebook 04's figures and widget: frame states, legends and labels, the temperature figure, codes drawn as
categories under the waveform, the loss curve's chance line on the contrastive loss, and the masked-frame
widget (moved here from the notebook: setting the slider updates the report)."""

import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data.audio import pad_batch
from w2v_lite.lengths import frame_mask, output_lengths
from w2v_lite.model.masking import compute_mask_indices, sample_negative_indices
from w2v_lite.model.pretraining import Wav2Vec2ForPreTraining
from w2v_lite.teach.pretraining_viz import (
    codes_figure,
    comparison_figure,
    frame_report,
    frame_states,
    loss_curve_figure,
    masked_frame_widget,
    negatives_figure,
    spans_figure,
    temperature_figure,
)


@pytest.fixture(scope="module")
def run():
    """A tiny random model on a padded batch of three noise clips, with masks and negatives drawn."""
    cfg = Wav2Vec2Config.tiny()
    torch.manual_seed(0)
    np.random.seed(0)
    batch = pad_batch([torch.randn(n) for n in (7000, 12000, 16000)])
    T = output_lengths(batch.input_values.shape[1], cfg)
    valid = frame_mask(output_lengths(batch.sample_lengths, cfg), T)
    mask = compute_mask_indices((3, T), cfg.mask_time_prob, cfg.mask_time_length, frame_mask=valid, min_masks=2)
    negatives = sample_negative_indices((3, T), cfg.num_negatives, mask)
    model = Wav2Vec2ForPreTraining(cfg).eval()
    with torch.no_grad():
        out = model(batch.input_values, sample_lengths=batch.sample_lengths, mask_time_indices=torch.tensor(mask),
                    sampled_negative_indices=torch.tensor(negatives))
    return cfg, batch, valid, mask, negatives, out


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def test_frame_states_by_hand():
    valid = torch.tensor([[True, True, False]])
    masked = np.array([[False, True, False]])
    assert frame_states(valid, masked).tolist() == [[1, 2, 0]]
    with pytest.raises(ValueError, match="same"):
        frame_states(valid, np.zeros((1, 4), bool))


def test_strips_have_legends_and_labels(run):
    cfg, batch, valid, mask, negatives, _ = run
    fig = spans_figure(batch, valid, mask, cfg, ["a", "b", "c"])
    strip = fig.axes[-1]
    assert legend_texts(strip) == ["padding", "valid", "masked"]
    assert strip.get_xlabel().startswith("frame t") and strip.get_ylabel() == "clip"
    assert legend_texts(fig.axes[0]) == ["samples under masked frames", "padding"]
    assert fig.axes[-2].get_xlabel() == "time (s)"
    b = 2
    t = int(np.flatnonzero(mask[b])[0])
    fig = negatives_figure(mask, valid, negatives, b, t)
    top, bottom = fig.axes
    assert legend_texts(top) == ["drawn as distractor"] and top.get_ylabel() == "times drawn"
    assert legend_texts(bottom) == ["padding", "valid", "masked"]
    # the bars count how often each frame of utterance b was drawn for frame t: K draws in all
    heights = [p.get_height() for p in top.patches]
    assert sum(heights) == cfg.num_negatives and heights[t] == 0


def test_temperature_figure():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    fig = temperature_figure(logits, (2.0, 0.5), seed=3)
    assert len(fig.axes) == 2
    for ax, tau in zip(fig.axes, (2.0, 0.5), strict=True):
        bars = [p.get_height() for p in ax.patches]
        soft, sample = np.array(bars[:4]), np.array(bars[4:])
        np.testing.assert_allclose(soft, torch.softmax(logits / tau, -1).numpy(), rtol=1e-6)
        assert sample.sum() == pytest.approx(1.0) and ax.get_ylabel().startswith(f"tau = {tau:g}")
    peak = [max(p.get_height() for p in ax.patches[:4]) for ax in fig.axes]
    assert peak[0] < peak[1]  # lower temperature: sharper
    assert legend_texts(fig.axes[0]) == ["softmax(logits / tau), no noise", "softmax((logits + g) / tau)"]
    with pytest.raises(ValueError, match=r"\(V,\)"):
        temperature_figure(torch.zeros(2, 4))


def test_codes_figure_draws_codes_as_categories_under_the_waveform():
    cfg = Wav2Vec2Config.tiny()
    codes = torch.tensor([[5, 1], [5, 1], [9, 1], [5, 2]])  # (T=4, G=2)
    wave = torch.randn(samples := 400 + 3 * 320)
    fig = codes_figure(wave, codes, cfg)
    wave_ax, g0, g1 = fig.axes
    assert len(wave_ax.lines[0].get_xdata()) == samples and wave_ax.get_xlim()[1] == pytest.approx(samples / 16000)
    assert [t.get_text() for t in g0.get_yticklabels()] == ["code 5", "code 9"]  # order of first use
    assert [t.get_text() for t in g1.get_yticklabels()] == ["code 1", "code 2"]
    bars = g0.patches
    assert [b.get_y() + b.get_height() / 2 for b in bars] == [0, 0, 1, 0]  # row = category
    # frame t's bar covers its 20 ms hop from its window's start (the frame-start convention): t*320 / 16000 s
    np.testing.assert_allclose([b.get_x() for b in bars], np.arange(4) * 320 / 16000)
    assert bars[0].get_width() == pytest.approx(0.02)
    assert bars[0].get_facecolor() == bars[1].get_facecolor() != bars[2].get_facecolor()  # one colour per code
    assert "2 different codes" in g0.get_title() and fig.axes[-1].get_xlabel() == "time (s)"


def test_loss_curve_compares_the_contrastive_loss_with_chance():
    rows = [{"step": s, "loss": 5.0, "contrastive_loss": 3.5 - 0.1 * s, "perplexity": 10.0 + s} for s in range(1, 6)]
    fig = loss_curve_figure(rows, 20, 64)
    loss_ax, ppl_ax = fig.axes
    curve, chance = loss_ax.lines
    assert list(curve.get_ydata()) == [r["contrastive_loss"] for r in rows]  # not the total loss
    assert list(chance.get_ydata()) == [math.log(21)] * 2
    assert loss_ax.get_xlabel() == "optimizer step" and loss_ax.get_ylabel() == "loss per masked frame"
    assert "chance" in legend_texts(loss_ax)[1]
    assert list(ppl_ax.lines[0].get_ydata()) == [r["perplexity"] for r in rows]
    assert list(ppl_ax.lines[1].get_ydata()) == [64, 64] and ppl_ax.get_ylabel() == "perplexity"


def test_comparison_figure_marks_each_models_chance():
    results = {"pretrained": {"accuracy": 0.6, "perplexity": 14.0, "chance_accuracy": 0.16},
               "random init": {"accuracy": 0.11, "perplexity": 39.0, "chance_accuracy": 0.10}}
    fig = comparison_figure(results, 20, 64)
    acc_ax = fig.axes[0]
    segments = acc_ax.collections[0].get_segments()
    assert [s[0][1] for s in segments] == [0.16, 0.10]
    assert [p.get_height() for p in acc_ax.patches] == [0.6, 0.11]
    assert acc_ax.get_ylabel() and fig.axes[1].get_ylabel()


def test_frame_report_and_widget_follow_the_slider(run):
    *_, mask, _, out = run
    b = 2
    frames = np.flatnonzero(mask[b])
    box = masked_frame_widget(out, b)
    slider, label = box.children
    assert (slider.min, slider.max, slider.value) == (0, len(frames) - 1, 0)
    assert label.value == frame_report(out, b, int(frames[0]))
    slider.value = len(frames) // 2
    t = int(frames[len(frames) // 2])
    logits = out.logits[b, t]
    loss = float(-torch.log_softmax(logits, -1)[0])
    assert label.value.startswith(f"frame {t}:") and f"loss {loss:.2f}" in label.value
    assert f"target logit {float(logits[0]):.2f}" in label.value
    assert ("correct" if logits[0] > logits[1:].max() else "wrong") in label.value


def test_frame_report_bad_input(run):
    *_, mask, _, out = run
    unmasked = int(np.flatnonzero(~mask[2])[0])
    with pytest.raises(ValueError, match="not masked"):
        frame_report(out, 2, unmasked)


def test_readme_table_matches_notebook_04():
    """The README's pretrained-vs-random table holds the numbers notebook 04 computes (one source)."""
    root = Path(__file__).resolve().parents[2]
    nb = nbformat.read(root / "notebooks" / "04_pretraining.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    readme = (root / "README.md").read_text()
    for name, row in (("pretrained", "pretrained-tiny"), ("random init", "random init")):
        m = re.search(rf"^{name} +accuracy ([\d.]+) \(chance ([\d.]+)\)  loss/frame ([\d.]+)  perplexity ([\d.]+)",
                      printed, flags=re.M)
        assert m, f"notebook 04 no longer prints the {name} row"
        assert f"| {row} | {' | '.join(m.groups())} |" in readme
