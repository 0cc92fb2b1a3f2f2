"""The interactive controls of the notebooks: pure text/HTML functions plus small ipywidgets builders.

Every builder returns a `VBox` of an `IntSlider` and `Label`/`HTML` children wired with `observe`, so the
text a student sees is a plain string that strict nbval can compare and unit tests can check:

    frames_per_layer_text(48000)  -> "48000 samples (3.000 s): 9599 → 4799 → ... → 149 frames"
    length_slider()               -> slider over samples + that text           (notebook 01)
    shape_flow_widget(model, clip)-> slider over clip length + live shape boxes  (notebook 02)
    padding_widget(models, clip)  -> slider over padding + frame mask + error    (notebook 03)
"""

from __future__ import annotations

import base64
import html
import io
import itertools
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from w2v_lite.asr.alignment import Alignment, WordSpan
from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data.dataset import Clip
from w2v_lite.data.tokenizer import CharTokenizer
from w2v_lite.lengths import layer_lengths, output_lengths, receptive_field
from w2v_lite.model.ctc import Wav2Vec2ForCTC
from w2v_lite.model.wav2vec2 import Wav2Vec2Model
from w2v_lite.teach.attention import attention_weights
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


# ------------------------------------------------------------------------------------------- live figures
# Each builder below returns a `LiveFigure`: its controls, a text line and an Output holding the current
# figure as a PNG, redrawn whenever a control changes. Colours are Okabe-Ito (safe for the common forms of
# colour blindness), fonts are sized for a 1280 x 720 projector, descriptions are never truncated.

OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
STYLE = {"description_width": "initial"}  # the whole description, never "padding (..."
FONT = {"font.size": 13, "axes.titlesize": 14, "axes.labelsize": 13, "xtick.labelsize": 12,
        "ytick.labelsize": 12, "legend.fontsize": 12}
LIVE_DPI = 80


def _slider(description: str, value: int, low: int, high: int, step: int = 1) -> widgets.IntSlider:
    return widgets.IntSlider(value=value, min=low, max=high, step=step, description=description, style=STYLE,
                             continuous_update=False, layout=widgets.Layout(width="720px"))


class LiveFigure(widgets.VBox):
    """Controls, a Label and an Output showing `draw()`'s figure; `.figure` is the last Figure drawn.

    The figure goes into the Output as a PNG display_data, so it needs no matplotlib backend and is stored
    with the widget state (GitHub and `nbconvert --to html` show it). Its text repr is stable (no PNG
    bytes), so strict nbval compares only the title."""

    def __init__(self, title: str, controls: Sequence[widgets.Widget],
                 draw: Callable[[], tuple[Figure | None, str]]) -> None:
        self.title, self.draw = title, draw
        self.label = widgets.Label(style={"font_size": "16px"})
        self.out = widgets.Output()
        self.figure: Figure | None = None
        super().__init__([*controls, self.label, self.out])
        for control in controls:
            control.observe(lambda _change: self.redraw(), names="value")
        self.redraw()

    def redraw(self) -> None:
        """Run `draw` and show its figure (or only its text, when it returns no figure)."""
        import matplotlib

        with matplotlib.rc_context(FONT):  # type: ignore[arg-type]
            figure, text = self.draw()
            outputs: tuple = ()
            if figure is not None:
                buffer = io.BytesIO()
                figure.savefig(buffer, format="png", dpi=LIVE_DPI)
                data = {"image/png": base64.b64encode(buffer.getvalue()).decode(), "text/plain": self.title}
                outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)
        self.figure, self.label.value = figure, text
        self.out.outputs = outputs

    def __repr__(self) -> str:
        return f"LiveFigure({self.title!r})"


def frame_windows_figure(clip: torch.Tensor, config: Wav2Vec2Config | None = None) -> Figure:
    """The waveform (L,) and, under it, the window of every frame, one row per frame stride by stride (the
    stair of 400-sample windows starting every 320 samples); the tail no frame covers is marked."""
    config = config or Wav2Vec2Config.base()
    field, hop = receptive_field(config)
    sr, n = config.sampling_rate, clip.numel()
    frames = output_lengths(n, config)
    ms = 1000 / sr
    fig = Figure(figsize=(12, 4.6), dpi=LIVE_DPI, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.4))
    top.plot(torch.arange(n) * ms, clip.numpy(), lw=0.6, color=OKABE_ITO[7])
    top.set(ylabel="sample", title=f"L = {n} samples ({n * ms:.0f} ms) -> T = {frames} frames")
    for t in range(frames):
        colour = OKABE_ITO[4] if t % 2 == 0 else OKABE_ITO[0]
        bottom.barh(t, field * ms, left=t * hop * ms, height=0.8, color=colour)
    covered = (frames - 1) * hop + field if frames else 0
    if covered < n:
        for ax in (top, bottom):
            ax.axvspan(covered * ms, n * ms, color=OKABE_ITO[5], alpha=0.25, lw=0)
        top.text(n * ms, top.get_ylim()[1], f"{n - covered} samples in no frame", ha="right", va="top",
                 color=OKABE_ITO[5])
    bottom.set(xlabel="time (ms)", ylabel="frame t", xlim=(0, max(n, field) * ms),
               ylim=(max(frames, 1) - 0.5, -0.5),
               title=f"frame t sees samples [{hop} t, {hop} t + {field}): "
                     f"{field * ms:g} ms windows every {hop * ms:g} ms")
    return fig


def frames_figure_widget(clip: torch.Tensor, config: Wav2Vec2Config | None = None, value: int = 16000,
                         max_samples: int = 32000) -> LiveFigure:
    """Notebook 01: a slider over L (80-sample steps) redrawing `frame_windows_figure` of the clip cut or
    repeated to L samples; the label is `frames_per_layer_text(L)`."""
    slider = _slider("clip length L (samples)", value, 80, max_samples, 80)

    def draw() -> tuple[Figure, str]:
        return frame_windows_figure(clip_of_length(clip, slider.value), config), frames_per_layer_text(
            slider.value, config)

    live = LiveFigure("frame windows", [slider], draw)
    live.label.add_class(FRAMES_LABEL_CLASS)
    return live


def padded_batch_figure(model: Wav2Vec2Model, clip: torch.Tensor, extra_samples: int) -> Figure:
    """`clip` (L,) followed by `extra_samples` zeros, as a padded batch row: its sample mask, frame mask
    and the model's layer-0 attention (head 0) with the mask passed; padded keys are shaded."""
    cfg = model.config
    sr = cfg.sampling_rate
    padded = torch.cat([clip, torch.zeros(extra_samples)])
    weights = attention_weights(model, padded[None], torch.tensor([clip.numel()]))[0, 0, 0]  # (T, T)
    total = output_lengths(padded.numel(), cfg)
    valid = output_lengths(clip.numel(), cfg)
    fig = Figure(figsize=(12, 4.2), dpi=LIVE_DPI, layout="constrained")
    a, b, c = fig.subplots(1, 3, width_ratios=(1.2, 1.2, 1))
    mask = torch.zeros(padded.numel())
    mask[: clip.numel()] = 1
    a.imshow(mask[None].numpy(), aspect="auto", cmap="cividis", vmin=0, vmax=1, interpolation="nearest",
             extent=(0, padded.numel() / sr, 0.5, -0.5))
    a.set(title=f"sample mask: {clip.numel()} real + {extra_samples} zeros", xlabel="seconds", yticks=[])
    frames = torch.zeros(total)
    frames[:valid] = 1
    b.imshow(frames[None].numpy(), aspect="auto", cmap="cividis", vmin=0, vmax=1, interpolation="nearest")
    b.set(title=f"frame mask: {valid} valid of T = {total}", xlabel="frame", yticks=[])
    c.imshow(weights.numpy(), cmap="cividis", interpolation="nearest")
    c.set(title="attention, layer 0 head 0", xlabel="key frame", ylabel="query frame")
    if valid < total:
        c.axvspan(valid - 0.5, total - 0.5, color=OKABE_ITO[5], alpha=0.35, lw=0)
    return fig


def padding_figure_widget(model: Wav2Vec2Model, clip: torch.Tensor, value_ms: int = 1000,
                          max_ms: int = 2000) -> LiveFigure:
    """Notebook 03: a padding slider (ms of zeros appended to `clip`) redrawing `padded_batch_figure`;
    the label gives the valid and padded frame counts."""
    sr = model.config.sampling_rate
    slider = _slider("padding (ms of zeros)", value_ms, 0, max_ms, 100)

    def draw() -> tuple[Figure, str]:
        extra = slider.value * sr // 1000
        valid = output_lengths(clip.numel(), model.config)
        total = output_lengths(clip.numel() + extra, model.config)
        text = f"{valid} valid frames + {total - valid} padded = T {total}"
        return padded_batch_figure(model, clip, extra), text

    return LiveFigure("padded batch", [slider], draw)


def stretch(clip: torch.Tensor, num_samples: int) -> torch.Tensor:
    """The clip played faster or slower to exactly `num_samples` samples (linear interpolation):
    (L,) -> (num_samples,). Pitch moves with speed, as on a tape."""
    return torch.nn.functional.interpolate(clip[None, None], size=num_samples, mode="linear",
                                           align_corners=True)[0, 0]


def trellis_widget(model: Wav2Vec2ForCTC, tokenizer: CharTokenizer, clips: Sequence[Clip], index: int = 0,
                   max_frames: int = 120) -> LiveFigure:
    """Notebook 05: pick a clip (its transcript is the label) and T; the clip is stretched to give exactly
    T frames, run through the CTC model, and `trellis_figure` draws the label's trellis and best path.
    Too few frames for the label: the text says so and no figure is drawn (CTC has no alignment)."""
    from w2v_lite.asr.recognizer import Recognizer
    from w2v_lite.teach.ctc_trellis import trellis_figure

    labelled = [c for c in clips if c.text]
    if not labelled:
        raise ValueError("trellis_widget needs clips with transcripts")
    cfg = model.config
    recognizer = Recognizer(model, tokenizer)  # each clip normalised on its own, as in training
    choose = widgets.Dropdown(options=[(f"{i}: {c.text}", i) for i, c in enumerate(labelled)],
                              value=min(index, len(labelled) - 1), description="clip (its words)", style=STYLE)
    natural = output_lengths(labelled[choose.value].waveform.numel(), cfg)
    frames = _slider("T (frames)", natural, 2, max_frames)
    tokens = [tokenizer.id_to_token[i] for i in range(tokenizer.vocab_size)]

    def draw() -> tuple[Figure | None, str]:
        clip = labelled[choose.value]
        targets = tokenizer.encode(clip.text)
        need = len(targets) + sum(a == b for a, b in itertools.pairwise(targets))
        if frames.value < need:
            return None, (f'"{clip.text}" needs at least {need} frames ({len(targets)} tokens + repeats); '
                          f"T = {frames.value} has no alignment: CTC's loss is inf")
        window, hop = receptive_field(cfg)
        samples = window + hop * (frames.value - 1)  # the shortest clip with exactly T frames
        logits = recognizer.emissions(stretch(clip.waveform, samples))
        greedy = recognizer.decode(logits, samples).text
        fig = trellis_figure(torch.log_softmax(logits.float(), -1), targets, tokens)
        return fig, f'"{clip.text}" stretched to {samples} samples -> T = {logits.shape[0]} frames; greedy: "{greedy}"'

    return LiveFigure("CTC trellis", [choose, frames], draw)


def word_spans_figure(clip: torch.Tensor, words: Sequence[WordSpan], chosen: int, sampling_rate: int = 16000
                      ) -> Figure:
    """The clip (L,) with every aligned word's span shaded and labelled; the `chosen` word is outlined."""
    fig = Figure(figsize=(12, 3.4), dpi=LIVE_DPI, layout="constrained")
    ax = fig.subplots()
    t = torch.arange(clip.numel()) / sampling_rate
    ax.plot(t.numpy(), clip.numpy(), lw=0.5, color=OKABE_ITO[7])
    peak = float(clip.abs().max()) or 1.0
    for i, w in enumerate(words):
        colour = OKABE_ITO[i % 7]
        ax.axvspan(w.start, w.end, color=colour, alpha=0.55 if i == chosen else 0.2, lw=0)
        ax.text((w.start + w.end) / 2, peak * 1.05, w.word, ha="center", va="bottom", fontsize=13,
                weight="bold" if i == chosen else "normal")
    if 0 <= chosen < len(words):
        w = words[chosen]
        ax.axvline(w.start, color=OKABE_ITO[5], lw=2)
        ax.axvline(w.end, color=OKABE_ITO[5], lw=2)
    ax.set(xlabel="seconds", ylabel="sample", ylim=(-peak * 1.1, peak * 1.35),
           title="word spans from the CTC path (frame starts, 20 ms grid)")
    return fig


def word_spans_widget(clip: torch.Tensor, alignment: Alignment, truth: Sequence[float] | None = None,
                      sampling_rate: int = 16000) -> LiveFigure:
    """Notebook 06: a slider over the aligned words redrawing `word_spans_figure`; the label gives the word's
    frames and times (and its true start, when known), as `long_audio.word_widget` does."""
    slider = _slider("word", 0, 0, len(alignment.words) - 1)

    def draw() -> tuple[Figure, str]:
        w = alignment.words[slider.value]
        text = f"{w.word}: frames {w.start_frame}-{w.end_frame}, {w.start:.2f}-{w.end:.2f} s"
        if truth is not None:
            text += f" (true start {truth[slider.value]:.2f} s)"
        return word_spans_figure(clip, alignment.words, slider.value, sampling_rate), text

    return LiveFigure("word spans", [slider], draw)


def cost_figure(config: Wav2Vec2Config, seconds: float) -> Figure:
    """GFLOP and written MB per stage kind for one clip of `seconds` (the cost model of `cost_viz`)."""
    from w2v_lite.teach.cost_viz import GROUP_LABELS, cost_breakdown

    b = cost_breakdown(config, round(seconds * config.sampling_rate))
    names = [GROUP_LABELS[g] for g in b["groups"]]
    fig = Figure(figsize=(12, 4.0), dpi=LIVE_DPI, layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    left.barh(names, [v["gflops"] for v in b["groups"].values()], color=OKABE_ITO[4])
    left.set(xlabel="GFLOP", title=f"{seconds:g} s -> T = {b['frames']} frames: {b['gflops']:.1f} GFLOP")
    left.invert_yaxis()
    right.barh(names, [v["written_mb"] for v in b["groups"].values()], color=OKABE_ITO[0])
    right.set(xlabel="MB written", title=f"peak live activations {b['peak_mb']:.0f} MB")
    return fig


def cost_figure_widget(config: Wav2Vec2Config | None = None, value: int = 10, max_seconds: int = 120) -> LiveFigure:
    """Notebook 07: a slider over the clip length (s) redrawing `cost_figure`; the label gives the totals."""
    from w2v_lite.teach.cost_viz import cost_breakdown

    config = config or Wav2Vec2Config.base()
    slider = _slider("clip length (seconds)", value, 1, max_seconds)

    def draw() -> tuple[Figure, str]:
        b = cost_breakdown(config, slider.value * config.sampling_rate)
        return cost_figure(config, slider.value), (f"{slider.value} s -> {b['frames']} frames, "
                                                   f"{b['gflops']:.1f} GFLOP, peak {b['peak_mb']:.0f} MB")

    return LiveFigure("cost per stage", [slider], draw)
