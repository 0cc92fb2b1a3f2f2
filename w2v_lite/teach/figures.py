"""Every figure of the notebooks and the README, drawn by package code.

Each `*_figure` function takes measured data and returns a `matplotlib.figure.Figure` (no pyplot, so it
works under any backend and never pops up a window). `make_all(out_dir)` measures everything with seeded
random-init models and writes the PNGs; `python -m w2v_lite.figures [--out figures/]` runs it. Sizes,
dpi and metadata are fixed so that the same library versions give byte-identical files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data.audio import load_default
from w2v_lite.lengths import output_lengths, receptive_field
from w2v_lite.model.wav2vec2 import Wav2Vec2Model
from w2v_lite.teach.explain import trace_shapes
from w2v_lite.teach.padding import MaskStages, mask_stages, padding_waste, realistic_lengths, sweep

__all__ = [
    "DPI",
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
]

DPI = 100
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
PADDING_EXTRAS = (0, 800, 1600, 4000, 8000, 16000, 32000)  # zero samples appended in the invariance sweep


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
            title=f"{len(wave)} samples ({len(wave) / sr:.2f} s) -> T = {num_frames} frames "
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
    """One row of boxes per clip (label -> `flow_stages` output): the live shape after every stage."""
    rows = list(flows.items())
    fig = Figure(figsize=(11, 0.25 + 1.5 * len(rows)), dpi=DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set(xlim=(0, 11), ylim=(0, 0.25 + 1.5 * len(rows)))
    ax.axis("off")
    notes = ("B x samples", "B x channels x T", "B x T x channels", "B x T x width", "B x T x width")
    for r, (label, stages) in enumerate(rows):
        y = 0.5 + 1.5 * (len(rows) - 1 - r)
        ax.text(0.1, y + 1.0, label, fontsize=11, weight="bold", va="center")
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
    """Sample mask (B, L), frame mask (B, T) and the additive attention bias seen by the shortest clip."""
    fig = Figure(figsize=(11, 3.6), dpi=DPI, layout="constrained")
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
    blocked = (stages.attention_bias[shortest, 0, 0] < 0).float()  # (T,) 1 where the key is padding
    c.imshow(blocked[None, :].expand(frames, frames).numpy(), cmap="Reds", vmin=0, vmax=1.5,
             interpolation="nearest")
    c.set(title=f"attention bias, clip {shortest}\n(red: -inf, key is padding)", xlabel="key frame",
          ylabel="query frame")
    return fig


def invariance_figure(extras: Sequence[int], curves: dict[str, Sequence[float]], sampling_rate: int = 16000,
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
    fig = Figure(figsize=(5, 3.5), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    names = list(waste)
    bars = ax.bar(names, [100 * waste[n] for n in names], color=COLORS[: len(names)])
    for bar, n in zip(bars, names):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{100 * waste[n]:.1f}%", ha="center",
                va="bottom")
    title = "compute spent on padding" + (f"\n{note}" if note else "")
    ax.set(ylabel="padded frames (%)", ylim=(0, 100), title=title)
    return fig


def padding_models(seed: int = 0) -> dict[str, Wav2Vec2Model]:
    """Three seeded `tiny` models that differ only in the conv-stack normalisation (eval mode)."""
    variants = {
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
    stitching-error and forced-alignment figures of `teach.long_audio` (the slow ones).
    """
    out = Path(out_dir)
    clip = load_default()
    sr = Wav2Vec2Config.base().sampling_rate
    paths = [save(frames_over_waveform_figure(clip), out / "frames_over_waveform.png")]
    torch.manual_seed(0)
    model = Wav2Vec2Model(shape_config or Wav2Vec2Config.base()).eval()
    flows = {f"{n / sr:.2f} s clip": flow_stages(model, clip[None, :n]) for n in (sr, clip.numel())}
    paths.append(save(shape_flow_figure(flows), out / "shape_flow.png"))
    lengths = [sr, int(2.2 * sr), clip.numel()]
    paths.append(save(masks_figure(mask_stages(lengths)), out / "masks.png"))
    curves = {name: sweep(m, clip[:sr], extras) for name, m in padding_models().items()}
    paths.append(save(invariance_figure(extras, curves), out / "padding_invariance.png"))
    lengths = realistic_lengths()
    waste = padding_waste(lengths, batch_size=8)
    note = f"{len(lengths)} clips of 0.5-15 s; naive: 8 per batch, bucketed: same samples per batch"
    paths.append(save(waste_figure({"naive": waste["naive"], "length-bucketed": waste["bucketed"]}, note),
                      out / "padding_waste.png"))
    if long_audio:
        from w2v_lite.teach.long_audio import make_figures  # imports this module: load it late

        paths += make_figures(out)
    return paths
