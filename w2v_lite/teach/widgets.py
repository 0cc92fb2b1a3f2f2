"""The interactive controls of the notebooks: pure text/HTML functions plus small ipywidgets builders.

Every builder returns a `VBox` of an `IntSlider` and `Label`/`HTML` children wired with `observe`, so the
text a student sees is a plain string that strict nbval can compare and unit tests can check:

    frames_per_layer_text(48000)  -> "48000 samples (3.000 s): 9599 → 4799 → ... → 149 frames"
    length_slider()               -> slider over samples + that text           (notebook 01)
    shape_flow_widget(model, clip)-> slider over clip length + live shape boxes  (notebook 02)
    padding_widget(models, clip)  -> slider over padding + frame mask + error    (notebook 03)
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import torch

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.lengths import layer_lengths, output_lengths
from w2v_lite.model.wav2vec2 import Wav2Vec2Model
from w2v_lite.teach.figures import flow_stages
from w2v_lite.teach.padding import sweep

__all__ = [
    "FRAMES_LABEL_CLASS",
    "clip_of_length",
    "format_error",
    "frames_per_layer_text",
    "length_slider",
    "mask_bar_html",
    "padding_report",
    "padding_widget",
    "shape_flow_html",
    "shape_flow_widget",
]

FRAMES_LABEL_CLASS = "w2v-frames-label"  # CSS class of the frame-count Label (the browser test looks it up)


def frames_per_layer_text(num_samples: int, config: Wav2Vec2Config | None = None) -> str:
    """The length after each conv layer, as one line: int -> str ending in "-> T frames"."""
    config = config or Wav2Vec2Config.base()
    per_layer = layer_lengths(int(num_samples), config)
    seconds = num_samples / config.sampling_rate
    steps = " → ".join(str(n) for n in per_layer[1:-1])
    return f"{num_samples} samples ({seconds:.3f} s): {steps} → {per_layer[-1]} frames"


def length_slider(
    value: int = 48000, config: Wav2Vec2Config | None = None, max_samples: int = 160000, step: int = 80
) -> widgets.VBox:
    """An IntSlider over the clip length in samples and a Label with `frames_per_layer_text`.

    The default step is 80 samples (5 ms): every frame boundary 400 + 320 k is a multiple of 80, so the
    slider can land on the shortest clip for any frame count.
    """
    slider = widgets.IntSlider(value=value, min=0, max=max_samples, step=step, description="samples",
                               continuous_update=True, layout=widgets.Layout(width="600px"))
    label = widgets.Label(value=frames_per_layer_text(value, config))
    label.add_class(FRAMES_LABEL_CLASS)

    def update(change: dict) -> None:
        label.value = frames_per_layer_text(change["new"], config)

    slider.observe(update, names="value")
    return widgets.VBox([slider, label])


def shape_flow_html(stages: list[tuple[str, tuple[int, ...]]]) -> str:
    """Boxes and arrows for `figures.flow_stages` output: list of (name, shape) -> an HTML snippet."""
    box = ("display:inline-block;border:1px solid #1f77b4;border-radius:6px;padding:4px 8px;"
           "margin:2px;background:#eef3fb;text-align:center")
    parts = [f'<div style="{box}">{html.escape(name)}<br><code>{html.escape(str(shape))}</code></div>'
             for name, shape in stages]
    return '<div style="line-height:1.6">' + " → ".join(parts) + "</div>"


def clip_of_length(clip: torch.Tensor, num_samples: int) -> torch.Tensor:
    """The clip cut or repeated to exactly `num_samples` samples: (L,) -> (num_samples,)."""
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    repeats = -(-num_samples // clip.numel())  # ceil division
    return clip.repeat(repeats)[:num_samples]


def shape_flow_widget(
    model: Wav2Vec2Model, clip: torch.Tensor, value_ms: int = 3000, min_ms: int = 500, max_ms: int = 10000
) -> widgets.VBox:
    """A clip-length slider (ms) that reruns `model` and redraws the shape boxes of `flow_stages`."""
    sr = model.config.sampling_rate
    slider = widgets.IntSlider(value=value_ms, min=min_ms, max=max_ms, step=100, description="clip (ms)",
                               continuous_update=False, layout=widgets.Layout(width="600px"))
    box = widgets.HTML()

    def update(change: dict) -> None:
        x = clip_of_length(clip, change["new"] * sr // 1000)[None]
        box.value = shape_flow_html(flow_stages(model, x))

    update({"new": value_ms})
    slider.observe(update, names="value")
    return widgets.VBox([slider, box])


def format_error(error: float, tolerance: float = 1e-5) -> str:
    """A max-abs error as stable text: "<= 1e-05" at or below `tolerance`, else 2 significant digits."""
    return f"<= {tolerance:g}" if error <= tolerance else f"{error:.2g}"


def padding_report(models: dict[str, Wav2Vec2Model], clip: torch.Tensor, extra_samples: int) -> str:
    """One line per model: the max change of the clip's valid outputs when `extra_samples` zeros are
    appended and the mask is passed. (name -> model), (L,), int -> str."""
    lines = []
    for name, model in models.items():
        error = sweep(model, clip, [extra_samples])[0]
        lines.append(f"{name}: max change {format_error(error)}")
    return "; ".join(lines)


def mask_bar_html(valid: int, total: int, px_per_frame: int = 3) -> str:
    """A frame mask as a bar: `valid` green frames then `total - valid` grey padded ones -> HTML."""
    if not 0 <= valid <= total:
        raise ValueError(f"need 0 <= valid <= total, got valid={valid}, total={total}")
    cell = "display:inline-block;height:14px;width:{}px;background:{}"
    return (f'<div><span style="{cell.format(valid * px_per_frame, "#2ca02c")}"></span>'
            f'<span style="{cell.format((total - valid) * px_per_frame, "#cccccc")}"></span> '
            f"{valid} valid frames + {total - valid} padded = T {total}</div>")


def padding_widget(
    models: dict[str, Wav2Vec2Model], clip: torch.Tensor, value_ms: int = 1000, max_ms: int = 2000
) -> widgets.VBox:
    """A padding slider (ms of zeros appended to `clip`) showing the frame mask and, per model, how much
    the valid outputs change (mask passed)."""
    config = next(iter(models.values())).config
    sr = config.sampling_rate
    slider = widgets.IntSlider(value=value_ms, min=0, max=max_ms, step=100, description="padding (ms)",
                               continuous_update=False, layout=widgets.Layout(width="600px"))
    bar, label = widgets.HTML(), widgets.Label()

    def update(change: dict) -> None:
        extra = change["new"] * sr // 1000
        valid, total = output_lengths(clip.numel(), config), output_lengths(clip.numel() + extra, config)
        bar.value = mask_bar_html(valid, total)
        label.value = padding_report(models, clip, extra)

    update({"new": value_ms})
    slider.observe(update, names="value")
    return widgets.VBox([slider, bar, label])
