"""Command line: `python -m w2v_lite explain [FILE] [--seconds S] [--config NAME] [--batch A B ...]`
and `python -m w2v_lite transcribe FILE [FILE ...] --model DIR [--frames]`.

`explain` runs a real (random-init) model on a clip and prints each stage's shape: how L samples become
T frames of 512 channels, then T vectors of the transformer width. Shapes do not depend on the weights,
so no checkpoint is needed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import torch

from . import audio
from .config import Wav2Vec2Config
from .explain import batch_rows, explain_rows, format_table
from .lengths import output_lengths, receptive_field
from .model import Wav2Vec2Model
from .transcribe import add_transcribe_parser


def _model(config_name: str) -> Wav2Vec2Model:
    torch.manual_seed(0)  # random weights, fixed: the shapes (all we print) don't depend on them
    return Wav2Vec2Model(Wav2Vec2Config.preset(config_name)).eval()


def _clip(args: argparse.Namespace) -> tuple[torch.Tensor, str]:
    if args.file and args.seconds is not None:
        raise SystemExit("error: give either FILE or --seconds, not both")
    if args.seconds is not None:
        if args.seconds <= 0:
            raise SystemExit(f"error: --seconds must be positive, got {args.seconds}")
        n = round(args.seconds * audio.SAMPLING_RATE)
        return torch.randn(n, generator=torch.Generator().manual_seed(0)) * 0.1, f"{args.seconds} s of noise"
    if args.file:
        return audio.load(args.file), args.file
    return audio.load_default(), f"embedded clip: \"{audio.DEFAULT_CLIP_TRANSCRIPT}\""


def explain(args: argparse.Namespace) -> None:
    """Print the stage table for one clip, or the padding summary for `--batch`."""
    model = _model(args.config)
    cfg = model.config
    field, hop = receptive_field(cfg)
    if args.batch:
        clips = [audio.load(p) for p in args.batch]
        batch = audio.pad_batch(clips)
        rows, mask = batch_rows(cfg, batch.lengths.tolist())
        with torch.no_grad():
            out = model(batch.input_values, attention_mask=batch.attention_mask)
        if not torch.equal(out.frame_mask, mask):
            raise AssertionError("model frame mask disagrees with output_lengths")
        rows = [(p, *r[1:]) for p, r in zip(args.batch, rows)]
        print(f"config: {args.config}; batch of {len(clips)} padded to {batch.input_values.shape[1]} samples")
        print(format_table(rows, ("clip", "samples", "frames")))
        print("\nframe mask (# = real frame, . = padding):")
        for p, row in zip(args.batch, mask):
            print("".join("#" if v else "." for v in row.tolist()), p)
        print(f"\nlast_hidden_state: {tuple(out.last_hidden_state.shape)}")
        return
    clip, name = _clip(args)
    n = clip.shape[-1]
    if output_lengths(n, cfg) == 0:
        raise SystemExit(f"error: the clip has {n} samples, fewer than one frame's window ({field}); use a longer clip")
    print(f"config: {args.config}; clip: {name}")
    print(format_table(explain_rows(model, clip), ("stage", "shape", "why")))
    print(f"\nT = floor((L - {field}) / {hop}) + 1 = floor(({n} - {field}) / {hop}) + 1 = {output_lengths(n, cfg)}")


def build_parser() -> argparse.ArgumentParser:
    """The `w2v-lite` argument parser with its subcommands."""
    parser = argparse.ArgumentParser(prog="w2v-lite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("explain", help="show how a clip's length flows through the model")
    p.add_argument("file", nargs="?", help="WAV or FLAC, any sample rate, mono or stereo (default: embedded clip)")
    p.add_argument("--seconds", type=float, help="use a clip of this many seconds instead of a file")
    p.add_argument("--config", default="base", choices=["base", "large", "large-lv60", "tiny"])
    p.add_argument("--batch", nargs="+", metavar="FILE", help="pad several files into one batch and show masks")
    p.set_defaults(func=explain)
    add_transcribe_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m w2v_lite` and the `w2v-lite` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, TypeError) as err:  # bad input: one clear line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
