"""teach.long_audio: the stitching-error and alignment figures draw what was measured; the word widget."""

import torch

from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.teach import long_audio as LA


def texts(fig) -> str:
    return " | ".join(t.get_text() for t in fig.findobj(match=lambda a: hasattr(a, "get_text")) if t.get_text())


def test_stitching_figure_draws_each_curve():
    fig = LA.stitching_figure([0.0, 0.2, 0.4], {"a": [0.1, 0.01, 0.001], "b": [0.2, 0.1, 0.1]}, 2.0, 0.32)
    (ax,) = fig.axes
    lines = [line for line in ax.get_lines() if line.get_label() in ("a", "b")]
    assert [list(line.get_ydata()) for line in lines] == [[0.1, 0.01, 0.001], [0.2, 0.1, 0.1]]
    assert "2 s windows" in texts(fig) and "half the positional conv" in texts(fig)


def test_alignment_figure_and_widget():
    clip = LA.gapped_clip(words=3, gap_seconds=0.2)
    recognizer = Recognizer.load()
    result = recognizer.align(clip.audio, clip.transcript)
    fig = LA.alignment_figure(clip.audio, result, recognizer.tokenizer, truth=clip.starts)
    _top, bottom = fig.axes
    drawn = texts(fig)
    assert all(w in drawn for w in clip.words)
    image = bottom.get_images()[0].get_array()
    used = sorted({0, *(s.token_id for s in result.tokens)})
    assert image.shape == (len(used), len(result.path))
    assert torch.allclose(torch.as_tensor(image.data[0]), result.log_probs[:, 0].clamp(min=-20))
    box = LA.word_widget(result, truth=clip.starts)
    slider, label = box.children
    slider.value = 1
    w = result.words[1]
    assert label.value == (f"{w.word}: frames {w.start_frame}-{w.end_frame}, {w.start:.2f}-{w.end:.2f} s "
                           f"(true start {clip.starts[1]:.2f} s)")
