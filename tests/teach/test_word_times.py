"""Word times against clips with known word boundaries, starts AND ends, in the package's one frame-time
convention (`lengths.frame_start_seconds`: frame t is at the start of its window, t * 320 / 16000 s).

The clips are corpus words, each trimmed to its audible part, laid end to end with 0.3 s of digital silence
(`teach.long_audio.gapped_clip`), so every word's true start and end are where we put them. The bounds are
the accuracy notebook 06 states: starts within 0.1 s; ends early (CTC's letters are peaky) by at most 0.4 s.
"""

import math

import pytest
import soundfile as sf
import torch

from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.config import Wav2Vec2Config
from w2v_lite.lengths import frame_start_seconds
from w2v_lite.teach.cost_viz import cost_widget
from w2v_lite.teach.long_audio import gapped_clip, word_widget


@pytest.fixture(scope="module")
def recognizer():
    return Recognizer.load()  # the committed ctc-tiny


def test_frame_start_seconds_is_the_window_start():
    base = Wav2Vec2Config.base()
    assert frame_start_seconds(0, base) == 0.0 and frame_start_seconds(1, base) == 320 / 16000 == 0.02
    assert frame_start_seconds(torch.arange(3), base).tolist() == [0.0, 0.02, 0.04]
    assert frame_start_seconds(50) == 1.0  # config=None is the base stack


@pytest.mark.parametrize("first", [0, 5, 10])
def test_forced_alignment_starts_and_ends_against_known_boundaries(recognizer, first, one_thread):
    clip = gapped_clip(words=5, gap_seconds=0.3, first=first)
    result = recognizer.align(clip.audio, clip.transcript)
    assert [w.word for w in result.words] == clip.words
    config = recognizer.model.config
    for w, start, end in zip(result.words, clip.starts, clip.ends, strict=True):
        # the convention: a word's times are the starts of its first frame and of the frame after its last
        assert math.isclose(w.start, frame_start_seconds(w.start_frame, config), abs_tol=1e-9)
        assert math.isclose(w.end, frame_start_seconds(w.end_frame, config), abs_tol=1e-9)
        assert abs(w.start - start) <= 0.11, (w, start)
        assert -0.40 <= w.end - end <= 0.20, (w, end)
        assert w.start < w.end
    early_ends = sum(w.end < end for w, end in zip(result.words, clip.ends, strict=True))
    assert early_ends >= 4  # peaky CTC: the last letter fires before the word's sound stops


def test_transcribe_timestamps_bracket_the_speech(recognizer, tmp_path, one_thread):
    # greedy decoding of gapped words finds no word delimiter (silence is blank), so the whole clip is one
    # "word": its span must still start at the first word's onset and end near the last word's end
    clip = gapped_clip(words=5, gap_seconds=0.3, first=10)
    path = tmp_path / "gapped.wav"
    sf.write(path, clip.audio.numpy(), 16000)
    result = recognizer.transcribe(str(path))  # what `w2v-lite transcribe --timestamps` prints
    assert result.words
    config = Wav2Vec2Config.base()
    for w in result.words:
        assert math.isclose(w.start, frame_start_seconds(w.start_frame, config), abs_tol=1e-9)
        assert math.isclose(w.end, frame_start_seconds(w.end_frame, config), abs_tol=1e-9)
    assert abs(result.words[0].start - clip.starts[0]) <= 0.11
    assert -0.40 <= result.words[-1].end - clip.ends[-1] <= 0.20


def test_notebook_06_word_widget_shows_the_true_span(recognizer, one_thread):
    # moved here from notebook 06: setting .value is what dragging the slider does
    clip = gapped_clip(words=5, gap_seconds=0.3)
    result = recognizer.align(clip.audio, clip.transcript)
    slider, label = word_widget(result, truth=clip.starts, truth_ends=clip.ends).children
    slider.value = 2
    w = result.words[2]
    assert label.value == (f"{clip.words[2]}: frames {w.start_frame}-{w.end_frame}, {w.start:.2f}-{w.end:.2f} s "
                           f"(true {clip.starts[2]:.2f}-{clip.ends[2]:.2f} s)")


def test_notebook_07_cost_widget_follows_its_slider():
    # moved here from notebook 07: 60 s of the base model is 2999 frames
    slider, table = cost_widget(Wav2Vec2Config.base(), value=10).children
    slider.value = 60
    assert "2999 frames" in table.value


def test_notebook_07_cost_figure_widget_follows_its_slider():
    from w2v_lite.teach.widgets import cost_figure_widget

    slider, label = cost_figure_widget(Wav2Vec2Config.base(), value=10).children[:2]
    slider.value = 60
    assert "2999 frames" in label.value
