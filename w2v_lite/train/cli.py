"""The training command line: `w2v-lite train {pretrain,ctc} ...` (`python -m w2v_lite train ...`).

    w2v-lite train pretrain --config tiny --data w2v_lite/assets/corpus/train --steps 500 --out runs/pretrain
    w2v-lite train ctc --init w2v_lite/assets/checkpoints/pretrained-tiny --data w2v_lite/assets/corpus/train \\
        --steps 800 --out runs/ctc
    torchrun --nproc_per_node=2 -m w2v_lite train pretrain ...        # DDP: same flags, ranks share the data

Every objective gets the shared flags of `add_common_arguments` (one per `TrainArgs` field, with the
dataclass's types and defaults) plus its own (`OBJECTIVES`). A checkpoint
folder --out/checkpoint-N (written atomically; see train/checkpointing.py) is made at the end, every
--save-every steps and at --stop-at, and its model is mirrored to --out/config.json + model.safetensors;
--resume continues it exactly. Nothing is written before every check has passed, and a model or run already
in --out is only replaced with --overwrite. Every error is one `error: ...` line and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from w2v_lite.config import PRESETS, Wav2Vec2Config
from w2v_lite.errors import UsageError
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


# The flags of `TrainArgs`' fields, in --help order: flag name, help and argparse extras. Types and defaults
# come from the dataclass itself (defaults live there once); a field without a default is a required flag.
TRAIN_FLAGS: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "data": ("--data", "folder of audio files (searched recursively)", {}),
    "out": ("--out", "run folder: checkpoint-N/, config.json + model.safetensors (the newest model), log.jsonl", {}),
    "steps": ("--steps", "total optimizer steps (the LR schedule ends here)", {}),
    "batch_seconds": ("--batch-seconds", "max padded audio per batch and process (s)", {}),
    "max_seconds": ("--max-seconds", "crop longer clips to this length (s)", {}),
    "lr": ("--lr", "peak learning rate (AdamW)", {}),
    "warmup_steps": ("--warmup-steps", "linear warm-up steps (default 10%% of --steps)", {}),
    "weight_decay": ("--weight-decay", None, {}),
    "grad_clip": ("--grad-clip", "max gradient norm (0: no clipping)", {}),
    "feature_grad_mult": ("--feature-grad-mult", "conv-stack gradient scale; 0 freezes it", {}),
    "seed": ("--seed", None, {}),
    "save_every": ("--save-every", "also checkpoint every N steps", {}),
    "stop_at": ("--stop-at", "stop and checkpoint after this step (resume later)", {}),
    "resume": ("--resume", "continue exactly from the newest checkpoint in --out", {}),
    "overwrite": ("--overwrite", "replace a model or run already in --out (otherwise refused); the old one stays "
                  "until the new run's first checkpoint is complete", {}),
    "force": ("--force", "with --resume: continue although the data, seed, --set or another flag that decides "
              "the numbers changed", {}),
    "keep_checkpoints": ("--keep-checkpoints", "checkpoint-N folders to keep (default %(default)s)", {"metavar": "K"}),
    "config_overrides": ("--set", "override a config field, e.g. --set mask_time_prob=0.5 (repeatable)",
                         {"dest": "overrides", "action": "append", "default": [], "metavar": "FIELD=JSON"}),
    "progress": ("--no-progress", "no tqdm progress bar", {"action": "store_false", "dest": "progress"}),
    "device": ("--device", "cpu or cuda (default: cuda if available)", {"type": lambda text: device_arg(text)}),
}
_TYPES: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str, "Path": Path}


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


def _flag_kwargs(f: dataclasses.Field) -> dict[str, Any]:
    """argparse keywords for one `TrainArgs` field: its type (from the annotation) and default, or required."""
    _, help_, extra = TRAIN_FLAGS[f.name]
    kwargs: dict[str, Any] = {"help": help_} if help_ else {}
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
        kwargs["required"] = True
    elif f.default is not dataclasses.MISSING:
        kwargs["default"] = f.default
    base = str(f.type).removesuffix(" | None")
    if base == "bool":
        kwargs["action"] = "store_true" if f.default is False else "store_false"
    elif base in _TYPES:
        kwargs["type"] = _TYPES[base]
    return {**kwargs, **extra}


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every training subcommand shares: --config, --init, then one per `TrainArgs` field."""
    if set(TRAIN_FLAGS) != {f.name for f in dataclasses.fields(TrainArgs)}:
        raise AssertionError("TRAIN_FLAGS must name every TrainArgs field once")  # a field added to TrainArgs
    parser.add_argument("--config", help=f"preset ({', '.join(PRESETS)}) or a config.json / checkpoint folder")
    parser.add_argument("--init", type=Path,
                        help="checkpoint folder to start from (its config is used if --config is absent)")
    fields = {f.name: f for f in dataclasses.fields(TrainArgs)}
    for name, (flag, _, _) in TRAIN_FLAGS.items():
        parser.add_argument(flag, **_flag_kwargs(fields[name]))


def resolve_config(name: str | None, init: Path | None) -> Wav2Vec2Config:
    """--config (preset name, config.json, or checkpoint folder) or else the config of --init."""
    if name is None:
        if init is None:
            raise UsageError("give --config (e.g. tiny) or --init CHECKPOINT_FOLDER")
        return Wav2Vec2Config.load(Path(init) / "config.json")
    path = Path(name)
    if path.is_dir():
        path = path / "config.json"
    if path.suffix == ".json":
        return Wav2Vec2Config.load(path)
    if name.replace("_", "-") not in PRESETS:
        raise UsageError(f"--config {name!r} is neither a preset ({', '.join(PRESETS)}) nor a config.json or "
                         "checkpoint folder")
    return Wav2Vec2Config.preset(name)


def _overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set expects FIELD=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            raise UsageError(f"--set {item}: the value must be JSON, e.g. 0.5, true, \"layer\" or [512, 512]") from None
    return out


def _check_override_types(config: Wav2Vec2Config, overrides: dict) -> None:
    """A --set value of the wrong type (`--set do_stable_layer_norm=5`) is the user's error, not a bug: the
    config's TypeError becomes a UsageError here. Unknown names are left to `train`, which lists them."""
    known = {f.name for f in dataclasses.fields(Wav2Vec2Config)}
    try:
        config.replace(**{k: v for k, v in overrides.items() if k in known})
    except TypeError as err:
        raise UsageError(str(err)) from err


def add_train_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `train {pretrain,ctc}` on the top-level subparsers (sets `func` on each objective)."""
    p = subparsers.add_parser("train", help="pretrain or fine-tune a model on a folder of audio",
                              description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="example:\n  " + OBJECTIVES["pretrain"].example)
    sub = p.add_subparsers(dest="objective", required=True, metavar="OBJECTIVE", parser_class=type(p))
    for name, objective in OBJECTIVES.items():
        q = sub.add_parser(name, help=objective.help, description=objective.help,
                           epilog="example:\n  " + objective.example,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        add_common_arguments(q)
        objective.add_arguments(q)  # may also change shared defaults via set_defaults
        q.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> None:
    """Train one objective from parsed flags; prints a one-line summary to stderr."""
    task = OBJECTIVES[args.objective].make_task(args)
    # on --resume the checkpoint's config wins, so --config / --init may be left out
    config = Wav2Vec2Config() if args.resume and not (args.config or args.init) else resolve_config(args.config,
                                                                                                   args.init)
    overrides = _overrides(args.overrides)
    _check_override_types(config, overrides)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainArgs) if f.name != "config_overrides"}
    train_args = TrainArgs(**values, config_overrides=overrides)
    try:
        history = train(task, config, train_args, init=args.init)
    except FloatingPointError as err:  # a diverged run: one line, like every other training error
        raise UsageError(str(err)) from None
    if history:
        first, last = history[: min(10, len(history))], history[-min(10, len(history)) :]

        def mean(rows: list[dict]) -> float:
            return sum(r["loss"] for r in rows) / len(rows)

        print(f"{args.objective}: step {history[-1]['step']}, loss {mean(first):.4f} (first {len(first)} steps) "
              f"-> {mean(last):.4f} (last {len(last)}); checkpoint in {args.out}", file=sys.stderr)
