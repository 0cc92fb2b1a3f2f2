"""wav2vec 2.0 pretraining as a `loop.Task`: `w2v-lite train pretrain ...`.

    w2v-lite train pretrain --config tiny --data w2v_lite/assets/corpus/train --steps 500 \\
        --batch-seconds 8 --out runs/pretrain [--resume] [--lr 1e-3] [--seed 0] [--max-seconds 2]
    torchrun --nproc_per_node=2 -m w2v_lite train pretrain ...        # same flags, ranks share the data

`PretrainTask` builds `Wav2Vec2ForPreTraining`, batches padded per-clip-normalised waveforms, divides the
summed loss by the number of masked frames and anneals the Gumbel temperature; `masked_prediction_metrics`
scores a model on its own task with fixed masks and distractors. The shared loop (`loop.train`) does the rest.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data.dataset import AudioFolder, Clip
from w2v_lite.lengths import frame_mask, output_lengths, samples_for_frames
from w2v_lite.model.masking import compute_mask_indices, sample_negative_indices
from w2v_lite.model.pretraining import Wav2Vec2ForPreTraining
from w2v_lite.model.quantizer import gumbel_temperature
from w2v_lite.train.loop import Task, require_float, waveform_batch


class PretrainTask(Task):
    """wav2vec 2.0 self-supervised pretraining: masked frames must pick their quantized target.

    The loss that is backpropagated is `Wav2Vec2ForPreTraining`'s summed loss divided by the number of
    masked frames (as fairseq's sample_size and transformers' example script), so the learning rate does
    not depend on the batch size. The Gumbel temperature follows `gumbel_temperature(step, ...)`.
    """

    name = "pretrain"

    def __init__(self, max_temp: float = 2.0, min_temp: float = 0.5, temp_decay: float = 0.999995,
                 eval_data: Path | None = None) -> None:
        max_temp, min_temp = require_float("--max-temp", max_temp), require_float("--min-temp", min_temp)
        temp_decay = require_float("--temp-decay", temp_decay)
        if not 0 < min_temp <= max_temp:
            raise ValueError(f"need 0 < --min-temp <= --max-temp, got --min-temp {min_temp}, --max-temp {max_temp}")
        if not 0 < temp_decay <= 1:
            raise ValueError(f"--temp-decay must be in (0, 1] (the temperature falls by it each step), "
                             f"got {temp_decay}")
        gumbel_temperature(0, max_temp, min_temp, temp_decay)  # the schedule's own checks agree
        self.temps = (max_temp, min_temp, temp_decay)
        self.eval_data = eval_data

    def exact_settings(self) -> dict[str, object]:
        """The temperature schedule decides every step's Gumbel noise scale: a resume must keep it."""
        return dict(zip(("max_temp", "min_temp", "temp_decay"), self.temps, strict=True))

    def build_model(self, config: Wav2Vec2Config, init: Path | None) -> nn.Module:
        """Random init from `config`, or continue from the pretraining checkpoint in `init`."""
        return Wav2Vec2ForPreTraining.from_pretrained(init) if init else Wav2Vec2ForPreTraining(config)

    def min_samples(self, config: Wav2Vec2Config) -> int:
        """A clip must hold one whole mask span (mask_time_length frames); shorter ones are skipped."""
        return samples_for_frames(config.mask_time_length, config)[0]

    def make_batch(self, clips: list[Clip]) -> dict[str, torch.Tensor]:
        """Padded, per-clip normalised waveforms and their sample_lengths (see `waveform_batch`)."""
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
        cast(Wav2Vec2ForPreTraining, model).set_gumbel_temperature(temperature)
        return {"temperature": temperature}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """`masked_prediction_metrics` on `eval_data` (if given)."""
        if self.eval_data is None:
            return {}
        pretraining = cast(Wav2Vec2ForPreTraining, model)  # the model build_model made
        data = AudioFolder(self.eval_data, min_samples=self.min_samples(pretraining.config))
        return masked_prediction_metrics(pretraining, data.clips)


@torch.no_grad()
def masked_prediction_metrics(model: Wav2Vec2ForPreTraining, clips: Sequence[Clip], seed: int = 0,
                              batch_size: int = 16) -> dict[str, float]:
    """How well a pretraining model solves its own task on `clips`, in eval mode (argmax codes).

    Masks and negatives are drawn with numpy seeded by `seed` (numpy's global state is saved and
    restored), so two models are compared on exactly the same masked frames and distractors.
    Returns accuracy (masked frames whose true target scores higher than all K distractors),
    contrastive loss per masked frame, the codebook perplexity over masked frames (out of G*V),
    the share of distractors identical to their target (masked with -inf), the counts, and
    `chance_accuracy`: the accuracy of guessing among the *distinct* candidates. Distractors are drawn
    with replacement from a few masked frames, and frames that share a code give equal logits, so a frame
    often has far fewer than K different competitors; chance is the mean of 1 / (1 + that number).
    """
    was_training, saved = model.training, np.random.get_state()
    model.eval()
    np.random.seed(seed)
    cfg = model.config
    correct = total = same = negatives = 0
    loss = chance = 0.0
    codes: list[torch.Tensor] = []
    try:
        for start in range(0, len(clips), batch_size):
            batch = waveform_batch(clips[start : start + batch_size])
            device = next(model.parameters()).device
            batch = {k: v.to(device) for k, v in batch.items()}
            valid = frame_mask(output_lengths(batch["sample_lengths"].cpu(), cfg), output_lengths(
                batch["input_values"].shape[1], cfg))  # (B, T) valid frames: masks stay inside them
            shape = (valid.shape[0], valid.shape[1])  # (B, T)
            mask = compute_mask_indices(shape, cfg.mask_time_prob, cfg.mask_time_length, valid,
                                        max(cfg.mask_time_min_masks, 1))
            neg = sample_negative_indices(shape, cfg.num_negatives, mask)
            out = model(**batch, mask_time_indices=torch.tensor(mask, device=device),
                        sampled_negative_indices=torch.tensor(neg, device=device))
            logits = out.logits[out.mask_time_indices]  # (n_masked, 1 + K)
            correct += int((logits[:, 0] > logits[:, 1:].max(-1).values).sum())
            total += logits.shape[0]
            same += int(torch.isinf(logits[:, 1:]).sum())
            negatives += logits[:, 1:].numel()
            chance += sum(1 / (1 + row[torch.isfinite(row)].unique().numel()) for row in logits[:, 1:])
            loss += float(out.contrastive_loss)
            codes.append(out.code_indices[out.mask_time_indices].cpu())
    finally:
        np.random.set_state(saved)
        model.train(was_training)
    chosen = torch.cat(codes)  # (n_masked, G) chosen code per group
    groups, entries = cfg.num_codevector_groups, cfg.num_codevectors_per_group
    usage = torch.stack([torch.bincount(chosen[:, g], minlength=entries) for g in range(groups)]).double()
    marginal = usage / usage.sum(-1, keepdim=True)
    perplexity = torch.exp(-torch.xlogy(marginal, marginal).sum(-1)).sum()
    return {"accuracy": correct / total, "contrastive_loss": loss / total, "perplexity": float(perplexity),
            "identical_negatives": same / negatives, "masked_frames": total,
            "codes_used": int((usage > 0).sum()), "chance_accuracy": chance / total}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-temp", type=float, default=2.0, help="Gumbel temperature at step 0")
    parser.add_argument("--min-temp", type=float, default=0.5, help="Gumbel temperature floor")
    parser.add_argument("--temp-decay", type=float, default=0.999995, help="temperature decay per step")
    parser.add_argument("--eval-data", type=Path, default=None,
                        help="folder for masked-prediction accuracy after training (out/eval.json)")


def make_task(args: argparse.Namespace) -> PretrainTask:
    """Parsed CLI args -> PretrainTask."""
    return PretrainTask(args.max_temp, args.min_temp, args.temp_decay, args.eval_data)
