"""The live-figure widgets of the notebooks (w2v_lite.teach.widgets, issue 17): moving a control redraws a
real figure (its artists change), the label says what the figure shows, and the view is projector-ready."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch

from w2v_lite import Wav2Vec2Config, Wav2Vec2Model, output_lengths
from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.data.audio import corpus_items, load
from w2v_lite.data.dataset import Clip
from w2v_lite.teach import widgets as W

PNG = b"\x89PNG\r\n\x1a\n"


def shown_png(live: W.LiveFigure) -> bytes:
    (output,) = live.out.outputs
    return base64.b64decode(output["data"]["image/png"])


def image_data(live: W.LiveFigure) -> list[np.ndarray]:
    return [np.asarray(im.get_array()) for ax in live.figure.axes for im in ax.images]


def check_projector_ready(live: W.LiveFigure) -> None:
    for control in live.children[:-2]:
        assert control.style.description_width == "initial"  # the description is never cut off
    for ax in live.figure.axes:
        assert ax.title.get_fontsize() >= 12 and ax.xaxis.label.get_fontsize() >= 12
    assert shown_png(live).startswith(PNG)
    assert repr(live).startswith("LiveFigure(")  # no PNG bytes in the text repr (strict nbval)


@pytest.fixture(scope="module")
def clip():
    path, _ = corpus_items("test")[7]
    return load(path)


def test_frames_widget_draws_one_window_per_frame(clip):
    live = W.frames_figure_widget(clip, value=16000)
    slider = live.children[0]
    bars = lambda: [p for p in live.figure.axes[1].patches if abs(p.get_height() - 0.8) < 1e-6]  # noqa: E731
    assert len(bars()) == output_lengths(16000) == 49
    first = shown_png(live)
    slider.value = 16080  # one 80-sample step: the 50th frame appears
    assert len(bars()) == 50 and shown_png(live) != first
    assert live.label.value.endswith("→ 50 frames")
    # frame t's window covers samples [320 t, 320 t + 400), drawn in ms
    last = bars()[-1]
    assert last.get_x() == pytest.approx(320 * 49 / 16) and last.get_width() == pytest.approx(400 / 16)
    check_projector_ready(live)


def test_padding_widget_redraws_masks_and_attention():
    torch.manual_seed(0)
    model = Wav2Vec2Model(Wav2Vec2Config.tiny()).eval()
    one_second = torch.randn(16000, generator=torch.Generator().manual_seed(0)) * 0.1
    live = W.padding_figure_widget(model, one_second, value_ms=0)
    before = image_data(live)
    assert before[1].shape == (1, 49) and before[1].all()  # no padding: every frame valid
    live.children[0].value = 1000
    after = image_data(live)
    assert after[1].shape == (1, 99) and after[1].sum() == 49  # 1 s of zeros: 50 padded frames
    attention = after[2]
    assert attention.shape == (99, 99) and np.allclose(attention[:, 49:], 0)  # padded keys get weight 0
    assert np.allclose(attention.sum(-1), 1, atol=1e-5)
    assert live.label.value == "49 valid frames + 50 padded = T 99"
    check_projector_ready(live)


@pytest.fixture(scope="module")
def recognizer():
    return Recognizer.load()


def test_trellis_widget_follows_word_and_t(recognizer, clip):
    clips = [Clip(p, load(p), text) for p, text in corpus_items("test")[:3]]
    live = W.trellis_widget(recognizer.model, recognizer.tokenizer, clips, index=1)
    choose, frames = live.children[:2]
    text = clips[1].text
    assert image_data(live)[0].shape == (2 * len(text) + 1, frames.value)  # 2U + 1 states x T frames
    frames.value = 40
    assert image_data(live)[0].shape == (2 * len(text) + 1, 40) and "T = 40 frames" in live.label.value
    choose.value = 2
    assert image_data(live)[0].shape == (2 * len(clips[2].text) + 1, 40)
    frames.value = 3  # fewer frames than tokens: no alignment, no figure, a sentence instead
    assert live.figure is None and live.out.outputs == () and "no alignment" in live.label.value
    frames.value = 30
    check_projector_ready(live)


def test_word_spans_widget_highlights_the_chosen_word(recognizer, clip):
    result = recognizer.align(clip, "seven nine one zero")
    live = W.word_spans_widget(clip, result)
    spans = lambda: [p for p in live.figure.axes[0].patches]  # noqa: E731
    alphas = [p.get_alpha() for p in spans()]
    assert len(alphas) == 4 and alphas[0] > alphas[1]
    live.children[0].value = 2
    alphas = [p.get_alpha() for p in spans()]
    assert alphas[2] == max(alphas) and alphas[0] < alphas[2]
    w = result.words[2]
    assert live.label.value == f"{w.word}: frames {w.start_frame}-{w.end_frame}, {w.start:.2f}-{w.end:.2f} s"
    check_projector_ready(live)


def test_cost_widget_bars_grow_with_length():
    live = W.cost_figure_widget(Wav2Vec2Config.base(), value=10)
    widths = lambda: [p.get_width() for p in live.figure.axes[0].patches]  # noqa: E731
    ten = widths()
    live.children[0].value = 60
    sixty = widths()
    assert len(ten) == len(sixty) > 3 and all(b > a for a, b in zip(ten, sixty))
    assert "60 s -> 2999 frames" in live.label.value
    check_projector_ready(live)
