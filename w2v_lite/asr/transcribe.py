"""Speech to text and word times from files: the `w2v-lite transcribe` and `w2v-lite align` commands.

    file (any rate, mono or stereo) -> audio.load (at the model's rate, mono) -> preprocessing of the
      checkpoint -> Wav2Vec2ForCTC (in windows above 40 s) -> logits (T, V) -> per-frame argmax (the greedy
      path) -> collapse repeats, drop blanks -> text;  path -> words with [start, end) times

Frame t of the path covers samples ``[t * hop, t * hop + window)`` with (window, hop) =
`lengths.receptive_field(config)` (400 and 320 samples for the wav2vec 2.0 conv stack), at the model's own
`config.sampling_rate`: files are resampled to that rate, so a frame is 20 ms at 16 kHz and 40 ms for a
checkpoint trained at 8 kHz. Times follow from the config rather than a constant.

Many files: a model that ignores padding (layer norm with a mask, or the mask-aware GroupNorm) gets
length-sorted padded batches, which is faster (benchmarks/README.md); any other model (a published
group-norm base checkpoint) gets one file at a time, so a file's text never depends on the others. A file
that can't be read gives an error for that file, and the rest are still transcribed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf
import torch
from tqdm import tqdm

from w2v_lite.asr.alignment import WordSpan, align, word_spans
from w2v_lite.asr.decoding import (
    CHUNK_ABOVE_SECONDS,
    MIN_CHUNK_SECONDS,
    batch_emissions,
    best_path,
    check_clip,
    emissions,
)
from w2v_lite.asr.pretrained import Recognizer, load_recognizer
from w2v_lite.data.audio import load
from w2v_lite.data.tokenizer import CharTokenizer
from w2v_lite.lengths import receptive_field
from w2v_lite.model.ctc import Wav2Vec2ForCTC

__all__ = ["DEFAULT_MODEL_DIR", "FrameStep", "Transcript", "add_align_parser", "add_transcribe_parser",
           "format_frames", "format_words", "transcribe"]

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "checkpoints" / "ctc-tiny"
BATCH_SECONDS = 60.0  # padded audio per batch (B x longest clip), for models that ignore padding


@dataclass
class FrameStep:
    """One frame of the greedy path: its index, time span in ms and argmax token ("<pad>" = blank)."""

    frame: int
    start_ms: float
    end_ms: float
    token: str
    token_id: int


@dataclass
class Transcript:
    """What `transcribe` returns per file: the text, the words with times, and the greedy path when asked
    for (`frames=True`). A file that failed (with ``on_error="keep"``) has `error` set and no text."""

    path: str
    text: str
    num_samples: int  # at the model's sampling rate, after resampling
    num_frames: int
    frames: list[FrameStep] | None = field(default=None, repr=False)
    words: list[WordSpan] = field(default_factory=list, repr=False)
    error: str | None = None

    def as_dict(self) -> dict:
        """The --json form: {"file", "text", "words": [{"word", "start", "end"}]} (times in seconds)."""
        if self.error is not None:
            return {"file": self.path, "error": self.error}
        return {"file": self.path, "text": self.text, "words": [w.as_dict() for w in self.words]}


def frame_steps(path: Sequence[int], tokenizer: CharTokenizer, model: Wav2Vec2ForCTC) -> list[FrameStep]:
    """Greedy path (T ids) -> T `FrameStep`s with times from the receptive field (window, hop)."""
    window, hop = receptive_field(model.config)
    ms = 1000 / model.config.sampling_rate
    return [FrameStep(t, t * hop * ms, (t * hop + window) * ms, tokenizer.id_to_token[i], i)
            for t, i in enumerate(path)]


def _hop_seconds(model: Wav2Vec2ForCTC) -> float:
    return receptive_field(model.config)[1] / model.config.sampling_rate


def _ignores_padding(recognizer: Recognizer) -> bool:
    cfg = recognizer.model.config
    return recognizer.preprocessing.return_attention_mask and cfg.ignores_padding


def _duration(path: Path) -> float:
    """Seconds of audio in a file, from its header (0 when unreadable: `load` then reports why)."""
    try:
        info = sf.info(path)
        return info.frames / info.samplerate
    except (sf.SoundFileError, RuntimeError, OSError):
        return 0.0


def _batches(paths: list[Path], batched: bool, chunk_seconds: float | None) -> Iterator[list[int]]:
    """Indices of `paths` in the order to run them: length-sorted groups whose padded size stays under
    BATCH_SECONDS, or one at a time."""
    durations = [_duration(p) for p in paths]
    if not batched or chunk_seconds is not None:
        yield from ([i] for i in range(len(paths)))
        return
    order = sorted(range(len(paths)), key=lambda i: durations[i])
    group: list[int] = []
    for i in order:
        if durations[i] == 0.0 or durations[i] > CHUNK_ABOVE_SECONDS:  # unreadable, or chunked alone
            yield [i]
            continue
        if group and durations[i] * (len(group) + 1) > BATCH_SECONDS:
            yield group
            group = []
        group.append(i)
    if group:
        yield group


def transcribe(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    model_dir: str | os.PathLike[str] = DEFAULT_MODEL_DIR,
    frames: bool = False,
    chunk_seconds: float | None = None,
    batched: bool = True,
    on_error: str = "raise",
    progress: bool = False,
    fast: bool = False,
) -> list[Transcript]:
    """Audio files -> one `Transcript` per file, in the given order (text, words with times; plus the
    per-frame path with `frames=True`).

    `model_dir` is a checkpoint folder (ours or transformers', see `asr.pretrained`) or a Hub id. Files may
    have any sample rate and channel count; clips above 40 s are encoded in windows (`chunk_seconds`
    forces windows of that length). `batched=False` runs one file at a time. A file that is missing,
    unreadable or shorter than one frame raises ValueError / FileNotFoundError naming it, or with
    ``on_error="keep"`` gives a `Transcript` whose `error` says why. Waveform tensors are not accepted
    (TypeError): pass them to `asr.decoding.emissions` instead. `fast=True` runs int8 Linear layers
    (`optimize_for_inference`).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if isinstance(paths, torch.Tensor) or any(isinstance(p, torch.Tensor) for p in paths):
        raise TypeError("transcribe takes audio file paths, not a waveform tensor; for a tensor use "
                        "w2v_lite.asr.decoding.recognize(model, tokenizer, waveform) or emissions(...)")
    if on_error not in ("raise", "keep"):
        raise ValueError(f"on_error must be 'raise' or 'keep', got {on_error!r}")
    files = [Path(p) for p in paths]
    if not files:
        raise ValueError("no audio files given; pass at least one path")
    recognizer = load_recognizer(model_dir)
    if fast:  # int8 Linear layers: faster, outputs move slightly (see w2v_lite.model.fast)
        recognizer.model = recognizer.model.optimize_for_inference(quantize="int8")
    model, tokenizer = recognizer.model, recognizer.tokenizer
    rate = model.config.sampling_rate
    results: list[Transcript | None] = [None] * len(files)
    bar = tqdm(total=len(files), desc="transcribe", unit="file", disable=not progress, file=sys.stderr)
    for group in _batches(files, batched and _ignores_padding(recognizer), chunk_seconds):
        waves = {}
        for i in group:
            try:
                waves[i] = load(files[i], sampling_rate=rate)
                if len(group) > 1:  # checked here so that one bad clip does not sink its batch
                    check_clip(waves[i], model)
            except (ValueError, OSError) as err:
                if on_error == "raise":
                    raise err if str(files[i]) in str(err) else type(err)(f"{files[i]}: {err}") from err
                results[i] = Transcript(str(files[i]), "", 0, 0, error=str(err))
                waves.pop(i, None)
        try:
            if len(waves) > 1:
                logits = dict(zip(waves, batch_emissions(recognizer, list(waves.values())), strict=True))
            else:
                logits = {i: emissions(recognizer, w, chunk_seconds) for i, w in waves.items()}
        except ValueError as err:
            (i,) = waves  # a batch was pre-checked; only a single clip can fail here
            if on_error == "raise":
                raise ValueError(f"{files[i]}: {err}") from err
            results[i] = Transcript(str(files[i]), "", int(waves[i].numel()), 0, error=str(err))
            logits = {}
        for i, lg in logits.items():
            path_ids = best_path(lg[None])[0]
            steps = frame_steps(path_ids, tokenizer, model) if frames else None
            results[i] = Transcript(str(files[i]), tokenizer.decode(path_ids), int(waves[i].numel()),
                                    len(path_ids), steps, word_spans(path_ids, tokenizer, _hop_seconds(model)))
        bar.update(len(group))
    bar.close()
    return results  # type: ignore[return-value]


def format_frames(steps: Sequence[FrameStep], blank: str = "_") -> str:
    """A text table of the greedy path: one line per frame, "frame  start ms  end ms  token" (blank as _)."""
    lines = [f"{'frame':>5}  {'start ms':>8}  {'end ms':>7}  token"]
    for s in steps:
        token = blank if s.token_id == 0 else s.token
        lines.append(f"{s.frame:>5}  {s.start_ms:>8.0f}  {s.end_ms:>7.0f}  {token}")
    return "\n".join(lines)


def format_words(words: Sequence[WordSpan]) -> str:
    """One line per word: "start s  end s  word" with times to the ms."""
    lines = [f"{'start s':>8}  {'end s':>7}  word"]
    lines += [f"{w.start:>8.3f}  {w.end:>7.3f}  {w.word}" for w in words]
    return "\n".join(lines)


def _naming(path: str, error: str) -> str:
    """The error, prefixed with the file it is about unless it already names it."""
    return error if path in error else f"{path}: {error}"


def _run(args: argparse.Namespace) -> int:
    total = sum(_duration(Path(f)) for f in args.files)
    results = transcribe(args.files, args.model, frames=args.frames, chunk_seconds=args.chunk_seconds, fast=args.fast,
                         on_error="keep", progress=len(args.files) > 4 or total > 60)
    for result in results:
        if result.error is not None:
            print(f"error: {_naming(result.path, result.error)}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(result.as_dict(), ensure_ascii=False))
            continue
        print(f"{result.path}\t{result.text}")
        if args.timestamps:
            print(format_words(result.words))
        if result.frames is not None:  # asked for with --frames
            print(format_frames(result.frames))
    failed = sum(r.error is not None for r in results)
    if failed > 1:  # each bad file already has its own error line; say how many when there were several
        print(f"error: {failed} of {len(results)} files could not be transcribed (see the lines above)",
              file=sys.stderr)
    return 2 if failed else 0


def _model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL_DIR,
                   help="checkpoint folder (ours, or transformers' save_pretrained of a CTC model and its "
                        "processor) or a Hub id (needs huggingface_hub); default: the committed ctc-tiny")


def add_transcribe_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `transcribe FILE... [--model DIR] [--frames] [--timestamps] [--json] [--chunk-seconds S]`
    on a subparsers object (sets `func`)."""
    p = subparsers.add_parser("transcribe", help="speech to text with a fine-tuned CTC checkpoint",
                              description="Transcribe audio files with a CTC checkpoint (greedy decoding).",
                              epilog="example:\n  w2v-lite transcribe speech.wav --timestamps\n"
                                     "  w2v-lite transcribe a.wav b.flac --json --model ./wav2vec2-base-960h",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files: WAV/FLAC/OGG, any rate, mono or stereo")
    _model_arg(p)
    p.add_argument("--frames", action="store_true", help="also print the per-frame argmax path with times in ms")
    p.add_argument("--timestamps", action="store_true", help="also print each word's start and end in seconds")
    p.add_argument("--json", action="store_true",
                   help='one JSON object per file: {"file", "text", "words": [{"word", "start", "end"}]}')
    p.add_argument("--chunk-seconds", type=_chunk_seconds, default=None, metavar="S",
                   help=f"encode in overlapping windows of S seconds (default: only clips over "
                        f"{CHUNK_ABOVE_SECONDS:g} s, in 20 s windows)")
    p.add_argument("--fast", action="store_true",
                   help="int8 Linear layers (model.optimize_for_inference): faster, text may rarely differ")
    p.set_defaults(func=_run)
    return p


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _chunk_seconds(text: str) -> float:
    value = _positive(text)
    if value < MIN_CHUNK_SECONDS:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_CHUNK_SECONDS:g} s (each window needs context; "
                                         f"the default is 20 s), got {text}")
    return value


def _run_align(args: argparse.Namespace) -> None:
    recognizer = load_recognizer(args.model)
    wave = load(args.file, sampling_rate=recognizer.model.config.sampling_rate)
    try:
        result = align(recognizer, wave, args.transcript)
    except ValueError as err:
        raise ValueError(f"{args.file}: {err}") from err
    if args.json:
        print(json.dumps({"file": str(args.file), "text": " ".join(args.transcript.split()),
                          "words": [w.as_dict() for w in result.words]}, ensure_ascii=False))
        return
    print(f"{args.file}\t{' '.join(args.transcript.split())}")
    print(format_words(result.words))


def add_align_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `align FILE "transcript" [--model DIR] [--json]` (forced alignment; sets `func`)."""
    p = subparsers.add_parser("align", help="when was each word of a known transcript said",
                              description="Forced alignment: the best CTC path that spells the transcript "
                                          "(Viterbi), printed as word start and end times.",
                              epilog='example:\n  w2v-lite align speech.wav "four seven two" --json',
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE", help="one audio file: WAV/FLAC/OGG, any rate, mono or stereo")
    p.add_argument("transcript", help="what the audio says, in quotes")
    _model_arg(p)
    p.add_argument("--json", action="store_true", help='one JSON object: {"file", "text", "words": [...]}')
    p.set_defaults(func=_run_align)
    return p
