"""Speech to text with a fine-tuned CTC checkpoint: `python -m w2v_lite transcribe FILE... --model DIR`.

    file (any rate, mono or stereo) -> audio.load (16 kHz mono) -> normalize -> Wav2Vec2ForCTC
      -> logits (1, T, V) -> per-frame argmax (the greedy path) -> collapse repeats, drop blanks -> text

Frame t of the path covers samples ``[t * hop, t * hop + window)`` with (window, hop) =
`lengths.receptive_field(config)` (400 and 320 samples for the wav2vec 2.0 conv stack, i.e. 25 ms
windows every 20 ms at 16 kHz), so timestamps follow from the config rather than a constant.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from w2v_lite.asr.decoding import load_for_inference, recognize
from w2v_lite.data.audio import load
from w2v_lite.data.tokenizer import CharTokenizer
from w2v_lite.lengths import receptive_field
from w2v_lite.model.ctc import Wav2Vec2ForCTC

__all__ = ["DEFAULT_MODEL_DIR", "FrameStep", "Transcript", "add_transcribe_parser", "format_frames", "transcribe"]

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "checkpoints" / "ctc-tiny"


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
    """What `transcribe` returns per file: the text, and the greedy path when asked for (`frames=True`)."""

    path: str
    text: str
    num_samples: int  # at 16 kHz, after resampling
    num_frames: int
    frames: list[FrameStep] | None = field(default=None, repr=False)


def frame_steps(path: Sequence[int], tokenizer: CharTokenizer, model: Wav2Vec2ForCTC) -> list[FrameStep]:
    """Greedy path (T ids) -> T `FrameStep`s with times from the receptive field (window, hop)."""
    window, hop = receptive_field(model.config)
    ms = 1000 / model.config.sampling_rate
    return [FrameStep(t, t * hop * ms, (t * hop + window) * ms, tokenizer.id_to_token[i], i)
            for t, i in enumerate(path)]


def transcribe(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    model_dir: str | os.PathLike[str] = DEFAULT_MODEL_DIR,
    frames: bool = False,
    fast: bool = False,
) -> list[Transcript]:
    """Audio files -> one `Transcript` per file (text; plus the per-frame path with `frames=True`).

    `model_dir` holds config.json, model.safetensors and vocab.json (a folder without vocab.json raises
    ValueError). Files may have any sample rate and channel count. A file shorter than one frame raises
    ValueError naming it. `fast=True` runs int8 Linear layers (`optimize_for_inference`).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise ValueError("no audio files given; pass at least one path")
    model, tokenizer = load_for_inference(Path(model_dir))
    if fast:  # int8 Linear layers: faster, outputs move slightly (see w2v_lite.model.fast)
        model = model.optimize_for_inference(quantize="int8")
    results = []
    for path in paths:
        wave = load(path)
        try:
            text, path_ids, _ = recognize(model, tokenizer, wave)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err
        steps = frame_steps(path_ids, tokenizer, model) if frames else None
        results.append(Transcript(str(path), text, int(wave.numel()), len(path_ids), steps))
    return results


def format_frames(steps: Sequence[FrameStep], blank: str = "_") -> str:
    """A text table of the greedy path: one line per frame, "frame  start ms  end ms  token" (blank as _)."""
    lines = [f"{'frame':>5}  {'start ms':>8}  {'end ms':>7}  token"]
    for s in steps:
        token = blank if s.token_id == 0 else s.token
        lines.append(f"{s.frame:>5}  {s.start_ms:>8.0f}  {s.end_ms:>7.0f}  {token}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> None:
    for result in transcribe(args.files, args.model, frames=args.frames, fast=args.fast):
        print(f"{result.path}\t{result.text}")
        if result.frames is not None:  # asked for with --frames
            print(format_frames(result.frames))


def add_transcribe_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `transcribe FILE... --model DIR [--frames]` on a subparsers object (sets `func`)."""
    p = subparsers.add_parser("transcribe", help="speech to text with a fine-tuned CTC checkpoint",
                              description="Transcribe audio files with a CTC checkpoint (greedy decoding).",
                              epilog="example:\n  w2v-lite transcribe speech.wav --frames",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files: WAV/FLAC/OGG, any rate, mono or stereo")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR,
                   help="checkpoint folder with config.json, model.safetensors, vocab.json "
                        "(default: the committed ctc-tiny)")
    p.add_argument("--frames", action="store_true", help="also print the per-frame argmax path with times in ms")
    p.add_argument("--fast", action="store_true",
                   help="int8 Linear layers (model.optimize_for_inference): faster, text may rarely differ")
    p.set_defaults(func=_run)
    return p
