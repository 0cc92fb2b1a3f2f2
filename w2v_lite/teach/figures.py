"""Every figure of the notebooks and the README, drawn by package code.

Each `*_figure` function takes measured data and returns a `matplotlib.figure.Figure` (no pyplot, so it
works under any backend and never pops up a window). `make_all(out_dir)` measures everything with seeded
random-init models and writes the PNGs; `w2v-lite figures [--out figures/]` runs it. Sizes,
dpi and metadata are fixed so that the same library versions give byte-identical files.
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import torch
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from w2v_lite.asr.pretrained import DEFAULT_MODEL_DIR
from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data.audio import corpus_items, load, load_default, pad_batch
from w2v_lite.lengths import output_lengths, receptive_field
from w2v_lite.model.ctc import Wav2Vec2ForCTC
from w2v_lite.model.pretraining import Wav2Vec2ForPreTraining
from w2v_lite.model.wav2vec2 import Wav2Vec2Model
from w2v_lite.teach.attention import attention_weights
from w2v_lite.teach.explain import ModelOverview, model_overview, trace_shapes
from w2v_lite.teach.long_audio import make_figures as long_audio_figures
from w2v_lite.teach.padding import MaskStages, mask_stages, padding_waste, realistic_lengths, sweep

__all__ = [
    "DPI",
    "attention_maps_figure",
    "flow_stages",
    "frames_over_waveform_figure",
    "invariance_figure",
    "make_all",
    "masks_figure",
    "padding_models",
    "save",
    "shape_flow_figure",
    "stages_from_trace",
    "waste_figure",
    "whole_model_figure",
]

DPI = 100
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
PADDING_EXTRAS = (0, 800, 1600, 4000, 8000, 16000, 32000)  # zero samples appended in the invariance sweep
ATTENTION_CLIPS = (1, 2, 7)  # test-corpus clips of 23, 33 and 68 frames: a padded batch with a short clip


def save(fig: Figure, path: str | Path) -> Path:
    """Write `fig` as a PNG with fixed dpi and no "Software" tag (so reruns give identical bytes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None})
    return path


def frames_over_waveform_figure(
    clip: torch.Tensor, config: Wav2Vec2Config | None = None, first_frame: int | None = None, count: int = 4
) -> Figure:
    """The waveform (L,) with the windows of `count` consecutive frames drawn over it.

    Top: the whole clip with every frame's start marked. Bottom: a zoom on frames `first_frame ...`
    (default: around the loudest frame), each window `receptive_field` samples wide, `hop` apart.
    """
    config = config or Wav2Vec2Config.base()
    sr = config.sampling_rate
    field, hop = receptive_field(config)
    num_frames = output_lengths(clip.numel(), config)
    if num_frames < count:
        raise ValueError(f"the clip gives {num_frames} frames; need at least count={count}")
    if first_frame is None:
        energy = [float(clip[t * hop : t * hop + field].pow(2).sum()) for t in range(num_frames)]
        first_frame = max(0, min(energy.index(max(energy)) - 1, num_frames - count))
    if not 0 <= first_frame <= num_frames - count:
        raise ValueError(f"first_frame must be in [0, {num_frames - count}], got {first_frame}")
    wave = clip.detach().float().numpy()
    ms = 1000.0 / sr
    fig = Figure(figsize=(10, 5.2), dpi=DPI, layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=(1, 1.6))
    top.plot([i * ms for i in range(len(wave))], wave, lw=0.4, color="0.3")
    top.vlines([t * hop * ms for t in range(num_frames)], -1, -0.9, color=COLORS[0], lw=0.5)
    lo, hi = first_frame * hop, (first_frame + count - 1) * hop + field
    top.axvspan(lo * ms, hi * ms, color=COLORS[1], alpha=0.3)
    top.set(xlim=(0, len(wave) * ms), ylim=(-1, 1), xlabel="time (ms)", ylabel="sample value",
            title=f"{len(wave)} samples ({len(wave) / sr:.3f} s) -> T = {num_frames} frames "
                  f"(ticks: frame starts every {hop} samples)")
    pad = hop // 2
    xs = range(max(0, lo - pad), min(len(wave), hi + pad))
    bottom.plot([i * ms for i in xs], wave[xs.start : xs.stop], lw=0.8, color="0.3")
    peak = float(abs(wave[xs.start : xs.stop]).max()) or 1.0
    for j in range(count):
        t = first_frame + j
        start, color = t * hop, COLORS[j % len(COLORS)]
        bottom.axvspan(start * ms, (start + field) * ms, color=color, alpha=0.12)
        y = peak * (1.1 + 0.2 * j)
        bottom.annotate("", xy=((start + field) * ms, y), xytext=(start * ms, y),
                        arrowprops=dict(arrowstyle="<->", color=color, lw=1.5))
        bottom.text((start + 8) * ms, y + 0.03 * peak, f"frame {t}: samples {start}-{start + field - 1}",
                    ha="left", va="bottom", fontsize=8, color=color)
    bottom.set(xlabel="time (ms)", ylabel="sample value", ylim=(-peak * 1.15, peak * (1.25 + 0.2 * count)),
               title=f"each frame sees {field} samples ({field * ms:g} ms); frames start every {hop} samples "
                     f"({hop * ms:g} ms)\nso neighbouring frames share {field - hop} samples")
    return fig


def _box(ax, x: float, y: float, w: float, h: float, title: str, lines: Sequence[str], fc: str) -> None:
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.04", fc=fc, ec="0.35"))
    ax.text(x + w / 2, y + h - 0.2, title, ha="center", va="top", fontsize=10, weight="bold")
    for i, line in enumerate(lines):
        mono = line.startswith("(")  # shapes in monospace
        ax.text(x + w / 2, y + h - 0.58 - 0.3 * i, line, ha="center", va="top", fontsize=9,
                family="monospace" if mono else None)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], text: str = "") -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", color="0.25", lw=1.3))
    if text:
        horizontal = start[1] == end[1]  # label above a horizontal arrow, beside a vertical one
        ax.text((start[0] + end[0]) / 2 + (0 if horizontal else 0.06), (start[1] + end[1]) / 2 + 0.15 * horizontal,
                text, fontsize=8, color="0.3", ha="center" if horizontal else "left", va="center")


def whole_model_figure(overview: ModelOverview, title: str = "") -> Figure:
    """The whole wav2vec 2.0 model as boxes with the live shapes of one clip (`explain.model_overview`).

    Top row: waveform -> conv stack -> z (C per frame) -> projection (H) -> masking -> transformer -> c.
    Bottom row: z -> quantizer -> q, and c with q into the contrastive + diversity loss.
    """
    o = overview
    (_, length), (_, channels, frames), (_, _, width) = o.waveform, o.conv, o.c
    fig = Figure(figsize=(13.5, 5.4), dpi=DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set(xlim=(0, 13.5), ylim=(0, 5.4))
    ax.axis("off")
    ax.text(0.15, 5.15, title or f"wav2vec 2.0, one clip of {length} samples: live shapes (B = 1, T = {frames})",
            fontsize=12, weight="bold", va="top")
    w, h, y = 1.95, 1.55, 3.0
    top = [
        ("waveform", [f"(1, {length})", f"{length / 16000:.3f} s at 16 kHz"]),
        ("conv stack", ["7 convs, 400-sample", "windows, hop 320", f"(1, {channels}, {frames})"]),
        ("z = transpose", [f"{channels} numbers", "per frame", f"(1, {frames}, {channels})"]),
        ("projection", [f"LayerNorm({channels})", f"Linear({channels}, {width})", f"(1, {frames}, {width})"]),
        ("span masking", [f"{o.num_masked} of {frames} frames", f"({100 * o.num_masked / frames:.0f}%) -> mask vector",
                          f"(1, {frames}, {width})"]),
        ("transformer", [f"pos conv + {o.num_layers} layers", "-> c (context)", f"(1, {frames}, {width})"]),
    ]
    xs = [0.15 + 2.22 * i for i in range(len(top))]
    colors = ("#f2f2f2", "#eef3fb", "#e8f4e8", "#eef3fb", "#fdf0e6", "#eef3fb")
    for x, (name, lines), fc in zip(xs, top, colors):
        _box(ax, x, y, w, h, name, lines, fc)
    for a, b in itertools.pairwise(xs):
        _arrow(ax, (a + w + 0.04, y + h / 2), (b - 0.04, y + h / 2))
    # bottom row: the quantizer under z, the loss under the transformer
    qx, lx = xs[2] + 1.2, xs[4] + 0.2
    _box(ax, qx, 0.35, 2.4, h, "quantizer -> q", [f"{o.num_groups} codebooks x {o.num_codes} codes",
                                                   "Gumbel-softmax pick", f"(1, {frames}, {o.q[2]})"], "#e8f4e8")
    _box(ax, lx, 0.1, 4.0, h + 0.25, "contrastive loss (masked frames)",
         ["c_t and q projected to one space, then", f"cos(c_t, [q_t, {o.logits[2] - 1} distractors]) / 0.1",
          f"logits (1, {frames}, {o.logits[2]}), target at index 0", "+ 0.1 x diversity -> one number"],
         "#fbeaea")
    _arrow(ax, (xs[2] + w / 2, y - 0.04), (qx + 0.5, 0.35 + h + 0.04), "unmasked z")
    _arrow(ax, (qx + 2.4 + 0.04, 0.35 + h / 2), (lx - 0.04, 0.35 + h / 2), "targets q")
    _arrow(ax, (xs[5] + w / 2, y - 0.04), (xs[5] + w / 2, 0.35 + h + 0.04), "predictions c")
    ax.text(0.15, 1.1, f"T = floor((L - 400) / 320) + 1 = {frames}\n{channels} is channels per frame, "
                       f"{width} the\ntransformer width: neither is a length", fontsize=9, color="0.3", va="center")
    return fig


def flow_stages(model: Wav2Vec2Model, input_values: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """The five stages of the shape story, measured by a real forward pass with hooks.

    (B, L) -> [("waveform", (B, L)), ("conv feature encoder", (B, C, T)), ("transpose", (B, T, C)),
    ("feature projection", (B, T, H)), ("transformer", (B, T, H))].
    """
    return stages_from_trace(trace_shapes(model, input_values), tuple(input_values.shape))


def stages_from_trace(
    trace: list[tuple[str, tuple[int, ...]]], input_shape: tuple[int, ...]
) -> list[tuple[str, tuple[int, ...]]]:
    """`flow_stages` from an existing `explain.trace_shapes` result (no second forward pass)."""
    traced = dict(trace)
    conv = [shape for name, shape in trace if name.startswith("feature_extractor.conv_layers.")][-1]
    return [
        ("waveform", tuple(input_shape)),
        ("conv feature encoder", conv),
        ("transpose", (conv[0], conv[2], conv[1])),
        ("feature projection", traced["feature_projection"]),
        ("transformer", traced["last_hidden_state"]),
    ]


def shape_flow_figure(flows: dict[str, list[tuple[str, tuple[int, ...]]]]) -> Figure:
    """One row of boxes per clip (label -> `flow_stages` output): the live shape after every stage, and a
    bar whose length is proportional to the clip's T (ticks every 10 frames)."""
    rows = list(flows.items())
    fig = Figure(figsize=(11, 0.25 + 1.5 * len(rows)), dpi=DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set(xlim=(0, 11), ylim=(0, 0.25 + 1.5 * len(rows)))
    ax.axis("off")
    notes = ("B x samples", "B x channels x T", "B x T x channels", "B x T x width", "B x T x width")
    longest = max(stages[-1][1][1] for _, stages in rows)  # the largest T: its bar spans the full width
    for r, (label, stages) in enumerate(rows):
        y = 0.5 + 1.5 * (len(rows) - 1 - r)
        ax.text(0.1, y + 1.0, label, fontsize=11, weight="bold", va="center")
        frames = stages[-1][1][1]  # T: the bar's width is proportional to it, one tick per 10 frames
        ax.add_patch(FancyBboxPatch((2.4, y + 0.9), 7.4 * frames / longest, 0.2, boxstyle="square,pad=0",
                                    fc="#cfe0f3", ec=COLORS[0]))
        for k in range(10, frames, 10):
            ax.plot([2.4 + 7.4 * k / longest] * 2, [y + 0.9, y + 1.1], color=COLORS[0], lw=0.5)
        ax.text(2.45 + 7.4 * frames / longest, y + 1.0, f" T = {frames} frames", fontsize=9, va="center")
        for i, (name, shape) in enumerate(stages):
            x = 0.1 + 2.2 * i
            ax.add_patch(FancyBboxPatch((x, y), 1.8, 0.8, boxstyle="round,pad=0.03", fc="#eef3fb",
                                        ec=COLORS[0]))
            ax.text(x + 0.9, y + 0.55, name, ha="center", va="center", fontsize=9)
            ax.text(x + 0.9, y + 0.28, str(shape), ha="center", va="center", fontsize=10, family="monospace",
                    weight="bold")
            if r == len(rows) - 1:
                ax.text(x + 0.9, y - 0.2, notes[i] if i < len(notes) else "", ha="center", fontsize=8,
                        color="0.4")
            if i + 1 < len(stages):
                ax.annotate("", xy=(x + 2.2, y + 0.4), xytext=(x + 1.8, y + 0.4),
                            arrowprops=dict(arrowstyle="->", color="0.3"))
    return fig


def masks_figure(stages: MaskStages, sampling_rate: int = 16000) -> Figure:
    """Sample mask (B, L), frame mask (B, T) and the `attend_mask` (True = attend) self-attention gets for the shortest
    clip: padded keys are excluded for every query; padded query rows are computed and discarded."""
    fig = Figure(figsize=(11, 4.0), dpi=DPI, layout="constrained")
    a, b, c = fig.subplots(1, 3, width_ratios=(1.3, 1.3, 1))
    batch, length = stages.sample_mask.shape
    frames = stages.frame_mask.shape[1]
    a.imshow(stages.sample_mask.numpy(), aspect="auto", cmap="Greens", vmin=0, vmax=1,
             interpolation="nearest", extent=(0, length / sampling_rate, batch - 0.5, -0.5))
    a.set(title=f"sample mask (B={batch}, L={length})", xlabel="seconds", ylabel="clip", yticks=range(batch))
    b.imshow(stages.frame_mask.numpy(), aspect="auto", cmap="Greens", vmin=0, vmax=1, interpolation="nearest")
    b.set(title=f"frame mask (B={batch}, T={frames})", xlabel="frame", yticks=range(batch))
    for i, n in enumerate(stages.frame_lengths.tolist()):
        b.text(1, i, f"{n} valid", ha="left", va="center", fontsize=9, color="white")  # on the green part
    shortest = int(stages.frame_lengths.argmin())
    n = int(stages.frame_lengths[shortest])
    blocked = (~stages.attend_mask[shortest, 0, 0]).float()  # (T,) 1 where the key is padding
    grid = blocked[None, :].expand(frames, frames).clone()
    grid[n:, :n] = 0.35  # padded queries: computed, then discarded
    c.imshow(grid.numpy(), cmap="Reds", vmin=0, vmax=1.2, interpolation="nearest")
    c.set(xlabel="key frame", ylabel="query frame")
    c.set_title(f"key mask of clip {shortest} (True = attend)\nred: padded key (excluded)\n"
                "pink: padded query (discarded)", fontsize=9)
    return fig


def attention_maps_figure(weights: torch.Tensor, frame_lengths: Sequence[int], labels: Sequence[str],
                          layer: int = 0) -> Figure:
    """One layer's attention maps for a padded batch: weights (B, heads, T, T) -> a grid, clips x heads.

    Each panel is query frame (rows) by key frame (columns) on a shared colour scale; the grey band marks
    the clip's padded key frames (their weight is 0), the whitened rows its padded query frames (computed,
    then discarded), and the dotted box its valid query x key square. Colours on a square-root scale.
    """
    batch, heads, frames, _ = weights.shape
    fig = Figure(figsize=(2.6 * heads + 0.8, 2.5 * batch + 0.6), dpi=DPI, layout="constrained")
    axes = fig.subplots(batch, heads, squeeze=False)
    top = float(weights.max())
    for b, (n, label) in enumerate(zip(frame_lengths, labels)):
        for h in range(heads):
            ax = axes[b][h]
            image = ax.imshow(weights[b, h].numpy(), cmap="magma", norm=PowerNorm(0.5, vmin=0, vmax=top),
                              interpolation="nearest")
            if n < frames:
                ax.axvspan(n - 0.5, frames - 0.5, color="0.7", lw=0)  # padded keys: weight exactly 0
                ax.axhspan(n - 0.5, frames - 0.5, xmax=n / frames, color="w", alpha=0.6, lw=0)  # padded queries
            ax.plot([-0.5, n - 0.5, n - 0.5, -0.5, -0.5], [-0.5, -0.5, n - 0.5, n - 0.5, -0.5], ":", color="w", lw=1)
            ax.set_xticks([0, n - 1])
            ax.set_yticks([0, n - 1])
            ax.tick_params(labelsize=7)
            if b == 0:
                ax.set_title(f"head {h}", fontsize=10)
            if h == 0:
                ax.set_ylabel(f"{label}\n{n} of {frames} frames\nquery frame", fontsize=8)
            if b == batch - 1:
                ax.set_xlabel("key frame", fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    fig.suptitle(f"layer {layer} attention in a padded batch: grey = padded keys (weight 0), "
                 "pale rows = padded queries (discarded)", fontsize=11)
    return fig


def invariance_figure(extras: Sequence[int], curves: Mapping[str, Sequence[float]], sampling_rate: int = 16000,
                      tolerance: float = 1e-5) -> Figure:
    """Max valid-frame change vs padding length (log scale), one curve per model; zeros drawn at 1e-9."""
    fig = Figure(figsize=(7, 4), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    seconds = [e / sampling_rate for e in extras]
    for (name, errors), color in zip(curves.items(), COLORS):
        ax.plot(seconds, [max(e, 1e-9) for e in errors], "o-", color=color, label=name)
    ax.axhline(tolerance, color="0.5", ls="--", lw=1)
    ax.text(seconds[-1], tolerance * 1.5, f"tolerance {tolerance:g}", ha="right", fontsize=8, color="0.4")
    ax.set(yscale="log", ylim=(1e-10, 10), xlabel="zero padding appended (s)",
           ylabel="max |change| on valid frames", title="padding invariance (mask passed)")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def waste_figure(waste: dict[str, float], note: str = "") -> Figure:
    """Bar chart of the padded share of frames per batching strategy (name -> fraction in [0, 1])."""
    fig = Figure(figsize=(5.5, 3.8), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    names = list(waste)
    bars = ax.bar(names, [100 * waste[n] for n in names], color=COLORS[: len(names)])
    for bar, n in zip(bars, names):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{100 * waste[n]:.1f}%", ha="center",
                va="bottom")
    title = "compute spent on padding" + (f"\n{textwrap.fill(note, 45)}" if note else "")
    ax.set(ylabel="padded frames (%)", ylim=(0, 100))
    ax.set_title(title, fontsize=10)
    return fig


def padding_models(seed: int = 0) -> dict[str, Wav2Vec2Model]:
    """Three seeded `tiny` models that differ only in the conv-stack normalisation (eval mode)."""
    variants: dict[str, dict[str, Any]] = {
        "GroupNorm (base-style)": {},
        "mask-aware GroupNorm": {"mask_aware_group_norm": True},
        "LayerNorm (lv60-style)": {"feat_extract_norm": "layer", "conv_bias": True,
                                   "do_stable_layer_norm": True},
    }
    models = {}
    for name, overrides in variants.items():
        torch.manual_seed(seed)
        models[name] = Wav2Vec2Model(Wav2Vec2Config.tiny(**overrides)).eval()
    return models


def make_all(
    out_dir: str | Path = "figures",
    shape_config: Wav2Vec2Config | None = None,
    extras: Sequence[int] = PADDING_EXTRAS,
    long_audio: bool = True,
) -> list[Path]:
    """Measure and draw every figure into `out_dir`; returns the written paths (deterministic).

    `shape_config` is the model traced for the shape flow (default: base, for the real 512 and 768);
    `extras` are the padding lengths (samples) of the invariance sweep; `long_audio=False` skips the
    stitching-error and forced-alignment figures of `teach.long_audio` (the slow ones). Everything is drawn
    under matplotlib's default rcParams (`FIXED_RC`), so a matplotlibrc or a notebook's style cannot change a
    pixel: `tests/teach/test_figures.py` redraws every committed figure and compares the pixels.
    """
    with matplotlib.rc_context(FIXED_RC):
        return _draw_all(Path(out_dir), shape_config, extras, long_audio)


# matplotlib's own defaults, minus the backend (figures are drawn on Agg canvases through Figure.savefig)
FIXED_RC: dict[Any, Any] = {key: value for key, value in matplotlib.rcParamsDefault.items() if key != "backend"}


def _draw_all(out: Path, shape_config: Wav2Vec2Config | None, extras: Sequence[int], long_audio: bool) -> list[Path]:
    """The body of `make_all`, run under `FIXED_RC`."""
    clip = load_default()
    sr = Wav2Vec2Config.base().sampling_rate
    paths = [save(frames_over_waveform_figure(clip), out / "frames_over_waveform.png")]
    torch.manual_seed(0)
    # pretraining's masking (p x M = 0.065 x 10, about half the frames), not base()'s fine-tuning 0.05
    whole = Wav2Vec2ForPreTraining(shape_config or Wav2Vec2Config.base(mask_time_prob=0.65)).eval()
    paths.append(save(whole_model_figure(model_overview(whole, clip)), out / "whole_model.png"))
    torch.manual_seed(0)
    model = Wav2Vec2Model(shape_config or Wav2Vec2Config.base()).eval()
    flows = {f"{n / sr:.2f} s clip": flow_stages(model, clip[None, :n]) for n in (sr, clip.numel())}
    paths.append(save(shape_flow_figure(flows), out / "shape_flow.png"))
    sample_lengths = [sr, int(2.2 * sr), clip.numel()]
    paths.append(save(masks_figure(mask_stages(sample_lengths)), out / "masks.png"))
    curves = {name: sweep(m, clip[:sr], extras) for name, m in padding_models().items()}
    paths.append(save(invariance_figure(extras, curves), out / "padding_invariance.png"))
    ctc = Wav2Vec2ForCTC.from_pretrained(DEFAULT_MODEL_DIR).eval()  # the committed ctc-tiny
    items = [corpus_items("test")[i] for i in ATTENTION_CLIPS]
    batch = pad_batch([load(path) for path, _ in items])
    weights = attention_weights(ctc, batch.input_values, batch.sample_lengths)
    paths.append(save(attention_maps_figure(weights[0], output_lengths(batch.sample_lengths, ctc.config).tolist(),
                                            [text for _, text in items]), out / "attention_maps.png"))
    corpus_lengths = realistic_lengths()
    waste = padding_waste(corpus_lengths, batch_size=8)
    note = f"{len(corpus_lengths)} clips of 0.5-15 s; naive: 8 per batch, bucketed: same samples per batch"
    paths.append(save(waste_figure({"naive": waste["naive"], "length-bucketed": waste["bucketed"]}, note),
                      out / "padding_waste.png"))
    if long_audio:
        paths += long_audio_figures(out, save)
    return paths
