"""The classroom page: `w2v-lite classroom` serves one Voilà page (no code shown) where a class hears a voice
and watches it become T frames, masks, attention and text, using the committed CTC model (ctc-tiny).

    analyse(waveform (L,), name, on_progress=None)
                                  -> Analysis: shape table, T by the formula, transcript with word times,
                                     and four PNG figures (frames over the waveform, the padded batch and
                                     its masks, attention maps, the CTC path)
    page()                        -> the ipywidgets VBox the dashboard notebook displays
    serve(port, open_browser)     -> runs Voilà on 127.0.0.1 over the packaged classroom.ipynb (defined in
                                     classroom_server.py, which loads no torch: the command is quick)

Cold start (issue 17): Voilà sends the page at once (progressive rendering) and the dashboard's second cell
analyses the embedded clip, which fills the page part by part: the shape table and the frames figure first,
then the transcript, the batch masks, the attention maps and the CTC path.

Inputs: the embedded clip (or a corpus clip), an uploaded file (anything `data.audio.load` reads) and a
microphone recording (`Microphone`, an anywidget: MediaRecorder in the browser, decoded there to 16 kHz
Float32 by `AudioContext.decodeAudioData`, because MediaRecorder's webm/opus is not readable by soundfile).
Bad input (too short for one frame, silence, an unreadable file, a denied microphone, a clip too long for
the page) shows one plain sentence on the page; nothing on the page ever shows a traceback.

Figures are rendered to PNG bytes and shown in `ipywidgets.Image`, so they work in any front end (Voilà,
JupyterLab, nbconvert) without a matplotlib backend.
"""

from __future__ import annotations

import functools
import html
import io
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anywidget
import ipywidgets as widgets
import numpy as np
import soundfile as sf
import torch
import traitlets
from matplotlib.figure import Figure

from w2v_lite.asr.alignment import WordSpan
from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.data import audio
from w2v_lite.errors import UsageError
from w2v_lite.lengths import output_lengths, receptive_field
from w2v_lite.model.ctc import Wav2Vec2ForCTC
from w2v_lite.teach.attention import attention_weights
from w2v_lite.teach.classroom_server import notebook_path, serve
from w2v_lite.teach.ctc_viz import Emissions, emission_figure
from w2v_lite.teach.explain import explain_rows
from w2v_lite.teach.figures import attention_maps_figure, frames_over_waveform_figure, masks_figure
from w2v_lite.teach.padding import mask_stages

__all__ = ["LIMITS", "MAX_SECONDS", "Analysis", "InputProblem", "Microphone", "analyse", "check_waveform",
           "notebook_path", "page", "read_upload", "serve"]

MAX_SECONDS = 20.0
"""Longest input the page analyses: the attention maps are T x T per head, and a class watches seconds,
not minutes (`w2v-lite transcribe` handles long recordings in windows)."""
SILENCE_PEAK = 1e-3
"""A clip whose loudest sample is below this (-60 dBFS) is treated as silence: nothing to recognise."""
RECORD_SECONDS = 3.0
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
LIMITS = (
    "What this recogniser can do: the bundled model (ctc-tiny, 0.4 M parameters, trained here on a CPU) knows "
    f"20 words, the digits ({', '.join(DIGITS)}) and {', '.join(COMMANDS)}, spoken by synthetic voices "
    "(espeak-ng). Other words, and real voices, come out as the nearest letters it knows: the shapes, masks "
    "and attention are exact, the text is a classroom toy."
)
# CSS classes the browser tests (and a curious teacher's devtools) look up
STATUS_CLASS = "w2v-classroom-status"
SUMMARY_CLASS = "w2v-classroom-summary"
TRANSCRIPT_CLASS = "w2v-classroom-transcript"
FIGURE_CLASS = "w2v-classroom-figure"
MIC_CLASS = "w2v-classroom-mic"


class InputProblem(UsageError):
    """An input the page cannot analyse; its message is one plain sentence for the page."""


# ------------------------------------------------------------------------------------------------- model


@functools.lru_cache(maxsize=1)
def recognizer() -> Recognizer:
    """The committed CTC model (ctc-tiny), loaded once per kernel."""
    return Recognizer.load()


def ctc_model() -> Wav2Vec2ForCTC:
    """The recogniser's model as the w2v_lite module it is (the attention hooks need its layers)."""
    model = recognizer().model
    if not isinstance(model, Wav2Vec2ForCTC):
        raise TypeError(f"the classroom page needs a w2v_lite Wav2Vec2ForCTC, got {type(model).__name__}")
    return model


@functools.lru_cache(maxsize=1)
def second_clip() -> tuple[torch.Tensor, str]:
    """The batch partner: the longest of the first 20 corpus test clips (so that a short input gets
    padded and a long one pads it), (L,) at 16 kHz, and its transcript."""
    items = audio.corpus_items("test")[:20]
    path, text = max(items, key=lambda item: sf.info(item[0]).frames)
    return audio.load(path), text


EXAMPLES = {
    f'embedded clip: "{audio.DEFAULT_CLIP_TRANSCRIPT}" (words the model does not know)': "default",
    "corpus clip: digits, a synthetic voice the model was tested on": "corpus",
}


def example(key: str) -> tuple[torch.Tensor, str]:
    """An example input by its `EXAMPLES` value: (L,) waveform and a name for the page."""
    if key == "default":
        return audio.load_default(), "the embedded clip"
    path, text = audio.corpus_items("test")[7]
    return audio.load(path), f'corpus clip "{text}"'


# ------------------------------------------------------------------------------------------------- input


def check_waveform(waveform: torch.Tensor, name: str, sampling_rate: int = audio.SAMPLING_RATE) -> torch.Tensor:
    """A clip the page can analyse, (L,) float32; otherwise `InputProblem` with one plain sentence."""
    x = torch.as_tensor(waveform).float().reshape(-1)
    config = recognizer().config
    window = receptive_field(config)[0]
    n = x.numel()
    if output_lengths(n, config) == 0:
        raise InputProblem(f"{name} is too short: it has {n} samples ({1000 * n / sampling_rate:.0f} ms), and one "
                           f"frame needs {window} samples ({1000 * window / sampling_rate:g} ms), so the model "
                           "would see no frames at all. Record or upload at least half a second.")
    if not bool(torch.isfinite(x).all()):
        raise InputProblem(f"{name} contains samples that are not numbers (NaN or infinity); re-export it as WAV.")
    if n > MAX_SECONDS * sampling_rate:
        raise InputProblem(f"{name} lasts {n / sampling_rate:.1f} s; this page shows clips up to {MAX_SECONDS:g} s "
                           "(use `w2v-lite transcribe FILE` for long recordings).")
    peak = float(x.abs().max())
    if peak < SILENCE_PEAK:
        raise InputProblem(f"{name} is silent (its loudest sample is {peak:.1e}, below {SILENCE_PEAK:g}): there is "
                           "nothing to recognise. Check the microphone, speak closer, or pick another file.")
    return x


def read_upload(filename: str, content: bytes) -> torch.Tensor:
    """The bytes of an uploaded file -> (L,) float32 at 16 kHz, through `data.audio.load` (so the same
    formats as the command line: WAV, FLAC, OGG, any rate, mono or stereo). `InputProblem` if unreadable."""
    suffix = Path(filename).suffix.lower()[:8] or ".wav"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(content)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a cut-short WAV still gives samples; the page shows them
                return audio.load(path)
        except (audio.AudioError, OSError, ValueError):
            raise InputProblem(f'"{filename}" could not be read as audio: upload a WAV, FLAC or OGG file '
                               "(convert other formats with `ffmpeg -i in.mp3 out.wav`).") from None


def samples_from_browser(data: bytes) -> torch.Tensor:
    """Little-endian Float32 samples sent by `Microphone` -> (L,) float32 tensor."""
    if len(data) % 4:
        raise InputProblem("The recording arrived incomplete; record again.")
    return torch.from_numpy(np.frombuffer(data, dtype="<f4").copy())


# ---------------------------------------------------------------------------------------------- analysis


@dataclass
class Analysis:
    """Everything the page shows for one input."""

    name: str
    num_samples: int
    num_frames: int  # T of the model's output (= CTC path length)
    formula: str  # T by the formula, with the numbers filled in
    table: list[tuple[str, str, str]]  # (stage, shape, why), each shape measured by a forward pass
    text: str  # greedy transcript
    words: list[WordSpan]
    path: list[int]  # (T,) argmax ids
    figures: dict[str, bytes] = field(default_factory=dict)  # "frames", "batch", "attention", "ctc" -> PNG


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """A Figure as PNG bytes (80 dpi: sharp on a 1280 x 720 projector, small over the websocket)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _recognise(clip: torch.Tensor) -> tuple[torch.Tensor, list[int], str, list[WordSpan]]:
    """(L,) -> log-probs (T, V), frame path, text, words with times (frame starts, hop = 20 ms), all from
    the `Recognizer` (its preprocessing, decoder and word-time convention)."""
    rec = recognizer()
    logits = rec.emissions(clip)
    transcript = rec.decode(logits, clip.numel())
    path = [step.token_id for step in transcript.frames]
    return torch.log_softmax(logits.float(), -1), path, transcript.text, transcript.words


@torch.no_grad()
def analyse(waveform: torch.Tensor, name: str,
            on_progress: Callable[[Analysis, str], None] | None = None) -> Analysis:
    """Run one clip (L,) through the committed CTC model and draw every figure of the page.

    Cheapest first, so a page can show something while the rest is drawn: the shape table and the frames
    figure, then the transcript, then the padded batch, the attention maps and the CTC path. After each step
    `on_progress(result_so_far, step)` is called, step in "frames", "transcript", "batch", "attention",
    "ctc" (the figure keys, plus "transcript"; the frames step also brings the table and the formula).
    """
    clip = check_waveform(waveform, name)
    rec = recognizer()
    model = ctc_model()
    cfg = model.config
    n = clip.numel()
    window, hop = receptive_field(cfg)
    frames = output_lengths(n, cfg)
    table = explain_rows(model.wav2vec2, audio.normalize(clip[None])[0])
    formula = f"T = floor((L - {window}) / {hop}) + 1 = floor(({n} - {window}) / {hop}) + 1 = {frames}"
    result = Analysis(name, n, frames, formula, table, "", [], [])

    def step(key: str) -> None:
        if on_progress is not None:
            on_progress(result, key)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # layout warnings of tiny clips are not the class's business
        result.figures["frames"] = figure_png(frames_over_waveform_figure(clip, cfg, count=min(4, frames)))
        step("frames")
        log_probs, path, text, words = _recognise(clip)
        if len(path) != frames:
            raise AssertionError(f"model gave {len(path)} frames, the formula {frames}")
        result.text, result.words, result.path = text, words, path
        step("transcript")
        partner, partner_text = second_clip()
        batch = audio.pad_batch([clip, partner])
        result.figures["batch"] = figure_png(masks_figure(mask_stages(batch.sample_lengths.tolist(), cfg)))
        step("batch")
        x = audio.normalize(batch.input_values, batch.sample_lengths)
        weights = attention_weights(model, x, batch.sample_lengths)  # (layers, B, heads, T, T)
        frame_lengths = output_lengths(batch.sample_lengths, cfg).tolist()
        labels = [name[:28], f'"{partner_text}"']
        last = weights.shape[0] - 1
        result.figures["attention"] = figure_png(attention_maps_figure(weights[last], frame_lengths, labels,
                                                                       layer=last))
        step("attention")
        tokens = [rec.tokenizer.id_to_token[i] for i in range(rec.tokenizer.vocab_size)]
        em = Emissions(clip, log_probs, path, text, tokens, window, hop, cfg.sampling_rate)
        result.figures["ctc"] = figure_png(emission_figure(em))
        step("ctc")
    return result


def table_html(rows: list[tuple[str, str, str]]) -> str:
    """The shape table as an HTML table (stage, shape, why)."""
    cells = "".join(f"<tr><td>{html.escape(a)}</td><td><code>{html.escape(b)}</code></td>"
                    f"<td>{html.escape(c)}</td></tr>" for a, b, c in rows)
    return ('<table style="font-size:15px;border-collapse:collapse" cellpadding="4">'
            "<tr><th align=left>stage</th><th align=left>shape</th><th align=left>why</th></tr>"
            f"{cells}</table>")


def transcript_html(result: Analysis) -> str:
    """The transcript, then every word with its time span (seconds, from frame starts) on one line."""
    words = " &nbsp; ".join(f"<b>{html.escape(w.word)}</b> {w.start:.2f}-{w.end:.2f} s" for w in result.words)
    text = html.escape(result.text) if result.text else "<i>(nothing: every frame chose blank)</i>"
    return (f'<div style="font-size:20px">transcript: <b>"{text}"</b></div>'
            f'<div style="font-size:16px;margin:6px 0">{words}</div>'
            '<div style="font-size:14px;color:#444">a word runs from the start of its first frame to the start of '
            "the frame after its last one (frames start every 20 ms)</div>")


# ------------------------------------------------------------------------------------------- microphone

_MIC_ESM = r"""
function render({ model, el }) {
  const button = document.createElement("button");
  const seconds = () => model.get("seconds");
  const idle = () => {
    button.textContent = `\u25CF record ${seconds()} s from the microphone`;
    button.disabled = false;
  };
  button.className = "w2v-mic-button";
  button.style.fontSize = "16px";
  idle();
  const report = (message) => {
    model.set("error", message);
    model.set("count", model.get("count") + 1);
    model.save_changes();
    idle();
  };
  button.addEventListener("click", async () => {
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      report("This browser cannot record here (no MediaRecorder): open the page on http://127.0.0.1 in a " +
             "recent browser, or upload a file.");
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) {
      report(`The browser did not give the page a microphone (${err.name}): allow the microphone for this ` +
             "page, or upload a file instead.");
      return;
    }
    button.disabled = true;
    button.textContent = `recording ${seconds()} s ...`;
    const chunks = [];
    const recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
    recorder.onstop = async () => {
      stream.getTracks().forEach((t) => t.stop());
      try {
        const buffer = await new Blob(chunks, { type: recorder.mimeType }).arrayBuffer();
        const context = new AudioContext({ sampleRate: 16000 });
        const decoded = await context.decodeAudioData(buffer);
        context.close();
        const samples = decoded.getChannelData(0);  // 16 kHz Float32, resampled by the browser
        model.set("samples", new DataView(samples.buffer.slice(0)));
        model.set("error", "");
        model.set("count", model.get("count") + 1);
        model.save_changes();
        idle();
      } catch (err) {
        report(`The recording could not be decoded (${err.name}); record again, or upload a file.`);
      }
    };
    recorder.start();
    setTimeout(() => recorder.stop(), seconds() * 1000);
  });
  el.appendChild(button);
}
export default { render };
"""


def _bytes_from_json(value: object, _widget: object) -> bytes:
    """ipywidgets hands binary buffers over as memoryview, which traitlets.Bytes refuses: copy to bytes."""
    return bytes(value) if value is not None else b""  # type: ignore[call-overload]


class Microphone(anywidget.AnyWidget):
    """A button that records `seconds` of microphone audio in the browser and sends it as 16 kHz Float32
    samples (`samples`, little-endian bytes). Each recording or failure increments `count`; a failure sets
    `error` to one plain sentence (e.g. a denied microphone) instead of sending samples."""

    _esm = _MIC_ESM
    samples = traitlets.Bytes(b"").tag(sync=True, from_json=_bytes_from_json)
    error = traitlets.Unicode("").tag(sync=True)
    count = traitlets.Int(0).tag(sync=True)
    seconds = traitlets.Float(RECORD_SECONDS).tag(sync=True)


# ------------------------------------------------------------------------------------------------ page


class ClassroomPage:
    """The page's widgets and what happens when an input arrives."""

    def __init__(self) -> None:
        style = {"description_width": "initial"}
        big = widgets.Layout(width="auto")
        self.examples = widgets.Dropdown(options=list(EXAMPLES.items()), value="default", description="example",
                                         style=style, layout=widgets.Layout(width="640px"))
        self.use_example = widgets.Button(description="analyse the example", layout=big)
        self.upload = widgets.FileUpload(accept=".wav,.flac,.ogg,audio/*", multiple=False,
                                         description="upload an audio file", layout=big)
        self.mic = Microphone()
        self.mic.add_class(MIC_CLASS)
        self.status = widgets.HTML()
        self.status.add_class(STATUS_CLASS)
        self.summary = widgets.HTML()
        self.summary.add_class(SUMMARY_CLASS)
        self.transcript = widgets.HTML()
        self.transcript.add_class(TRANSCRIPT_CLASS)
        limits = widgets.HTML(f'<div style="font-size:14px;border-left:4px solid #E69F00;padding:4px 10px;'
                              f'max-width:520px">{html.escape(LIMITS)}</div>')
        self.table = widgets.HTML()
        self.images = {key: widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
                       for key in ("frames", "batch", "attention", "ctc")}
        for key, image in self.images.items():
            image.add_class(FIGURE_CLASS)
            image.add_class(f"{FIGURE_CLASS}-{key}")

        def heading(text: str) -> widgets.HTML:
            return widgets.HTML(f"<h3 style='margin:14px 0 4px'>{html.escape(text)}</h3>")

        self.use_example.on_click(lambda _button: self.show_example())
        self.upload.observe(self._on_upload, names="value")
        self.mic.observe(self._on_recording, names="count")
        self.widget = widgets.VBox([
            widgets.HTML("<h2 style='margin:4px 0'>w2v-lite classroom: a voice becomes T frames</h2>"),
            widgets.HBox([self.examples, self.use_example]),
            widgets.HBox([self.upload, self.mic]),
            self.status, self.summary,
            heading("What the model heard"), widgets.HBox([self.transcript, limits]),
            heading("The CTC path: one class per 20 ms frame"), self.images["ctc"],
            heading("Samples to frames, stride by stride"), self.table, self.images["frames"],
            heading("In a batch: padded with a second clip, and its masks"), self.images["batch"],
            heading("Attention of the committed model (last layer)"), self.images["attention"],
        ])

    def say(self, sentence: str, problem: bool = False) -> None:
        """One plain sentence in the status line (orange-bordered when it is a problem)."""
        colour = "#D55E00" if problem else "#009E73"
        self.status.value = (f'<div style="font-size:16px;border-left:4px solid {colour};padding:4px 10px">'
                             f"{html.escape(sentence)}</div>")

    def show(self, waveform: torch.Tensor, name: str) -> Analysis | None:
        """Analyse one input and redraw the page; a problem becomes one sentence, never a traceback."""
        self.say(f"analysing {name} ...")
        try:
            result = analyse(waveform, name, on_progress=self._progress)
        except InputProblem as problem:
            self.say(str(problem), problem=True)
            return None
        except Exception as err:  # the page must never show a traceback; say what kind of failure it was
            self.say(f"{name} could not be analysed ({type(err).__name__}: {str(err)[:160]}); try another clip.",
                     problem=True)
            return None
        self.say(f"done: {name} gave {result.num_frames} frames.")
        return result

    def _progress(self, result: Analysis, step: str) -> None:
        """Put each part on the page as soon as `analyse` has it (the frames figure and table come first)."""
        if step == "frames":
            self.summary.value = (f'<div style="font-size:18px">{html.escape(result.name)}: {result.num_samples} '
                                  f"samples ({result.num_samples / audio.SAMPLING_RATE:.2f} s) &rarr; <b>T = "
                                  f"{result.num_frames} frames</b></div><div style='font-size:15px'><code>"
                                  f"{html.escape(result.formula)}</code></div>")
            self.table.value = table_html(result.table)
        if step == "transcript":
            self.transcript.value = transcript_html(result)
        if step in self.images:
            self.images[step].value = result.figures[step]

    def show_example(self) -> Analysis | None:
        waveform, name = example(self.examples.value)
        return self.show(waveform, name)

    def _on_upload(self, change: dict) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0]
        name = f'"{item["name"]}"'
        try:
            waveform = read_upload(item["name"], bytes(item["content"]))
        except InputProblem as problem:
            self.say(str(problem), problem=True)
            return
        self.show(waveform, f"the uploaded file {name}")

    def _on_recording(self, _change: dict) -> None:
        if self.mic.error:
            self.say(self.mic.error, problem=True)
            return
        try:
            waveform = samples_from_browser(self.mic.samples)
        except InputProblem as problem:
            self.say(str(problem), problem=True)
            return
        self.show(waveform, "the microphone recording")


def page(start_with_example: bool = True) -> widgets.VBox:
    """The classroom page as one widget (what classroom.ipynb displays); shows the embedded clip first."""
    classroom = ClassroomPage()
    if start_with_example:
        classroom.show_example()
    return classroom.widget
