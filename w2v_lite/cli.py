"""The command line: `w2v-lite` (or `python -m w2v_lite`) with one subcommand per job.

    w2v-lite explain [FILE] [--seconds S] [--config NAME] [--batch A B ...]   shapes through the model
    w2v-lite transcribe FILE [FILE ...] [--model DIR] [--timestamps] [--json] speech to text (CTC)
    w2v-lite align FILE "TRANSCRIPT" [--model DIR] [--json]                  word times (forced alignment)
    w2v-lite train pretrain|ctc --data DIR --out DIR --steps N ...           training (see train/cli.py)
    w2v-lite figures [--out DIR]                                             regenerate figures/
    w2v-lite export --model DIR --out FILE.onnx [--no-attention-mask]        ONNX graph (needs the fast extra)
    w2v-lite classroom [--port P] [--no-browser]                             the classroom page (Voila)

Every subcommand registers itself the same way (`COMMANDS`); `main` turns bad input into one `error:` line.

`explain` runs a real (random-init) model on a clip and prints each stage's shape: how L samples become
T frames of 512 channels, then T vectors of the transformer width. Shapes do not depend on the weights,
so no checkpoint is needed.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from w2v_lite.config import PRESETS
from w2v_lite.errors import UsageError

if TYPE_CHECKING:
    import torch

    from w2v_lite.model.wav2vec2 import Wav2Vec2Model

# torch, the model and each command's own modules are imported inside the command that runs (and only its
# parser is built, see `main`): `w2v-lite classroom` prints its URL before any of them load (issue 17).


def _model(config_name: str) -> Wav2Vec2Model:
    import torch

    from w2v_lite.config import Wav2Vec2Config
    from w2v_lite.model.wav2vec2 import Wav2Vec2Model

    torch.manual_seed(0)  # random weights, fixed: the shapes (all we print) don't depend on them
    return Wav2Vec2Model(Wav2Vec2Config.preset(config_name)).eval()


MAX_SECONDS = 60.0
"""Longest `explain --seconds` clip: 60 s is 2999 frames, whose base-model attention already takes ~0.4 GB
per layer; longer noise shows nothing new (the refusal comes before anything is allocated)."""


def _check_explain_args(args: argparse.Namespace) -> None:
    """Conflicting or absurd explain flags -> ValueError (one `error:` line, exit 2), before any work."""
    if args.batch and (args.file or args.seconds is not None):
        given = f"FILE {args.file}" if args.file else "--seconds"
        raise UsageError(f"give either --batch FILE... or {given}, not both (add {args.file or 'the file'} to "
                         "the --batch list to include it)")
    if args.file and args.seconds is not None:
        raise UsageError("give either FILE or --seconds, not both")
    if args.seconds is not None and not 0 < args.seconds <= MAX_SECONDS:  # also refuses nan and inf
        raise UsageError(f"--seconds must be in (0, {MAX_SECONDS:g}], got {args.seconds}")


def _clip(args: argparse.Namespace) -> tuple[torch.Tensor, str]:
    import torch

    from w2v_lite.config import SAMPLING_RATE
    from w2v_lite.data import audio

    if args.seconds is not None:
        n = round(args.seconds * SAMPLING_RATE)
        return torch.randn(n, generator=torch.Generator().manual_seed(0)) * 0.1, f"{args.seconds} s of noise"
    if args.file:
        return audio.load(args.file), args.file
    return audio.load_default(), f"embedded clip: \"{audio.DEFAULT_CLIP_TRANSCRIPT}\""


def explain(args: argparse.Namespace) -> None:
    """Print the stage table for one clip, or the padding summary for `--batch`."""
    _check_explain_args(args)

    from w2v_lite.lengths import output_lengths, receptive_field, require_frames
    from w2v_lite.teach.explain import LONG_CLIP_SECONDS, batch_report, explain_rows, format_table, long_clip_rows

    model = _model(args.config)
    cfg = model.config
    field, hop = receptive_field(cfg)
    if args.batch:
        print(f"config: {args.config}; " + batch_report(model, args.batch))
        return
    clip, name = _clip(args)
    n = clip.shape[-1]
    require_frames(n, cfg)  # a ValueError: one `error:` line
    print(f"config: {args.config}; clip: {name}")
    if n > LONG_CLIP_SECONDS * cfg.sampling_rate:  # don't run the model over minutes of audio
        rows, note = long_clip_rows(model, clip)
        print(format_table(rows, ("stage", "shape", "why")))
        print(f"\n{note}")
    else:
        print(format_table(explain_rows(model, clip), ("stage", "shape", "why")))
    print(f"\nT = floor((L - {field}) / {hop}) + 1 = floor(({n} - {field}) / {hop}) + 1 = {output_lengths(n, cfg)}")


def figures(args: argparse.Namespace) -> None:
    """Regenerate every figure into `args.out` (matplotlib is imported only here)."""
    import torch

    from w2v_lite.teach.figures import make_all

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} is a file; give a folder for the figures")
    torch.set_num_threads(1)  # fixed thread count: the same reductions, so the same pixels
    for path in make_all(args.out):
        print(path)


def export(args: argparse.Namespace) -> None:
    """Write the checkpoint in `args.model` as an ONNX graph (w2v_lite.export_onnx)."""
    from w2v_lite.asr.pretrained import resolve_model
    from w2v_lite.model.ctc import Wav2Vec2ForCTC
    from w2v_lite.model.export import export_onnx
    from w2v_lite.model.runtime import require_onnxruntime
    from w2v_lite.model.wav2vec2 import Wav2Vec2Model

    require_onnxruntime()  # the graph is of little use without it; say so before the export's seconds of work
    folder = resolve_model(args.model)
    ctc = _has_ctc_head(folder)  # a CTC checkpoint exports logits; any other, hidden states
    model = Wav2Vec2ForCTC.from_pretrained(folder) if ctc else Wav2Vec2Model.from_pretrained(folder)
    path = export_onnx(model, args.out, attention_mask=not args.no_attention_mask)
    print(f"{path}\t{type(model).__name__}, inputs: input_values (B, L)"
          f"{'' if args.no_attention_mask else ' + attention_mask (B, L)'}")


def _has_ctc_head(folder: Path) -> bool:
    """True when the checkpoint's weights include a CTC head (`lm_head.*`)."""
    from w2v_lite.model import checkpoints

    return any(k.startswith("lm_head.") for k in checkpoints.load_state_dict(folder))


def classroom(args: argparse.Namespace) -> int:
    """Serve the classroom page (voila is imported only here; torch, matplotlib and anywidget only in the page's
    kernel, so the URL prints without them)."""
    try:
        from w2v_lite.teach.classroom_server import serve
    except ImportError as err:  # the notebooks extra is not installed
        raise UsageError(f"the classroom page needs the notebooks extra ({err.name} is missing): "
                         "pip install 'w2v_lite[notebooks]'") from None
    return serve(port=args.port, open_browser=not args.no_browser)


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error: `error: ...` plus where to look, exit code 2 (no usage dump).

    Values such as `-inf`, `-1e3` or `-nan` are read as (negative) numbers, not as unknown options, so
    `--seconds -inf` reaches the flag's own check; a file whose name starts with "-" gets a hint at `--`.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message: str) -> NoReturn:
        dashed = [a for a in (self._argv or []) if a.startswith("-") and Path(a).is_file()]
        if dashed:  # e.g. `transcribe -x.wav`: argparse took the file for an option
            message += (f"; {dashed[0]} looks like a file whose name starts with '-': put `--` before the "
                        f"file names (`-- {dashed[0]}`) or write ./{dashed[0]}")
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")

    _argv: Sequence[str] | None = None  # the command line being parsed (set by `main`), for hints


_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


def _example(text: str) -> dict:
    return {"epilog": "example:\n  " + text, "formatter_class": argparse.RawDescriptionHelpFormatter}


def add_transcribe_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `transcribe` (asr/transcribe.py; imported only when this parser is built)."""
    from w2v_lite.asr.transcribe import add_transcribe_parser as add

    return add(subparsers)


def add_align_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `align` (asr/transcribe.py; imported only when this parser is built)."""
    from w2v_lite.asr.transcribe import add_align_parser as add

    return add(subparsers)


def add_train_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `train pretrain|ctc` (train/cli.py; imported only when this parser is built)."""
    from w2v_lite.train.cli import add_train_parser as add

    return add(subparsers)


def add_explain_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `explain [FILE] [--seconds S] [--config NAME] [--batch FILE...]` (sets `func`)."""
    p = subparsers.add_parser("explain", help="show how a clip's length flows through the model",
                              description="Run a random-init model on a clip and print every stage's shape.",
                              **_example("w2v-lite explain clip.wav --config base"))
    p.add_argument("file", nargs="?", help="WAV or FLAC, any sample rate, mono or stereo (default: embedded clip)")
    p.add_argument("--seconds", type=float,
                   help=f"use a clip of this many seconds of noise instead of a file (at most {MAX_SECONDS:g})")
    p.add_argument("--config", default="base", choices=PRESETS)
    p.add_argument("--batch", nargs="+", metavar="FILE", help="pad several files into one batch and show masks")
    p.set_defaults(func=explain)
    return p


def add_figures_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `figures [--out DIR]` (sets `func`)."""
    p = subparsers.add_parser("figures", help="regenerate the figures (needs matplotlib)",
                              description="Draw every figure of the README and notebooks into a folder.",
                              **_example("w2v-lite figures --out figures"))
    p.add_argument("--out", default="figures", help="output folder (default: figures/)")
    p.set_defaults(func=figures)
    return p


def add_export_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `export --model DIR --out FILE.onnx [--no-attention-mask]` (sets `func`)."""
    p = subparsers.add_parser("export", help="write a checkpoint as an ONNX graph (needs the fast extra)",
                              description="Export a checkpoint folder (a CTC model, or a bare / pretraining "
                                          "encoder) as one ONNX graph with a dynamic batch and length.",
                              **_example("w2v-lite export --model w2v_lite/assets/checkpoints/ctc-tiny "
                                         "--out ctc.onnx"))
    p.add_argument("--model", required=True, help="checkpoint folder (ours or transformers' save_pretrained)")
    p.add_argument("--out", required=True, help="the .onnx file to write (its folder must exist)")
    p.add_argument("--no-attention-mask", action="store_true",
                   help="export without the attention_mask input (unpadded clips only)")
    p.set_defaults(func=export)
    return p


def add_classroom_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `classroom [--port P] [--no-browser]` (sets `func`)."""
    p = subparsers.add_parser("classroom", help="serve the classroom page (Voila, code hidden) on 127.0.0.1",
                              description="Serve a page where a class uploads or records a clip and watches it "
                                          "become T frames, masks, attention and text (needs the notebooks extra).",
                              **_example("w2v-lite classroom --port 8866 --no-browser"))
    p.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (default: 8866)")
    p.add_argument("--no-browser", action="store_true", help="only print the URL; do not open a browser")
    p.set_defaults(func=classroom)
    return p


COMMANDS: tuple[Callable[[argparse._SubParsersAction], argparse.ArgumentParser], ...] = (
    add_explain_parser, add_transcribe_parser, add_align_parser, add_train_parser, add_figures_parser,
    add_classroom_parser, add_export_parser)
"""Every subcommand, in --help order. Each registers itself the same way: ``add_X_parser(subparsers)`` adds
its parser and sets ``func(args) -> exit code | None``, which `main` calls. A new command adds one here."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `w2v-lite` argument parser with its subcommands (`COMMANDS`).

    `command`: register only that subcommand (`main` passes the one on the command line), so that only its
    modules load: the transcribe and train parsers import torch, which costs seconds on a loaded machine.
    None, or a name that is not a command, registers all of them (top-level --help, "invalid choice" errors).
    """
    chosen = [add for add in COMMANDS if add.__name__ == f"add_{command}_parser"]
    parser = Parser(prog="w2v-lite", description=__doc__.splitlines()[0], **_example("w2v-lite explain --seconds 3"))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for add_parser in chosen or COMMANDS:
        add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `w2v-lite` and `python -m w2v_lite` (also under torchrun); returns the exit code.

    Bad input (`UsageError`, any ValueError, which is the package's contract for bad input, and an OSError
    about a file) is one `error: ...` line on stderr and exit code 2; argparse's own errors exit 2 the same
    way (`Parser.error`). Ctrl-C is one `interrupted` line and exit code 130 (128 + SIGINT), as a shell
    reports it. Anything else, a TypeError included, is a bug and keeps its traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    Parser._argv = argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            status = args.func(args)  # a command may report partial failure (e.g. one bad file of many)
        except (ValueError, OSError) as err:  # UsageError is a ValueError
            print(f"error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # Ctrl-C: every write is atomic, so one line and the shell's code for SIGINT
            print("interrupted", file=sys.stderr)
            return 130
    return status if isinstance(status, int) else 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings on the command line: one `warning: ...` line on stderr, without the source line."""
    print(f"warning: {message}", file=sys.stderr)
