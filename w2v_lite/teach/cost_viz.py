"""What length costs, for notebook 07: the cost model summed by stage kind, chunked encoding, and a widget.

    cost_breakdown(config, num_samples)  -> {kind: {"gflops", "share", "written_mb"}} + the peak
    cost_breakdown_text(config, seconds) -> the same as a fixed-width table (what the widget shows)
    chunked_cost(config, num_samples, chunk_s, overlap_s) -> FLOPs and peak memory of windowed encoding
    cost_widget(config)                  -> IntSlider over seconds + that table, live
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from w2v_lite.asr.chunking import chunk_plan
from w2v_lite.config import Wav2Vec2Config
from w2v_lite.cost_model import cost, peak_activation_bytes, total
from w2v_lite.lengths import output_lengths

__all__ = ["GROUP_LABELS", "chunked_cost", "cost_breakdown", "cost_breakdown_text", "cost_widget"]

GROUP_LABELS = {
    "conv stack": "conv stack (7 layers)",
    "feature_projection": "feature projection",
    "pos_conv": "positional conv",
    "qkv_out": "q/k/v/out projections",
    "scores": "attention scores QK^T",
    "attn_v": "attention x V",
    "feed_forward": "feed-forward",
}


def cost_breakdown(config: Wav2Vec2Config, num_samples: int) -> dict:
    """The cost model summed over layers: ``{"groups": {kind: {"gflops", "share", "written_mb"}},
    "gflops": total, "peak_mb": peak live activations, "frames": T}`` for one clip of `num_samples`."""
    stages = cost(config, num_samples)
    flops = total(stages, by_group=True)
    written = total(stages, "activation_bytes", by_group=True)
    all_flops = sum(flops.values())
    groups = {g: {"gflops": flops[g] / 1e9, "share": flops[g] / all_flops, "written_mb": written[g] / 1e6}
              for g in flops}
    return {"groups": groups, "gflops": all_flops / 1e9, "frames": output_lengths(num_samples, config),
            "peak_mb": peak_activation_bytes(config, num_samples)["peak"] / 1e6}


def cost_breakdown_text(config: Wav2Vec2Config, seconds: float) -> str:
    """A table of `cost_breakdown` for a clip of `seconds`: one line per stage kind, then the totals."""
    num_samples = round(seconds * config.sampling_rate)
    b = cost_breakdown(config, num_samples)
    lines = [f"{seconds:g} s = {num_samples} samples -> {b['frames']} frames",
             f"{'stage':<24}{'GFLOP':>10}{'share':>8}{'written MB':>12}"]
    for g, v in b["groups"].items():
        lines.append(f"{GROUP_LABELS[g]:<24}{v['gflops']:>10.2f}{100 * v['share']:>7.1f}%{v['written_mb']:>12.1f}")
    lines.append(f"{'total':<24}{b['gflops']:>10.2f}{100.0:>7.1f}%")
    lines.append(f"peak live activations: {b['peak_mb']:.1f} MB")
    return "\n".join(lines)


def chunked_cost(config: Wav2Vec2Config, num_samples: int, chunk_s: float, stride_s: float) -> dict:
    """Encode a long clip as `w2v-lite transcribe` does (`asr.chunking.chunk_plan`): windows of `chunk_s`
    seconds with `stride_s` seconds of context on each side. Total GFLOP, the peak activation memory (one
    window at a time), and the same for the whole clip in one pass."""
    windows = [c.stop - c.start for c in chunk_plan(num_samples, config, chunk_s, stride_s)]
    return {
        "windows": len(windows),
        "gflops": sum(total(cost(config, n)) for n in windows) / 1e9,
        "peak_mb": max(peak_activation_bytes(config, n)["peak"] for n in windows) / 1e6,
        "whole_gflops": total(cost(config, num_samples)) / 1e9,
        "whole_peak_mb": peak_activation_bytes(config, num_samples)["peak"] / 1e6,
    }


def cost_widget(config: Wav2Vec2Config | None = None, value: int = 10, max_seconds: int = 120) -> widgets.VBox:
    """An IntSlider over the clip length in seconds and an HTML <pre> with `cost_breakdown_text`."""
    config = config or Wav2Vec2Config.base()
    slider = widgets.IntSlider(value=value, min=1, max=max_seconds, step=1, description="seconds",
                               layout=widgets.Layout(width="600px"))
    out = widgets.HTML(value=f"<pre>{html.escape(cost_breakdown_text(config, value))}</pre>")

    def update(change: dict) -> None:
        out.value = f"<pre>{html.escape(cost_breakdown_text(config, change['new']))}</pre>"

    slider.observe(update, names="value")
    return widgets.VBox([slider, out])
