"""Teaching material for long recordings (notebook 06): a clip with known word times, the stitching-error
curve of the chunked encoder, and pictures of a forced alignment.

    gapped_clip(words=5, gap_seconds=0.3)     -> GappedClip: corpus words with silences between them, and
                                                 each word's true start and end (seconds)
    stitching_curve(model, clip, chunk, strides) -> relative RMS error of encode_chunked for each stride
    stitching_figure(strides, curves, ...)    -> Figure: error vs stride, one curve per model
    alignment_figure(clip, alignment, tokenizer, rate) -> Figure: waveform with word spans over it, and the
                                                 emission matrix (log-probs) with the aligned path
    word_widget(alignment, truth)             -> VBox(IntSlider, Label): step through the words and times
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from w2v_lite.asr.alignment import Alignment
from w2v_lite.asr.chunking import stitching_error
from w2v_lite.config import SAMPLING_RATE, Wav2Vec2Config
from w2v_lite.data.audio import corpus_items, load
from w2v_lite.data.tokenizer import CharTokenizer
from w2v_lite.lengths import frame_start_seconds

__all__ = ["GappedClip", "alignment_figure", "gapped_clip", "stitching_curve", "stitching_figure", "word_widget"]

TRIM = 0.02  # a word starts where its samples first exceed 2 % of the word's peak


@dataclass
class GappedClip:
    """Corpus words laid end to end with silence between them; the true times are where we put them."""

    audio: torch.Tensor  # (L,) at 16 kHz
    words: list[str]
    starts: list[float]  # seconds
    ends: list[float]

    @property
    def transcript(self) -> str:
        return " ".join(self.words)


def gapped_clip(words: int = 5, gap_seconds: float = 0.3, first: int = 0, split: str = "test") -> GappedClip:
    """`words` one-word clips of the corpus (from the `first`-th on), each trimmed to its audible part,
    with `gap_seconds` of digital silence before, between and after them."""
    items = [(p, t) for p, t in corpus_items(split) if " " not in t][first:first + words]
    if len(items) < words:
        raise ValueError(f"the {split} corpus has only {len(items) + first} one-word clips; ask for fewer words")
    gap = torch.zeros(round(gap_seconds * SAMPLING_RATE))
    pieces, starts, ends, names, at = [gap], [], [], [], gap.numel()
    for path, text in items:
        wave = load(path)
        loud = torch.nonzero(wave.abs() > TRIM * wave.abs().max()).flatten()
        wave = wave[int(loud[0]): int(loud[-1]) + 1]
        starts.append(at / SAMPLING_RATE)
        ends.append((at + wave.numel()) / SAMPLING_RATE)
        names.append(text)
        pieces += [wave, gap]
        at += wave.numel() + gap.numel()
    return GappedClip(torch.cat(pieces), names, starts, ends)


def stitching_curve(model: torch.nn.Module, clip: torch.Tensor, chunk_seconds: float,
                    strides: Sequence[float]) -> list[float]:
    """`stitching_error` of `model` on `clip` for each stride (seconds of context on each side)."""
    return [stitching_error(model, clip, chunk_seconds, s) for s in strides]


def stitching_figure(strides: Sequence[float], curves: Mapping[str, Sequence[float]], chunk_seconds: float,
                     pos_conv_seconds: float | None = None) -> Figure:
    """Relative RMS error of the stitched output vs the stride, one curve per model (log scale)."""
    fig = Figure(figsize=(7, 4), dpi=100, layout="constrained")
    ax = fig.subplots()
    for (name, errors), marker in zip(curves.items(), "os^v"):
        ax.semilogy(strides, np.maximum(errors, 1e-7), marker=marker, label=name)
    if pos_conv_seconds is not None:
        ax.axvline(pos_conv_seconds, color="gray", ls="--", lw=1)
        ax.text(pos_conv_seconds, ax.get_ylim()[1], " half the positional conv", va="top", fontsize=8,
                color="gray")
    ax.set_xlabel("stride: seconds of context on each side of the kept frames")
    ax.set_ylabel("||stitched - full|| / ||full||")
    ax.set_title(f"chunked vs full forward pass ({chunk_seconds:g} s windows)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return fig


def alignment_figure(clip: torch.Tensor, alignment: Alignment, tokenizer: CharTokenizer,
                     sampling_rate: int = SAMPLING_RATE, truth: Sequence[float] | None = None,
                     truth_ends: Sequence[float] | None = None) -> Figure:
    """Top: the waveform with each aligned word's span shaded and named (true starts dashed and true ends
    dotted, if given). Bottom: log P(token | frame) as an image (tokens used by the transcript only) with the
    aligned path. Frame t's column starts at `frame_start_seconds(t)`, the package's frame-time convention."""
    fig = Figure(figsize=(11, 5.5), dpi=100, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.4))
    seconds = np.arange(clip.numel()) / sampling_rate
    top.plot(seconds, clip.numpy(), lw=0.4, color="0.3")
    for i, w in enumerate(alignment.words):
        top.axvspan(w.start, w.end, color=f"C{i % 10}", alpha=0.25)
        top.text((w.start + w.end) / 2, 0.95, w.word, transform=top.get_xaxis_transform(), ha="center",
                 va="top", fontsize=9)
    for start in truth or ():
        top.axvline(start, color="k", ls="--", lw=0.8)
    for end in truth_ends or ():
        top.axvline(end, color="k", ls=":", lw=1.0)
    marks = (", true starts (dashed)" if truth else "") + (", true ends (dotted)" if truth_ends else "")
    top.set_title("forced alignment: word spans (shaded)" + marks)
    top.set_ylabel("waveform")
    used = sorted({tokenizer.pad_token_id, *(s.token_id for s in alignment.tokens)})
    rows = alignment.log_probs[:, used].T.numpy()  # (tokens used, T)
    frames = len(alignment.path)
    hop = frame_start_seconds(1)  # 20 ms: every model here has the wav2vec 2.0 conv stack
    extent = (0, frame_start_seconds(frames), len(used) - 0.5, -0.5)  # column t spans [start(t), start(t + 1))
    bottom.imshow(np.maximum(rows, -20), aspect="auto", extent=extent, cmap="viridis", interpolation="nearest")
    row_of = {tid: r for r, tid in enumerate(used)}
    t = frame_start_seconds(np.arange(frames)) + hop / 2  # the middle of each frame's column
    bottom.plot(t, [row_of[i] for i in alignment.path], color="red", lw=1, marker=".", ms=2)
    bottom.set_yticks(range(len(used)), ["_" if i == tokenizer.pad_token_id else tokenizer.id_to_token[i]
                                         for i in used])
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel("token")
    bottom.set_title("log P(token | frame), clipped at -20; red: the Viterbi path (blank = _)")
    return fig


def word_widget(alignment: Alignment, truth: Sequence[float] | None = None,
                truth_ends: Sequence[float] | None = None) -> widgets.VBox:
    """An IntSlider over the words and a Label with the word's aligned span (and its true start and end)."""
    slider = widgets.IntSlider(value=0, min=0, max=len(alignment.words) - 1, description="word")
    label = widgets.Label()

    def show(_change=None) -> None:
        w = alignment.words[slider.value]
        text = f"{w.word}: frames {w.start_frame}-{w.end_frame}, {w.start:.2f}-{w.end:.2f} s"
        if truth is not None and truth_ends is not None:
            text += f" (true {truth[slider.value]:.2f}-{truth_ends[slider.value]:.2f} s)"
        elif truth is not None:
            text += f" (true start {truth[slider.value]:.2f} s)"
        label.value = text

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, label])


STRIDES = (0.0, 0.04, 0.1, 0.2, 0.3, 0.4, 0.6)


def stitching_models(seed: int = 0) -> dict[str, torch.nn.Module]:
    """The two models of the stitching figure: the committed CTC checkpoint (GroupNorm conv stack) and a
    seeded random-init tiny encoder with a layer-norm conv stack (no statistics over time)."""
    from w2v_lite.asr.pretrained import DEFAULT_MODEL_DIR
    from w2v_lite.config import Wav2Vec2Config
    from w2v_lite.model.ctc import Wav2Vec2ForCTC
    from w2v_lite.model.wav2vec2 import Wav2Vec2Model

    committed = Wav2Vec2ForCTC.from_pretrained(DEFAULT_MODEL_DIR).eval()
    torch.manual_seed(seed)
    layer = Wav2Vec2Model(Wav2Vec2Config.tiny(feat_extract_norm="layer", conv_bias=True)).eval()
    return {"ctc-tiny (GroupNorm conv stack)": committed, "tiny, layer-norm conv stack (random init)": layer}


def make_figures(out_dir: str | Path, save: Callable[[Figure, Path], Path]) -> list[Path]:
    """Measure and draw figures/stitching_error.png and figures/forced_alignment.png with `save` (the
    byte-stable PNG writer of `teach.figures`, which calls this); returns the paths."""

    from w2v_lite.asr.recognizer import Recognizer
    from w2v_lite.data.audio import normalize

    out = Path(out_dir)
    speech = normalize(gapped_clip(words=10, gap_seconds=0.1).audio[None])[0][: 6 * SAMPLING_RATE]
    models = stitching_models()
    curves = {name: stitching_curve(m, speech, 2.0, STRIDES) for name, m in models.items()}
    config = cast(Wav2Vec2Config, next(iter(models.values())).config)
    pos = config.num_conv_pos_embeddings / 2 * 0.02  # seconds the positional conv sees on each side
    paths = [save(stitching_figure(STRIDES, curves, 2.0, pos), out / "stitching_error.png")]
    clip = gapped_clip()
    recognizer = Recognizer.load()  # the committed ctc-tiny
    result = recognizer.align(clip.audio, clip.transcript)
    paths.append(save(alignment_figure(clip.audio, result, recognizer.tokenizer, truth=clip.starts,
                                       truth_ends=clip.ends),
                      out / "forced_alignment.png"))
    return paths
