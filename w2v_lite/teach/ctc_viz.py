"""Pictures of what a CTC model emits: a class-by-frame image under the waveform, and a clip-picker widget.

    emissions(model, tokenizer, waveform)  -> Emissions: log-probs (T, V), greedy path, text, frame times
    emission_figure(em)                    -> Figure: waveform on top; below it log P(class | frame) as an
                                              image with the greedy path drawn over it, on one time axis
    path_strip_html(em)                    -> the greedy path as one coloured box per frame (HTML)
    emission_widget(model, tokenizer, clips) -> VBox(IntSlider, Label, HTML): pick a clip, see its
                                              transcript, error rate and per-frame path

Frame t is drawn as the column ``[start(t), start(t + 1))`` with ``start(t) = t * hop / sampling_rate``
seconds (`lengths.frame_start_seconds`, the package's one frame-time convention: a frame is where its
400-sample window starts), so the columns tile the time axis on the same 20 ms grid as word timestamps.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from w2v_lite.asr.metrics import cer
from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.data.dataset import Clip
from w2v_lite.data.tokenizer import CharTokenizer
from w2v_lite.lengths import receptive_field
from w2v_lite.model.ctc import Wav2Vec2ForCTC

__all__ = ["Emissions", "emissions", "frame_centres", "emission_figure", "path_strip_html", "clip_report",
           "emission_widget"]

BLANK_SHOWN_AS = "_"


@dataclass
class Emissions:
    """One clip through a CTC model."""

    waveform: torch.Tensor  # (L,) at config.sampling_rate
    log_probs: torch.Tensor  # (T, V) fp32 log-softmax of the logits
    path: list[int]  # (T,) argmax id per frame
    text: str  # greedy decoding of `path`
    tokens: list[str]  # (V,) token of each class id
    window: int  # samples one frame sees
    hop: int  # samples between frame starts
    sampling_rate: int

    @property
    def num_frames(self) -> int:
        """T, the number of frames (= CTC input length of this clip)."""
        return self.log_probs.shape[0]


def emissions(model: Wav2Vec2ForCTC, tokenizer: CharTokenizer, waveform: torch.Tensor) -> Emissions:
    """Run one 16 kHz clip (L,) -> `Emissions` with (T, V) log-probabilities and the greedy path."""
    recognizer = Recognizer(model, tokenizer)  # each clip normalised on its own, as in training
    logits = recognizer.emissions(waveform)
    path = recognizer.frame_path(logits)  # the greedy path
    text = tokenizer.decode(path)
    window, hop = receptive_field(model.config)
    tokens = [tokenizer.id_to_token[i] for i in range(tokenizer.vocab_size)]
    return Emissions(waveform, torch.log_softmax(logits.float(), -1), path, text, tokens, window, hop,
                     model.config.sampling_rate)


def frame_centres(num_frames: int, window: int, hop: int, sampling_rate: int) -> np.ndarray:
    """Centre of each frame's window in seconds: (T,) = (t * hop + window / 2) / sampling_rate."""
    return (np.arange(num_frames) * hop + window / 2) / sampling_rate


def emission_figure(em: Emissions, reference: str | None = None, min_log_prob: float = -10.0) -> Figure:
    """Waveform (top) and log P(class | frame) as a V x T image (bottom), sharing the time axis.

    Frame t's column spans ``[t * hop, (t + 1) * hop)`` samples: it starts where its window starts. Dots
    mark the greedy path (the argmax class of each frame); non-blank ones are labelled with their
    character. The title gives the greedy transcript (and `reference`, if given).
    """
    sr = em.sampling_rate
    fig = Figure(figsize=(10, 7.0), dpi=100, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 2.6))
    t = np.arange(em.waveform.numel()) / sr
    top.plot(t, em.waveform.numpy(), lw=0.6, color="#1f77b4")
    top.set(ylabel="amplitude", title=f'greedy: "{em.text}"' + (f'   reference: "{reference}"' if reference else ""))
    starts = np.arange(em.num_frames) * em.hop / sr  # lengths.frame_start_seconds, for this emission's hop
    step = em.hop / sr
    centres = starts + step / 2  # dots in the middle of each frame's column
    image = em.log_probs.T.clamp(min=min_log_prob).numpy()  # (V, T)
    shown = bottom.imshow(image, aspect="auto", origin="lower", cmap="magma", interpolation="nearest",
                          extent=(starts[0], starts[-1] + step, -0.5, len(em.tokens) - 0.5))
    fig.colorbar(shown, ax=bottom, label="log P(class | frame)", pad=0.01)
    path = np.asarray(em.path)
    blank = path == 0
    bottom.scatter(centres[blank], path[blank], s=6, color="#7fd4ff", label="greedy path: blank")
    bottom.scatter(centres[~blank], path[~blank], s=22, color="#00ff66", label="greedy path: character")
    for c, i in zip(centres[~blank], path[~blank], strict=True):
        bottom.annotate(em.tokens[i], (c, i), xytext=(0, 6), textcoords="offset points", ha="center",
                        color="white", fontsize=9)
    names = ["blank" if i == 0 else em.tokens[i] for i in range(len(em.tokens))]
    bottom.set(yticks=range(len(names)), xlabel="seconds", ylabel="class")
    bottom.set_yticklabels(names, fontsize=10)  # one readable label per class row
    bottom.legend(loc="upper right", fontsize=9, framealpha=0.6)
    top.set_xlim(0, max(t[-1], starts[-1] + step))
    return fig


def path_strip_html(em: Emissions, px: int = 9) -> str:
    """The greedy path as T small boxes, one per frame: grey for blank, green with the character otherwise;
    the opacity is the frame's top probability (rounded to 0.1). -> HTML string."""
    probs = em.log_probs.exp().max(-1).values.tolist()
    boxes = []
    for i, p in zip(em.path, probs, strict=True):
        colour = "160,160,160" if i == 0 else "44,160,44"
        char = "" if i == 0 else html.escape(em.tokens[i].replace("|", "␣"))
        boxes.append(f'<span style="display:inline-block;width:{px}px;height:14px;font-size:9px;'
                     f'background:rgba({colour},{round(p, 1):.1f})">{char}</span>')
    return f'<div style="font-family:monospace;line-height:14px">{"".join(boxes)}</div>'


def clip_report(name: str, reference: str, hypothesis: str, num_frames: int) -> str:
    """One line: 'clip: T frames | reference "..." | greedy "..." | CER x.x%'."""
    return (f'{name}: {num_frames} frames | reference "{reference}" | greedy "{hypothesis}" | '
            f"CER {100 * cer(reference, hypothesis):.1f}%")


def emission_widget(
    model: Wav2Vec2ForCTC, tokenizer: CharTokenizer, clips: Sequence[Clip], index: int = 0
) -> widgets.VBox:
    """A slider over `clips` (with transcripts) -> Label (reference, greedy text, CER) + HTML path strip."""
    if not clips:
        raise ValueError("emission_widget needs at least one clip")
    if not 0 <= index < len(clips):
        raise ValueError(f"index must be in [0, {len(clips)}), got {index}")
    unlabelled = [c.path.name for c in clips if not c.text]
    if unlabelled:
        raise ValueError(f"clips {unlabelled} have no transcript; the widget compares against it")
    slider = widgets.IntSlider(value=index, min=0, max=len(clips) - 1, description="clip",
                               continuous_update=False, layout=widgets.Layout(width="500px"))
    label, strip = widgets.Label(), widgets.HTML()

    def update(change: dict) -> None:
        clip = clips[change["new"]]
        em = emissions(model, tokenizer, clip.waveform)
        label.value = clip_report(clip.path.name, clip.text, em.text, em.num_frames)
        strip.value = path_strip_html(em)

    update({"new": index})
    slider.observe(update, names="value")
    return widgets.VBox([slider, label, strip])
