"""Figures and the widget of notebook 04 (pretraining): package code, so the notebook only calls them.

    spans_figure(batch, frame_mask, mask)        waveforms with masked spans; the (B, T) frame strip
    negatives_figure(mask, frame_mask, neg, b, t) where one masked frame's distractors come from
    codes_figure(codes, V, valid)                 the codevector each group picks, frame by frame
    loss_curve_figure(rows, K)                    a training log: loss per masked frame vs chance log(K+1)
    comparison_figure(results)                    pretrained vs random init: accuracy and perplexity
    frame_report(out, b, t) / masked_frame_widget  one masked frame's contrastive decision, as text
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data.audio import PaddedBatch
from w2v_lite.lengths import receptive_field
from w2v_lite.model.pretraining import PreTrainingOutput

__all__ = [
    "FRAME_COLORS",
    "codes_figure",
    "comparison_figure",
    "frame_report",
    "frame_states",
    "loss_curve_figure",
    "masked_frame_widget",
    "negatives_figure",
    "spans_figure",
]

FRAME_COLORS = ("#d9d9d9", "#9ecae1", "#d62728")  # padding, valid, masked
_FRAME_CMAP = ListedColormap(FRAME_COLORS)


def frame_states(frame_mask: torch.Tensor, mask: torch.Tensor | np.ndarray) -> np.ndarray:
    """(B, T) bool valid frames + (B, T) bool masked -> (B, T) int: 0 padding, 1 valid, 2 masked."""
    valid = np.asarray(frame_mask, dtype=bool)
    masked = np.asarray(mask, dtype=bool)
    if valid.shape != masked.shape:
        raise ValueError(f"frame_mask {valid.shape} and mask {masked.shape} must have the same (B, T) shape")
    return valid.astype(int) + masked.astype(int)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(T,) bool -> [(first, last)] frame index of every run of consecutive True values."""
    edges = np.diff(np.concatenate([[0], flags.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist()))


def _strip(ax, states: np.ndarray, ylabels: Sequence[str]) -> None:
    ax.imshow(states, cmap=_FRAME_CMAP, vmin=0, vmax=2, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(ylabels)), ylabels)
    ax.set_xlabel("frame t (20 ms each)")


def spans_figure(batch: PaddedBatch, frame_mask: torch.Tensor, mask: torch.Tensor | np.ndarray,
                 config: Wav2Vec2Config | None = None, names: Sequence[str] | None = None) -> Figure:
    """One row per clip of a padded batch (B, L): the waveform, its masked spans in red over the samples
    their frames see (frame t covers samples [t*hop, t*hop + field)), padding in grey; then the (B, T)
    frame strip (grey padding, blue valid, red masked)."""
    field, hop = receptive_field(config)
    states = frame_states(frame_mask, mask)
    rows, length = batch.input_values.shape
    names = list(names) if names is not None else [f"clip {b}" for b in range(rows)]
    fig = Figure(figsize=(11, 1.3 * rows + 1.6), layout="constrained")
    axes = fig.subplots(rows + 1, 1, height_ratios=[1.0] * rows + [0.9])
    seconds = np.arange(length) / 16000
    for b, ax in enumerate(axes[:-1]):
        n = int(batch.lengths[b])
        ax.plot(seconds[:n], batch.input_values[b, :n].numpy(), color="#1f77b4", lw=0.5)
        ax.axvspan(n / 16000, length / 16000, color=FRAME_COLORS[0], lw=0)
        for first, last in _runs(states[b] == 2):  # one shaded block per run of masked frames
            ax.axvspan(first * hop / 16000, (last * hop + field) / 16000, color=FRAME_COLORS[2], alpha=0.3, lw=0)
        ax.set_xlim(0, length / 16000)
        ax.set_yticks([])
        ax.set_ylabel(names[b], rotation=0, ha="right", va="center")
    axes[-2].set_xlabel("time (s): red = samples under masked frames, grey = padding")
    _strip(axes[-1], states, names)
    return fig


def negatives_figure(mask: np.ndarray, frame_mask: torch.Tensor, negatives: np.ndarray, b: int, t: int) -> Figure:
    """Utterance b's frame strip, and how often each frame was drawn as a distractor for masked frame t.

    `negatives` (B, T, K) are flat indices into B*T, as `masking.sample_negative_indices` returns them.
    """
    num_frames = mask.shape[1]
    drawn = np.bincount(np.asarray(negatives[b, t]) - b * num_frames, minlength=num_frames)
    fig = Figure(figsize=(11, 3.0), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    top.bar(np.arange(num_frames), drawn, color="#ff7f0e", width=0.8)
    top.axvline(t, color="black", ls="--", lw=1)
    top.annotate("target frame", (t, drawn.max()), xytext=(4, 0), textcoords="offset points")
    top.set_ylabel("times drawn")
    top.set_title(f"utterance {b}: the {negatives.shape[2]} distractors of masked frame {t}")
    _strip(bottom, frame_states(frame_mask, mask)[b : b + 1], [f"clip {b}"])
    return fig


def codes_figure(codes: torch.Tensor, num_codes: int, valid: torch.Tensor | None = None) -> Figure:
    """(T, G) chosen code per group and frame -> one image per group: code (rows) over time (columns)."""
    codes = torch.as_tensor(codes)
    frames, groups = codes.shape
    fig = Figure(figsize=(11, 1.6 + 1.4 * groups), layout="constrained")
    axes = np.atleast_1d(fig.subplots(groups, 1, sharex=True))
    keep = np.ones(frames, bool) if valid is None else np.asarray(valid, dtype=bool)
    for g, ax in enumerate(axes):
        image = np.zeros((num_codes, frames))
        image[codes[keep, g].numpy(), np.flatnonzero(keep)] = 1.0
        ax.imshow(image, aspect="auto", cmap="Greys", interpolation="nearest", origin="lower")
        used = len(set(codes[keep, g].tolist()))
        ax.set_ylabel(f"group {g}\ncode (of {num_codes})")
        ax.set_title(f"group {g}: {used} different codes over {int(keep.sum())} frames", fontsize=9)
    axes[-1].set_xlabel("frame t")
    axes[-1].set_xlim(-0.5, np.flatnonzero(keep).max() + 0.5)
    return fig


def loss_curve_figure(rows: Sequence[Mapping[str, float]], num_negatives: int,
                      keys: Sequence[str] = ("loss", "contrastive_loss")) -> Figure:
    """Training-log rows (dicts with "step" and `keys`) -> curves, with chance level log(K + 1)."""
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    steps = [r["step"] for r in rows]
    for key in keys:
        ax.plot(steps, [r[key] for r in rows], label=key.replace("_", " ") + " per masked frame")
    ax.axhline(math.log(num_negatives + 1), color="grey", ls=":", label=f"chance: log({num_negatives} + 1)")
    ax.set_xlabel("optimizer step")
    ax.legend()
    return fig


def comparison_figure(results: Mapping[str, Mapping[str, float]], num_negatives: int, num_codes: int) -> Figure:
    """{model name: masked_prediction_metrics} -> bars of accuracy (vs chance) and perplexity (vs G*V)."""
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    acc_ax, ppl_ax = fig.subplots(1, 2)
    names = list(results)
    colors = ["#2ca02c", "#7f7f7f", "#1f77b4", "#ff7f0e"][: len(names)]
    acc_ax.bar(names, [results[n]["accuracy"] for n in names], color=colors)
    acc_ax.axhline(1 / (num_negatives + 1), color="grey", ls=":", label=f"chance 1/{num_negatives + 1}")
    acc_ax.set_title("masked-frame accuracy (held-out voices)")
    acc_ax.set_ylim(0, 1)
    acc_ax.legend()
    ppl_ax.bar(names, [results[n]["perplexity"] for n in names], color=colors)
    ppl_ax.axhline(num_codes, color="grey", ls=":", label=f"all {num_codes} codes equally used")
    ppl_ax.set_title("codebook perplexity")
    ppl_ax.set_ylim(0, 1.25 * num_codes)
    ppl_ax.legend()
    return fig


def frame_report(out: PreTrainingOutput, b: int, t: int) -> str:
    """One masked frame's contrastive decision as one line of text (from a forward with masks+negatives)."""
    if out.logits is None or out.mask_time_indices is None or out.sampled_negative_indices is None:
        raise ValueError("run the model with mask_time_indices and sampled_negative_indices to get logits")
    if not bool(out.mask_time_indices[b, t]):
        raise ValueError(f"frame {t} of clip {b} is not masked; it has no contrastive loss")
    logits = out.logits[b, t].detach()
    num_frames = out.logits.shape[1]
    negatives = out.sampled_negative_indices[b, t] - b * num_frames
    best = int(logits[1:].argmax())
    loss = float(-torch.log_softmax(logits, -1)[0])
    codes = ", ".join(str(int(c)) for c in out.code_indices[b, t])
    verdict = "correct" if logits[0] > logits[1:].max() else "wrong"
    return (f"frame {t}: target codes ({codes}); target logit {float(logits[0]):.2f}, best distractor "
            f"{float(logits[1 + best]):.2f} (frame {int(negatives[best])}) -> {verdict}; "
            f"loss {loss:.2f} (chance {math.log(logits.numel()):.2f})")


def masked_frame_widget(out: PreTrainingOutput, b: int) -> widgets.VBox:
    """IntSlider over the masked frames of clip b + a Label with `frame_report` for the chosen one."""
    if out.mask_time_indices is None:
        raise ValueError("run the model with mask_time_indices to get masked frames")
    frames = torch.nonzero(out.mask_time_indices[b]).flatten().tolist()
    if not frames:
        raise ValueError(f"clip {b} has no masked frame")
    slider = widgets.IntSlider(value=0, min=0, max=len(frames) - 1, description="masked #",
                               continuous_update=False, layout=widgets.Layout(width="600px"))
    label = widgets.Label(value=frame_report(out, b, frames[0]))

    def update(change: dict) -> None:
        label.value = frame_report(out, b, frames[change["new"]])

    slider.observe(update, names="value")
    return widgets.VBox([slider, label])
