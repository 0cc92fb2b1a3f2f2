"""Figures and the widget of notebook 04 (pretraining): package code, so the notebook only calls them.

    spans_figure(batch, frame_mask, mask)        waveforms with masked spans; the (B, T) frame strip
    negatives_figure(mask, frame_mask, neg, b, t) where one masked frame's distractors come from
    temperature_figure(logits, taus)              softmax(logits / tau) for several tau, and a hard pick
    codes_figure(waveform, codes, config)         the code each group picks, frame by frame, under the audio
    loss_curve_figure(rows, K, G*V)               a training log: contrastive loss vs chance, perplexity
    comparison_figure(results)                    pretrained vs random init: accuracy and perplexity
    frame_report(out, b, t) / masked_frame_widget  one masked frame's contrastive decision, as text
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import matplotlib
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

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
    "temperature_figure",
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
    """(B, T) frame states as coloured cells, with a legend of the three states."""
    ax.imshow(states, cmap=_FRAME_CMAP, vmin=0, vmax=2, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(ylabels)), ylabels)
    ax.set_xlabel("frame t (one every 20 ms)")
    ax.set_ylabel("clip")
    handles = [Patch(color=c, label=n) for c, n in zip(FRAME_COLORS, ("padding", "valid", "masked"), strict=True)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)


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
        n = int(batch.sample_lengths[b])
        ax.plot(seconds[:n], batch.input_values[b, :n].numpy(), color="#1f77b4", lw=0.5)
        ax.axvspan(n / 16000, length / 16000, color=FRAME_COLORS[0], lw=0)
        for first, last in _runs(states[b] == 2):  # one shaded block per run of masked frames
            ax.axvspan(first * hop / 16000, (last * hop + field) / 16000, color=FRAME_COLORS[2], alpha=0.3, lw=0)
        ax.set_xlim(0, length / 16000)
        ax.set_yticks([])
        ax.set_ylabel(names[b], rotation=0, ha="right", va="center")
    axes[0].legend(handles=[Patch(color=FRAME_COLORS[2], alpha=0.3, label="samples under masked frames"),
                            Patch(color=FRAME_COLORS[0], label="padding")],
                   loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    axes[-2].set_xlabel("time (s)")
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
    top.legend(handles=[Patch(color="#ff7f0e", label="drawn as distractor")], loc="upper left",
               bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    top.set_title(f"utterance {b}: the {negatives.shape[2]} distractors of masked frame {t}")
    _strip(bottom, frame_states(frame_mask, mask)[b : b + 1], [f"clip {b}"])
    return fig


def temperature_figure(logits: torch.Tensor, taus: Sequence[float] = (2.0, 1.0, 0.5), seed: int = 0) -> Figure:
    """(V,) code logits of one group -> one row per temperature tau: the noise-free softmax(logits / tau)
    (grey) and one Gumbel-softmax sample softmax((logits + g) / tau) (orange, the same noise g in every
    row), with its hard pick (the argmax, the one-hot the forward pass uses) marked."""
    logits = torch.as_tensor(logits, dtype=torch.float32).detach()
    if logits.dim() != 1:
        raise ValueError(f"logits must be one group's (V,) vector, got shape {tuple(logits.shape)}")
    noise = -torch.empty_like(logits).exponential_(generator=torch.Generator().manual_seed(seed)).log()
    fig = Figure(figsize=(10, 1.2 + 1.5 * len(taus)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(taus), 1, sharex=True))
    codes = np.arange(logits.numel())
    for tau, ax in zip(taus, axes, strict=True):
        soft = torch.softmax(logits / tau, -1).numpy()
        sample = torch.softmax((logits + noise) / tau, -1).numpy()
        ax.bar(codes - 0.2, soft, width=0.4, color="#7f7f7f", label="softmax(logits / tau), no noise")
        ax.bar(codes + 0.2, sample, width=0.4, color="#ff7f0e", label="softmax((logits + g) / tau)")
        pick = int(sample.argmax())
        ax.annotate("hard pick", (pick + 0.2, sample[pick]), xytext=(0, 3), textcoords="offset points",
                    ha="center", fontsize=8)
        ax.set_ylabel(f"tau = {tau:g}\nprobability")
        ax.set_ylim(0, 1.15)
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    axes[-1].set_xlabel("code (one group)")
    return fig


def codes_figure(waveform: torch.Tensor, codes: torch.Tensor, config: Wav2Vec2Config | None = None,
                 sampling_rate: int = 16000) -> Figure:
    """A clip (L,) and its chosen codes (T, G) on one time axis: the waveform on top, then one panel per
    group where each code *used* is a row (a category, listed in order of first use, its own colour) and
    frame t is a bar over its 20 ms hop from its window's start (the package's frame-time convention)."""
    _, hop = receptive_field(config)
    codes = torch.as_tensor(codes)
    frames, groups = codes.shape
    waveform = torch.as_tensor(waveform).flatten()
    fig = Figure(figsize=(11, 1.8 + 1.9 * groups), layout="constrained")
    axes = fig.subplots(groups + 1, 1, sharex=True, height_ratios=[1.0] + [1.6] * groups)
    axes[0].plot(np.arange(waveform.numel()) / sampling_rate, waveform.numpy(), lw=0.5, color="#1f77b4")
    axes[0].set_ylabel("amplitude")
    starts = np.arange(frames) * hop / sampling_rate  # lengths.frame_start_seconds: frame t at its window's start
    palette = [matplotlib.colormaps["tab20"](i % 20) for i in range(20)]
    for g, ax in enumerate(axes[1:]):
        column = codes[:, g].tolist()
        order = list(dict.fromkeys(column))  # distinct codes in order of first use
        rows = [order.index(c) for c in column]
        ax.barh(rows, hop / sampling_rate, left=starts, height=0.8, align="center",
                color=[palette[r % 20] for r in rows])
        ax.set_yticks(range(len(order)), [f"code {c}" for c in order], fontsize=7)
        ax.set_ylim(len(order) - 0.5, -0.5)
        ax.set_ylabel(f"group {g}")
        ax.set_title(f"group {g}: {len(order)} different codes over {frames} frames", fontsize=9)
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, max(waveform.numel() / sampling_rate, starts[-1] + hop / sampling_rate))
    return fig


def loss_curve_figure(rows: Sequence[Mapping[str, float]], num_negatives: int, num_codes: int) -> Figure:
    """Training-log rows (dicts with "step", "contrastive_loss" and "perplexity") -> two panels: the
    contrastive loss per masked frame against its chance level log(K + 1), and the codebook perplexity
    against its maximum G * V (the diversity loss pushes it up)."""
    fig = Figure(figsize=(10, 3.4), layout="constrained")
    loss_ax, ppl_ax = fig.subplots(1, 2)
    steps = [r["step"] for r in rows]
    loss_ax.plot(steps, [r["contrastive_loss"] for r in rows], color="#1f77b4", label="contrastive loss")
    loss_ax.axhline(math.log(num_negatives + 1), color="grey", ls=":",
                    label=f"chance: log({num_negatives} + 1) = {math.log(num_negatives + 1):.2f}")
    loss_ax.set(xlabel="optimizer step", ylabel="loss per masked frame", title="contrastive loss")
    loss_ax.legend(fontsize=8)
    ppl_ax.plot(steps, [r["perplexity"] for r in rows], color="#2ca02c", label="perplexity (softmax, masked frames)")
    ppl_ax.axhline(num_codes, color="grey", ls=":", label=f"all {num_codes} codes equally used")
    ppl_ax.set(xlabel="optimizer step", ylabel="perplexity", title="codebook use", ylim=(0, 1.1 * num_codes))
    ppl_ax.legend(fontsize=8)
    return fig


def comparison_figure(results: Mapping[str, Mapping[str, float]], num_negatives: int, num_codes: int) -> Figure:
    """{model name: masked_prediction_metrics} -> bars of accuracy (vs chance) and perplexity (vs G*V)."""
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    acc_ax, ppl_ax = fig.subplots(1, 2)
    names = list(results)
    colors = ["#2ca02c", "#7f7f7f", "#1f77b4", "#ff7f0e"][: len(names)]
    acc_ax.bar(names, [results[n]["accuracy"] for n in names], color=colors)
    acc_ax.axhline(1 / (num_negatives + 1), color="grey", ls=":", label=f"1/{num_negatives + 1} (K distinct)")
    if all("chance_accuracy" in results[n] for n in names):  # fewer distinct distractors: higher chance
        acc_ax.hlines([results[n]["chance_accuracy"] for n in names], np.arange(len(names)) - 0.4,
                      np.arange(len(names)) + 0.4, color="black", lw=2, label="chance, distinct distractors")
    acc_ax.set_title("masked-frame accuracy (held-out voices)")
    acc_ax.set_ylabel("share of masked frames right")
    acc_ax.set_ylim(0, 1)
    acc_ax.legend(fontsize=8)
    ppl_ax.bar(names, [results[n]["perplexity"] for n in names], color=colors)
    ppl_ax.axhline(num_codes, color="grey", ls=":", label=f"all {num_codes} codes equally used")
    ppl_ax.set_title("codebook perplexity")
    ppl_ax.set_ylabel("codes in use (perplexity)")
    ppl_ax.set_ylim(0, 1.25 * num_codes)
    ppl_ax.legend(fontsize=8)
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
