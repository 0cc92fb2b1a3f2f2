"""The training command line: `w2v-lite train {pretrain,ctc} ...` (alias: `python -m w2v_lite.train ...`).

    w2v-lite train pretrain --config tiny --data w2v_lite/assets/corpus/train --steps 500 --out runs/pretrain
    w2v-lite train ctc --init w2v_lite/assets/checkpoints/pretrained-tiny --data w2v_lite/assets/corpus/train \\
        --steps 800 --out runs/ctc
    torchrun --nproc_per_node=2 -m w2v_lite.train pretrain ...        # DDP: same flags, ranks share the data

Every objective gets the shared flags of `add_common_arguments` plus its own (`OBJECTIVES`). A checkpoint
folder --out/checkpoint-N (written atomically; see train/checkpointing.py) is made at the end, every
--save-every steps and at --stop-at, and its model is mirrored to --out/config.json + model.safetensors;
--resume continues it exactly. Nothing is written before every check has passed, and a model or run already
in --out is only replaced with --overwrite. Every error is one `error: ...` line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from w2v_lite.config import PRESETS, Wav2Vec2Config
from w2v_lite.train import ctc, pretrain
from w2v_lite.train.loop import Task, TrainArgs, train


class Objective(NamedTuple):
    """A training subcommand: help line, its own flags, and a factory from parsed flags to a `Task`."""

    help: str
    example: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    make_task: Callable[[argparse.Namespace], Task]


OBJECTIVES: dict[str, Objective] = {
    "pretrain": Objective("wav2vec 2.0 contrastive pretraining on a folder of audio",
                          "w2v-lite train pretrain --config tiny --data w2v_lite/assets/corpus/train "
                          "--steps 500 --out runs/pretrain",
                          pretrain.add_arguments, pretrain.make_task),
    "ctc": Objective("CTC fine-tuning on transcribed clips (character vocabulary)",
                     "w2v-lite train ctc --init w2v_lite/assets/checkpoints/pretrained-tiny "
                     "--data w2v_lite/assets/corpus/train --steps 800 --out runs/ctc",
                     ctc.add_arguments, ctc.make_task),
}


def device_arg(text: str) -> str:
    """`--device`: "cpu", "cuda" or "cuda:N" that this torch build can use, else one clear error line."""
    import torch

    kind, _, index = text.partition(":")
    if kind not in ("cpu", "cuda") or (index and (kind == "cpu" or not index.isdigit())):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}")
    if kind == "cuda":
        if not torch.cuda.is_available():
            build = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise argparse.ArgumentTypeError(f"cuda is not available ({build}); use --device cpu")
        if index and int(index) >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"{text}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return text


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every training subcommand shares (they fill `TrainArgs`)."""
    a = parser.add_argument
    a("--config", help=f"preset ({', '.join(PRESETS)}) or a config.json / checkpoint folder")
    a("--init", type=Path, help="checkpoint folder to start from (its config is used if --config is absent)")
    a("--data", type=Path, required=True, help="folder of audio files (searched recursively)")
    a("--out", type=Path, required=True,
      help="run folder: checkpoint-N/, config.json + model.safetensors (the newest model), log.jsonl")
    a("--steps", type=int, required=True, help="total optimizer steps (the LR schedule ends here)")
    a("--batch-seconds", type=float, default=8.0, help="max padded audio per batch and process (s)")
    a("--max-seconds", type=float, default=None, help="crop longer clips to this length (s)")
    a("--lr", type=float, default=5e-4, help="peak learning rate (AdamW)")
    a("--warmup-steps", type=int, default=None, help="linear warm-up steps (default 10%% of --steps)")
    a("--weight-decay", type=float, default=0.01)
    a("--grad-clip", type=float, default=5.0, help="max gradient norm (0: no clipping)")
    a("--feature-grad-mult", type=float, default=0.1, help="conv-stack gradient scale; 0 freezes it")
    a("--seed", type=int, default=0)
    a("--save-every", type=int, default=0, help="also checkpoint every N steps")
    a("--stop-at", type=int, default=None, help="stop and checkpoint after this step (resume later)")
    a("--resume", action="store_true", help="continue exactly from the newest checkpoint in --out")
    a("--overwrite", action="store_true", help="replace a model or run already in --out (otherwise refused)")
    a("--keep-checkpoints", type=int, default=1, metavar="K", help="checkpoint-N folders to keep (default 1)")
    a("--set", dest="overrides", action="append", default=[], metavar="FIELD=JSON",
      help="override a config field, e.g. --set mask_time_prob=0.5 (repeatable)")
    a("--no-progress", action="store_true", help="no tqdm progress bar")
    a("--device", default=None, type=device_arg, help="cpu or cuda (default: cuda if available)")



def resolve_config(name: str | None, init: Path | None) -> Wav2Vec2Config:
    """--config (preset name, config.json, or checkpoint folder) or else the config of --init."""
    if name is None:
        if init is None:
            raise ValueError("give --config (e.g. tiny) or --init CHECKPOINT_FOLDER")
        return Wav2Vec2Config.load(Path(init) / "config.json")
    path = Path(name)
    if path.is_dir():
        path = path / "config.json"
    if path.suffix == ".json":
        return Wav2Vec2Config.load(path)
    if name.replace("_", "-") not in PRESETS:
        raise ValueError(f"--config {name!r} is neither a preset ({', '.join(PRESETS)}) nor a config.json or "
                         "checkpoint folder")
    return Wav2Vec2Config.preset(name)


def _overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects FIELD=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"--set {item}: the value must be JSON, e.g. 0.5, true, \"layer\" or [512, 512]") from None
    return out


def add_train_parser(subparsers: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register `train {pretrain,ctc}` on the top-level subparsers."""
    p = subparsers.add_parser("train", help="pretrain or fine-tune a model on a folder of audio",
                              description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="example:\n  " + OBJECTIVES["pretrain"].example)
    sub = p.add_subparsers(dest="objective", required=True, metavar="OBJECTIVE", parser_class=parser_class)
    for name, objective in OBJECTIVES.items():
        q = sub.add_parser(name, help=objective.help, description=objective.help,
                           epilog="example:\n  " + objective.example,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        add_common_arguments(q)
        objective.add_arguments(q)  # may also change shared defaults via set_defaults
        q.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Train one objective from parsed flags; prints a one-line summary to stderr."""
    task = OBJECTIVES[args.objective].make_task(args)
    # on --resume the checkpoint's config wins, so --config / --init may be left out
    config = Wav2Vec2Config() if args.resume and not (args.config or args.init) else resolve_config(args.config,
                                                                                                   args.init)
    train_args = TrainArgs(
        data=args.data, out=args.out, steps=args.steps, batch_seconds=args.batch_seconds,
        max_seconds=args.max_seconds, lr=args.lr, warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay, grad_clip=args.grad_clip, feature_grad_mult=args.feature_grad_mult,
        seed=args.seed, save_every=args.save_every, stop_at=args.stop_at, resume=args.resume,
        overwrite=args.overwrite, keep_checkpoints=args.keep_checkpoints, progress=not args.no_progress,
        device=args.device, config_overrides=_overrides(args.overrides))
    try:
        history = train(task, config, train_args, init=args.init)
    except FloatingPointError as err:  # a diverged run: one line, like every other training error
        raise ValueError(str(err)) from None
    if history:
        first, last = history[: min(10, len(history))], history[-min(10, len(history)) :]

        def mean(rows: list[dict]) -> float:
            return sum(r["loss"] for r in rows) / len(rows)

        print(f"{args.objective}: step {history[-1]['step']}, loss {mean(first):.4f} (first {len(first)} steps) "
              f"-> {mean(last):.4f} (last {len(last)}); checkpoint in {args.out}", file=sys.stderr)
