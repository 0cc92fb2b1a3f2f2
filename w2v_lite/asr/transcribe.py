"""The file commands `w2v-lite transcribe` and `w2v-lite align`: thin loops over a `Recognizer`.

    transcribe FILE...  -> Recognizer.load(--model).transcribe(files, on_error="keep") -> one line per file
                           (text; --timestamps words; --frames the frame path; --json one object per file)
    align FILE "TEXT"   -> Recognizer.load(--model).align(file, text) -> the words with start and end times

A file that can't be read gives an `error:` line for that file, the rest are still transcribed, and the
exit code is 2. Everything else (loading, preprocessing, windows, batching, decoding) is the Recognizer's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from w2v_lite.asr.alignment import WordSpan
from w2v_lite.asr.chunking import CHUNK_ABOVE_SECONDS, CHUNK_SECONDS, MIN_CHUNK_SECONDS
from w2v_lite.asr.decoding import Lexicon, beam_decoder
from w2v_lite.asr.pretrained import DEFAULT_MODEL_DIR
from w2v_lite.asr.recognizer import FrameStep, Recognizer, Transcript

__all__ = ["BUNDLED_NOTE", "DEFAULT_MODEL_DIR", "add_align_parser", "add_transcribe_parser", "format_frames",
           "format_words", "is_bundled", "model_words", "read_words", "with_beam"]

WORDS_FILE = "words.txt"  # a checkpoint's own word list (one word a line): beam search keeps to it by default
BUNDLED_NOTE = (
    "note: the bundled ctc-tiny model knows 20 words (zero to nine; yes no up down left right on off stop go) "
    "said by synthetic voices (speech synthesisers), not people. For real speech pass --model with a fine-tuned "
    "CTC checkpoint: a save_pretrained folder or a Hub id such as facebook/wav2vec2-base-960h. "
    "(--quiet hides this note)")


def is_bundled(model_dir: str | os.PathLike[str]) -> bool:
    """True for the committed ctc-tiny checkpoint (the default --model)."""
    path = Path(model_dir)
    return path.is_dir() and path.resolve() == DEFAULT_MODEL_DIR.resolve()


def model_words(model_dir: str | os.PathLike[str]) -> list[str] | None:
    """The word list a checkpoint folder ships (`words.txt`), or None (Hub ids and transformers' folders)."""
    table = Path(model_dir) / WORDS_FILE
    return table.read_text(encoding="utf-8").split() if table.is_file() else None


def read_words(spec: str) -> list[str]:
    """--words FILE|LIST -> words: a file's whitespace-separated words, else a comma- or space-separated list."""
    path = Path(spec)
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"--words {spec}: the word list is not UTF-8 text; save it as UTF-8") from None
    elif "/" in spec or os.sep in spec or path.suffix:  # meant as a file: say so, not "odd characters"
        raise ValueError(f"--words {spec}: no such file (or it is a folder); pass a word list file with one "
                         'word a line, or the words themselves: "two,three"')
    else:
        text = spec.replace(",", " ")
    words = text.split()
    if not words:
        raise ValueError(f"--words {spec!r} gives no words; pass a file with one word a line or \"two,three\"")
    return words


def with_beam(recognizer: Recognizer, beam: int = 1, words: Sequence[str] | None = None) -> Recognizer:
    """The recognizer decoding by prefix beam search with `beam` prefixes, kept to `words` if given (a word
    list also searches with beam 1); beam 1 without words leaves it greedy. Text, word times and frames then
    follow the best hypothesis' frame path."""
    if beam == 1 and words is None:
        return recognizer
    lexicon = Lexicon(words, recognizer.tokenizer) if words is not None else None
    return recognizer.with_decoder(beam_decoder(recognizer.tokenizer, beam, lexicon))


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


def _naming(path: str | None, error: str) -> str:
    """The error, prefixed with the file it is about unless it already names it (a name that is not UTF-8
    shown with escapes, as it could not be printed otherwise)."""
    if path is None:
        return error
    shown = os.fsencode(path).decode("utf-8", "backslashreplace")
    return error if path in error or shown in error else f"{shown}: {error}"


def _print(result: Transcript, args: argparse.Namespace) -> None:
    """One file's output: an `error:` line on stderr, or its JSON object, or its text [+ words, frames]."""
    if result.error is not None:
        print(f"error: {_naming(result.path, result.error)}", file=sys.stderr)
    elif args.json:
        print(json.dumps(result.as_dict(frames=args.frames), ensure_ascii=False))
    else:
        print(f"{result.path}\t{result.text}")
        if args.timestamps:
            print(format_words(result.words))
        if args.frames:
            print(format_frames(result.frames))


def _note(args: argparse.Namespace) -> None:
    """The bundled model's limits, once on stderr after a successful run, unless --quiet. (After the output,
    and not when something failed: a bad input still gets exactly one `error:` line.)"""
    if not args.quiet and is_bundled(args.model):
        print(BUNDLED_NOTE, file=sys.stderr)


def _decoder_words(args: argparse.Namespace) -> list[str] | None:
    """--words, else (with --beam 2 or more) the model's own word list, unless --no-words."""
    if args.no_words and args.words is not None:
        raise ValueError("--words and --no-words contradict each other; give one")
    if args.words is not None:
        return read_words(args.words)
    if args.beam > 1 and not args.no_words:
        return model_words(args.model)
    return None


def _run(args: argparse.Namespace) -> int:
    words = _decoder_words(args)
    recognizer = with_beam(Recognizer.load(args.model, fast=args.fast, backend=args.backend), args.beam, words)
    results = recognizer.transcribe(args.files, chunk_seconds=args.chunk_seconds, on_error="keep", progress=None)
    for result in results:
        _print(result, args)
    failed = sum(r.error is not None for r in results)
    if failed > 1:  # each bad file already has its own error line; say how many when there were several
        print(f"error: {failed} of {len(results)} files could not be transcribed (see the lines above)",
              file=sys.stderr)
    if not failed:
        _note(args)
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
                   help='one JSON object per file: {"file", "text", "words": [{"word", "start", "end"}]}, '
                        'with --frames also "frames": [{"frame", "start_ms", "end_ms", "token"}]')
    p.add_argument("--chunk-seconds", type=_chunk_seconds, default=None, metavar="S",
                   help=f"encode in overlapping windows of S seconds (default: only clips over "
                        f"{CHUNK_ABOVE_SECONDS:g} s, in {CHUNK_SECONDS:g} s windows)")
    p.add_argument("--fast", action="store_true",
                   help="int8 Linear layers (model.optimize_for_inference): faster, text may rarely differ")
    p.add_argument("--beam", type=_beam_width, default=1, metavar="N",
                   help="CTC prefix beam search keeping N prefixes (default 1: greedy, the per-frame argmax)")
    p.add_argument("--words", default=None, metavar="FILE|LIST",
                   help="keep the text to these words: a file (whitespace-separated) or a list \"yes,no,stop\"; "
                        f"with --beam 2+ the model's own {WORDS_FILE} is used by default (the bundled model's "
                        "20 words)")
    p.add_argument("--no-words", action="store_true", help="no word list, even the model's own")
    p.add_argument("--quiet", action="store_true", help="no note about the bundled model's limits on stderr")
    p.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch",
                   help="run the model in torch (default) or as an exported graph in ONNX Runtime (needs the "
                        "fast extra: pip install 'w2v_lite[fast]'); with --fast, int8 MatMuls")
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


def _beam_width(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of prefixes, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (1 = greedy), got {text}")
    return value


def _chunk_seconds(text: str) -> float:
    value = _positive(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds (the default is 20 s), got {text}")
    if value < MIN_CHUNK_SECONDS:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_CHUNK_SECONDS:g} s (each window needs context; "
                                         f"the default is {CHUNK_SECONDS:g} s), got {text}")
    return value


def _run_align(args: argparse.Namespace) -> None:
    result = Recognizer.load(args.model).align(args.file, args.transcript, warn=False)
    if result.warning is not None:  # silence, a clip too short for the transcript, or a mismatch
        print(f"warning: {args.file}: {result.warning}", file=sys.stderr)
    text = " ".join(args.transcript.split())
    if args.json:
        print(json.dumps({"file": str(args.file), "text": text, "words": [w.as_dict() for w in result.words],
                          **result.as_dict()}, ensure_ascii=False))
    else:
        print(f"{args.file}\t{text}")
        print(format_words(result.words))
    _note(args)


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
    p.add_argument("--json", action="store_true",
                   help='one JSON object: {"file", "text", "words": [{"word", "start", "end", "score", "vs_greedy"}], '
                        '"score", "greedy_score", "vs_greedy", "warning"} (scores: mean log p per frame)')
    p.add_argument("--quiet", action="store_true", help="no note about the bundled model's limits on stderr")
    p.set_defaults(func=_run_align)
    return p
