"""Emission pictures and the clip-picker widget: frame times, path strip, report text, widget updates."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from w2v_lite import audio
from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.data.dataset import AudioFolder, Clip
from w2v_lite.lengths import output_lengths
from w2v_lite.teach.ctc_viz import (
    clip_report,
    emission_figure,
    emission_widget,
    emissions,
    frame_centres,
    path_strip_html,
)


@pytest.fixture(scope="module")
def loaded():
    rec = Recognizer.load()
    return rec.model, rec.tokenizer, AudioFolder(audio.corpus_dir("test")).clips[:4]


def test_frame_centres_by_hand():
    # 400-sample windows every 320 samples at 16 kHz: centres at 12.5 ms, 32.5 ms, 52.5 ms
    np.testing.assert_allclose(frame_centres(3, 400, 320, 16000), [0.0125, 0.0325, 0.0525])


def test_emissions_of_a_clip(loaded):
    model, tok, clips = loaded
    em = emissions(model, tok, clips[0].waveform)
    T = output_lengths(clips[0].waveform.numel(), model.config)
    assert em.num_frames == T and em.log_probs.shape == (T, tok.vocab_size) and len(em.path) == T
    torch.testing.assert_close(em.log_probs.exp().sum(-1), torch.ones(T))
    assert em.path == em.log_probs.argmax(-1).tolist() and em.text == tok.decode(em.path)
    assert (em.window, em.hop, em.sampling_rate) == (400, 320, 16000) and em.tokens[0] == "<pad>"


def test_emission_figure(loaded):
    model, tok, clips = loaded
    em = emissions(model, tok, clips[1].waveform)
    fig = emission_figure(em, reference=clips[1].text)
    assert isinstance(fig, Figure)
    wave_ax, image_ax, _colorbar = fig.axes
    assert em.text in wave_ax.get_title() and clips[1].text in wave_ax.get_title()
    assert image_ax.get_images()[0].get_array().shape == (tok.vocab_size, em.num_frames)
    # the image spans the frames' hops from their window starts (the frame-start convention): column t is
    # samples [320 t, 320 (t + 1))
    left, right, _, _ = image_ax.get_images()[0].get_extent()
    assert left == 0 and right == pytest.approx(em.num_frames * 320 / 16000)
    dots = sum(len(c.get_offsets()) for c in image_ax.collections)
    assert dots == em.num_frames  # one greedy-path dot per frame


def test_path_strip_html(loaded):
    model, tok, clips = loaded
    em = emissions(model, tok, clips[0].waveform)
    strip = path_strip_html(em)
    assert strip.count("<span") == em.num_frames
    assert strip.count("160,160,160") == sum(i == 0 for i in em.path)  # grey boxes = blank frames


def test_clip_report_by_hand():
    assert clip_report("a.flac", "two", "to", 20) == 'a.flac: 20 frames | reference "two" | greedy "to" | CER 33.3%'


def test_widget_follows_the_slider(loaded):
    model, tok, clips = loaded
    box = emission_widget(model, tok, clips, index=1)
    slider, label, strip = box.children
    assert (slider.min, slider.max, slider.value) == (0, 3, 1)
    assert label.value.startswith(clips[1].path.name)
    slider.value = 2
    em = emissions(model, tok, clips[2].waveform)
    assert label.value == clip_report(clips[2].path.name, clips[2].text, em.text, em.num_frames)
    assert strip.value == path_strip_html(em)


def test_widget_bad_input(loaded):
    model, tok, clips = loaded
    with pytest.raises(ValueError, match="at least one clip"):
        emission_widget(model, tok, [])
    with pytest.raises(ValueError, match="index"):
        emission_widget(model, tok, clips, index=4)
    with pytest.raises(ValueError, match="no transcript"):
        emission_widget(model, tok, [Clip(clips[0].path, clips[0].waveform, None)])


def test_emission_figure_class_labels_are_readable(loaded):
    model, tok, clips = loaded
    fig = emission_figure(emissions(model, tok, clips[0].waveform))
    labels = fig.axes[1].get_yticklabels()
    assert len(labels) == tok.vocab_size and labels[0].get_text() == "blank"
    assert min(label.get_fontsize() for label in labels) >= 9  # one row per class: the names must be legible
