"""Training CLI: `python -m w2v_lite.train <task> ...`, with one subcommand per registered `Task`.

    python -m w2v_lite.train pretrain --config tiny --data w2v_lite/assets/corpus/train --steps 500 \\
        --batch-seconds 8 --out runs/pretrain [--resume] [--lr 1e-3] [--seed 0] [--max-seconds 2]
    torchrun --nproc_per_node=2 -m w2v_lite.train pretrain ...        # same flags, ranks share the data

Every subcommand gets the shared flags of `add_common_arguments`. Audio files that cannot be decoded (or
are too short for the task) are reported by name in a warning and skipped; an empty --data folder is an
error. The checkpoint in --out (config.json, model.safetensors, trainer_state.pt, log.jsonl) is written at
the end, every --save-every steps and at --stop-at; --resume continues it exactly. This module registers `pretrain`
(`PretrainTask`). Another objective registers itself from its own module with
`training.register_task(name, help, add_arguments, make_task)`; `w2v_lite.ctc_training` is imported
here, when it exists, so that its `ctc` subcommand appears.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .audio import normalize, pad_batch
from .config import Wav2Vec2Config
from .lengths import frame_mask, output_lengths, samples_for_frames
from .masking import compute_mask_indices, sample_negative_indices
from .pretraining import Wav2Vec2ForPreTraining
from .quantizer import gumbel_temperature
from .training import TASKS, AudioFolder, Clip, Task, TrainArgs, register_task, train

PLUGINS = ("w2v_lite.ctc_training",)  # modules that call register_task when imported


def waveform_batch(clips: Sequence[Clip]) -> dict[str, torch.Tensor]:
    """B clips -> {"input_values": (B, Lmax) normalised per clip over its own samples, "lengths": (B,)}."""
    padded = pad_batch([c.waveform for c in clips])
    return {"input_values": normalize(padded.input_values, padded.lengths), "lengths": padded.lengths}


class PretrainTask(Task):
    """wav2vec 2.0 self-supervised pretraining: masked frames must pick their quantized target.

    The loss that is backpropagated is `Wav2Vec2ForPreTraining`'s summed loss divided by the number of
    masked frames (as fairseq's sample_size and transformers' example script), so the learning rate does
    not depend on the batch size. The Gumbel temperature follows `gumbel_temperature(step, ...)`.
    """

    name = "pretrain"

    def __init__(self, max_temp: float = 2.0, min_temp: float = 0.5, temp_decay: float = 0.999995,
                 eval_data: Path | None = None) -> None:
        gumbel_temperature(0, max_temp, min_temp, temp_decay)  # validates the schedule
        self.temps = (max_temp, min_temp, temp_decay)
        self.eval_data = eval_data

    def build_model(self, config: Wav2Vec2Config, init: Path | None) -> nn.Module:
        """Random init from `config`, or continue from the pretraining checkpoint in `init`."""
        return Wav2Vec2ForPreTraining.from_pretrained(init) if init else Wav2Vec2ForPreTraining(config)

    def min_samples(self, config: Wav2Vec2Config) -> int:
        """A clip must hold one whole mask span (mask_time_length frames); shorter ones are skipped."""
        return samples_for_frames(config.mask_time_length, config)[0]

    def make_batch(self, clips: list[Clip]) -> dict[str, torch.Tensor]:
        """Padded, per-clip normalised waveforms and their lengths (see `waveform_batch`)."""
        return waveform_batch(clips)

    def step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Masks and negatives are drawn by the model (inside valid frames); -> per-frame loss, parts."""
        out = model(**batch)
        n = out.mask_time_indices.sum()
        correct = (out.logits[out.mask_time_indices].argmax(-1) == 0).float().mean()
        return out.loss / n, {
            "contrastive_loss": (out.contrastive_loss / n).item(),
            "diversity_loss": (out.diversity_loss / n).item(),
            "perplexity": out.codevector_perplexity.item(),
            "accuracy": correct.item(),
            "masked_frames": n.item(),
        }

    def on_step(self, model: nn.Module, step: int) -> dict[str, float]:
        """Anneal the Gumbel-softmax temperature."""
        temperature = gumbel_temperature(step, *self.temps)
        model.set_gumbel_temperature(temperature)
        return {"temperature": temperature}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """`masked_prediction_metrics` on `eval_data` (if given)."""
        if self.eval_data is None:
            return {}
        data = AudioFolder(self.eval_data, min_samples=self.min_samples(model.config))
        return masked_prediction_metrics(model, data.clips)


@torch.no_grad()
def masked_prediction_metrics(model: Wav2Vec2ForPreTraining, clips: Sequence[Clip], seed: int = 0,
                              batch_size: int = 16) -> dict[str, float]:
    """How well a pretraining model solves its own task on `clips`, in eval mode (argmax codes).

    Masks and negatives are drawn with numpy seeded by `seed` (numpy's global state is saved and
    restored), so two models are compared on exactly the same masked frames and distractors.
    Returns accuracy (masked frames whose true target scores higher than all K distractors),
    contrastive loss per masked frame, the codebook perplexity over masked frames (out of G*V),
    the share of distractors identical to their target (masked with -inf), and the counts.
    """
    was_training, saved = model.training, np.random.get_state()
    model.eval()
    np.random.seed(seed)
    cfg = model.config
    correct = total = same = negatives = 0
    loss = 0.0
    codes = []
    try:
        for start in range(0, len(clips), batch_size):
            batch = waveform_batch(clips[start : start + batch_size])
            device = next(model.parameters()).device
            batch = {k: v.to(device) for k, v in batch.items()}
            frames = frame_mask(output_lengths(batch["lengths"].cpu(), cfg), output_lengths(
                batch["input_values"].shape[1], cfg))  # (B, T) valid frames: masks stay inside them
            shape = tuple(frames.shape)
            mask = compute_mask_indices(shape, cfg.mask_time_prob, cfg.mask_time_length, frames,
                                        max(cfg.mask_time_min_masks, 1))
            neg = sample_negative_indices(shape, cfg.num_negatives, mask)
            out = model(**batch, mask_time_indices=torch.tensor(mask, device=device),
                        sampled_negative_indices=torch.tensor(neg, device=device))
            logits = out.logits[out.mask_time_indices]  # (n_masked, 1 + K)
            correct += int((logits[:, 0] > logits[:, 1:].max(-1).values).sum())
            total += logits.shape[0]
            same += int(torch.isinf(logits[:, 1:]).sum())
            negatives += logits[:, 1:].numel()
            loss += float(out.contrastive_loss)
            codes.append(out.code_indices[out.mask_time_indices].cpu())
    finally:
        np.random.set_state(saved)
        model.train(was_training)
    codes = torch.cat(codes)  # (n_masked, G) chosen code per group
    groups, entries = cfg.num_codevector_groups, cfg.num_codevectors_per_group
    usage = torch.stack([torch.bincount(codes[:, g], minlength=entries) for g in range(groups)]).double()
    marginal = usage / usage.sum(-1, keepdim=True)
    perplexity = torch.exp(-torch.xlogy(marginal, marginal).sum(-1)).sum()
    return {"accuracy": correct / total, "contrastive_loss": loss / total, "perplexity": float(perplexity),
            "identical_negatives": same / negatives, "masked_frames": total,
            "codes_used": int((usage > 0).sum())}


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every training subcommand shares (they fill `TrainArgs`)."""
    a = parser.add_argument
    a("--config", help="preset (tiny, base, large, large-lv60) or a config.json / checkpoint folder")
    a("--init", type=Path, help="checkpoint folder to start from (its config is used if --config is absent)")
    a("--data", type=Path, required=True, help="folder of audio files (searched recursively)")
    a("--out", type=Path, required=True, help="checkpoint folder: config.json, model.safetensors, log.jsonl")
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
    a("--resume", action="store_true", help="continue exactly from the checkpoint in --out")
    a("--set", dest="overrides", action="append", default=[], metavar="FIELD=JSON",
      help="override a config field, e.g. --set mask_time_prob=0.5 (repeatable)")
    a("--no-progress", action="store_true", help="no tqdm progress bar")
    a("--device", default=None, help="cpu or cuda (default: cuda if available)")


def _pretrain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-temp", type=float, default=2.0, help="Gumbel temperature at step 0")
    parser.add_argument("--min-temp", type=float, default=0.5, help="Gumbel temperature floor")
    parser.add_argument("--temp-decay", type=float, default=0.999995, help="temperature decay per step")
    parser.add_argument("--eval-data", type=Path, default=None,
                        help="folder for masked-prediction accuracy after training (out/eval.json)")


register_task("pretrain", "wav2vec 2.0 contrastive pretraining", _pretrain_arguments,
              lambda args: PretrainTask(args.max_temp, args.min_temp, args.temp_decay, args.eval_data))


def resolve_config(name: str | None, init: Path | None) -> Wav2Vec2Config:
    """--config (preset name, config.json, or checkpoint folder) or else the config of --init."""
    if name is None:
        if init is None:
            raise ValueError("give --config (e.g. tiny) or --init CHECKPOINT_FOLDER")
        return Wav2Vec2Config.load(Path(init) / "config.json")
    path = Path(name)
    if path.is_dir():
        path = path / "config.json"
    return Wav2Vec2Config.load(path) if path.suffix == ".json" else Wav2Vec2Config.preset(name)


def _overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects FIELD=VALUE, got {item!r}")
        out[key] = json.loads(value)
    return out


def build_parser() -> argparse.ArgumentParser:
    """The CLI parser with one subcommand per registered task (plugins imported first)."""
    for module in PLUGINS:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    parser = argparse.ArgumentParser(prog="python -m w2v_lite.train", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    for name, entry in TASKS.items():
        task_parser = sub.add_parser(name, help=entry.help, description=entry.help)
        add_common_arguments(task_parser)
        entry.add_arguments(task_parser)  # may also change shared defaults via set_defaults
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and train; returns the exit status."""
    args = build_parser().parse_args(argv)
    task = TASKS[args.task].make_task(args)
    config = resolve_config(args.config, args.init)
    train_args = TrainArgs(
        data=args.data, out=args.out, steps=args.steps, batch_seconds=args.batch_seconds,
        max_seconds=args.max_seconds, lr=args.lr, warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay, grad_clip=args.grad_clip, feature_grad_mult=args.feature_grad_mult,
        seed=args.seed, save_every=args.save_every, stop_at=args.stop_at, resume=args.resume,
        progress=not args.no_progress, device=args.device, config_overrides=_overrides(args.overrides))
    history = train(task, config, train_args, init=args.init)
    if history:
        first, last = history[: min(10, len(history))], history[-min(10, len(history)) :]
        mean = lambda rows: sum(r["loss"] for r in rows) / len(rows)  # noqa: E731
        print(f"{args.task}: step {history[-1]['step']}, loss {mean(first):.4f} (first {len(first)} steps) "
              f"-> {mean(last):.4f} (last {len(last)}); checkpoint in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
