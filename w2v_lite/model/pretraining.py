"""wav2vec 2.0 pretraining: masked frames must pick out their own quantized target among distractors.

    input_values (B, L) -> Wav2Vec2Model (masked frames replaced) -> c_t (B, T, H) -> project_hid -> (B, T, P)
                  \\-> extract_features (B, T, C) -> quantizer -> q_t (B, T, D) -> project_q -> (B, T, P)

For every masked frame t the logits are ``cos(c_t, [q_t, q_neg1 .. q_negK]) / kappa``; the contrastive
loss is the cross-entropy with the true target at index 0, summed over masked frames. A diversity loss
pushes the quantizer to use the whole codebook. The module and parameter names equal transformers'
``Wav2Vec2ForPreTraining``, so its state dicts load unchanged and the losses agree to fp32 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.model import checkpoints
from w2v_lite.model.masking import sample_negative_indices
from w2v_lite.model.quantizer import GumbelVectorQuantizer
from w2v_lite.model.wav2vec2 import Wav2Vec2Model, Wav2Vec2Output


@dataclass
class PreTrainingOutput:
    """What `Wav2Vec2ForPreTraining` returns. Losses are None when no negatives were used."""

    projected_states: torch.Tensor  # (B, T, P): project_hid(c_t), the predictions
    projected_quantized_states: torch.Tensor  # (B, T, P): project_q(q_t), the targets
    codevector_perplexity: torch.Tensor  # (): codebook usage over the masked frames, at most G*V
    frame_mask: torch.Tensor  # (B, T) bool, True on valid (non-padding) frames
    code_indices: torch.Tensor  # (B, T, G) long: the codevector each group chose for each frame
    mask_time_indices: torch.Tensor | None = None  # (B, T) bool: the masked frames
    sampled_negative_indices: torch.Tensor | None = None  # (B, T, K) long, flat into (B*T)
    logits: torch.Tensor | None = None  # (B, T, 1+K) fp32: positive at index 0
    loss: torch.Tensor | None = None  # (): contrastive + diversity_loss_weight * diversity
    contrastive_loss: torch.Tensor | None = None  # (): summed over masked frames
    diversity_loss: torch.Tensor | None = None  # (): scaled by the number of masked frames
    hidden_states: tuple[torch.Tensor, ...] | None = None


def gather_negatives(quantized: torch.Tensor, negative_indices: torch.Tensor) -> torch.Tensor:
    """Look up distractors: ``(B, T, P), flat indices (B, T, K) into B*T -> (B, T, K, P)``."""
    batch, num_frames, size = quantized.shape
    flat = quantized.reshape(batch * num_frames, size)[negative_indices.long().reshape(-1)]
    return flat.view(*negative_indices.shape, size)


def contrastive_logits(
    predicted: torch.Tensor,
    quantized: torch.Tensor,
    negative_indices: torch.Tensor,
    temperature: float = 0.1,
) -> torch.Tensor:
    """``predicted (B, T, P), quantized (B, T, P), negative_indices (B, T, K) -> logits (B, T, 1+K)`` fp32.

    ``logits[b, t, 0] = cos(predicted[b, t], quantized[b, t]) / temperature`` (the true target) and
    ``logits[b, t, k] = cos(predicted[b, t], negative k) / temperature``. A distractor that is *identical*
    to the target (same codevectors chosen, common when few codes are in use) would be an unfair
    "wrong" answer, so its logit is set to -inf.
    """
    negatives = gather_negatives(quantized, negative_indices)  # (B, T, K, P)
    candidates = torch.cat([quantized[:, :, None], negatives], dim=2)  # (B, T, 1+K, P)
    # cosine in fp32 even for half-precision models, as in transformers
    logits = torch.cosine_similarity(predicted[:, :, None].float(), candidates.float(), dim=-1) / temperature
    same_as_target = (negatives == quantized[:, :, None]).all(-1)  # (B, T, K)
    return torch.cat([logits[..., :1], logits[..., 1:].masked_fill(same_as_target, float("-inf"))], dim=-1)


def contrastive_loss(logits: torch.Tensor, mask_time_indices: torch.Tensor) -> torch.Tensor:
    """``logits (B, T, 1+K), mask (B, T) -> ()``: cross-entropy with target 0, summed over masked frames.

    For one masked frame this is ``-log_softmax(logits[b, t])[0]``.
    """
    picked = logits[mask_time_indices.bool()].float()  # (n_masked, 1+K)
    target = torch.zeros(picked.shape[0], dtype=torch.long, device=picked.device)
    return F.cross_entropy(picked, target, reduction="sum")


def diversity_loss(
    perplexity: torch.Tensor, num_codevectors: int, num_masked: int | torch.Tensor
) -> torch.Tensor:
    """``(G*V - perplexity) / (G*V) * n_masked -> ()``: 0 when all G*V codes are used equally often.

    Scaled by the number of masked frames so that it keeps its weight next to the *summed* contrastive
    loss (forgetting this scaling is a known bug, HF #14524).
    """
    return (num_codevectors - perplexity) / num_codevectors * num_masked


class Wav2Vec2ForPreTraining(nn.Module):
    """Encoder + quantizer + the two projections to the contrastive space P = proj_codevector_dim."""

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        self.config = config
        self.wav2vec2 = Wav2Vec2Model(config)
        self.dropout_features = nn.Dropout(config.feat_quantizer_dropout)
        self.quantizer = GumbelVectorQuantizer(config)
        self.project_hid = nn.Linear(config.hidden_size, config.proj_codevector_dim)
        self.project_q = nn.Linear(config.codevector_dim, config.proj_codevector_dim)

    def set_gumbel_temperature(self, temperature: float) -> None:
        """Set the quantizer's Gumbel-softmax temperature (see `quantizer.gumbel_temperature(step)`)."""
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.quantizer.temperature = float(temperature)

    def freeze_feature_encoder(self) -> None:
        """Freeze the conv stack only."""
        self.wav2vec2.freeze_feature_encoder()

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        sample_lengths: torch.Tensor | None = None,
        mask_time_indices: torch.Tensor | np.ndarray | None = None,
        sampled_negative_indices: torch.Tensor | np.ndarray | None = None,
        output_hidden_states: bool = False,
    ) -> PreTrainingOutput:
        """``(B, L) waveform [+ (B, L) attention_mask or (B,) sample_lengths] -> PreTrainingOutput``.

        ``mask_time_indices (B, T)`` and ``sampled_negative_indices (B, T, K)`` (flat into B*T, as from
        `masking.sample_negative_indices`) may be given. In training mode, missing ones are drawn here:
        spans with `compute_mask_indices` inside the valid frames (config.mask_time_*), then K =
        config.num_negatives distractors per masked frame. In eval mode nothing is drawn and the losses
        are computed only when both are given (as in transformers).
        """
        self._check_masking_arguments(mask_time_indices, sampled_negative_indices)
        out: Wav2Vec2Output = self.wav2vec2(
            input_values, attention_mask=attention_mask, sample_lengths=sample_lengths,
            mask_time_indices=mask_time_indices, output_hidden_states=output_hidden_states,
        )
        result = self._predictions_and_targets(out)
        if result.mask_time_indices is None:  # nothing masked (eval mode, no mask given): nothing to predict
            return result
        negatives = self._negative_indices(sampled_negative_indices, result.mask_time_indices,
                                           result.projected_quantized_states.device)
        if negatives is not None:  # None in eval mode without given negatives: no losses, as in transformers
            self._add_losses(result, result.mask_time_indices, negatives)
        return result

    def _check_masking_arguments(
        self,
        mask_time_indices: torch.Tensor | np.ndarray | None,
        sampled_negative_indices: torch.Tensor | np.ndarray | None,
    ) -> None:
        """ValueError for what cannot work before the model runs: negatives without the mask they were drawn
        for, or a training step that would mask nothing (no given mask and config.mask_time_prob <= 0)."""
        if sampled_negative_indices is not None and mask_time_indices is None:
            raise ValueError("sampled_negative_indices needs the mask_time_indices they were drawn for")
        if self.training and mask_time_indices is None and self.config.mask_time_prob <= 0:
            raise ValueError(
                "pretraining needs masked frames: set config.mask_time_prob > 0 or pass mask_time_indices"
            )

    def _predictions_and_targets(self, out: Wav2Vec2Output) -> PreTrainingOutput:
        """The encoder's output -> a `PreTrainingOutput` without losses: predictions (B, T, P) from the
        context network, targets (B, T, P) from the quantized conv features, the (B, T) masked frames."""
        mask_time_indices = out.mask_time_indices  # (B, T) bool, drawn by the model if not given
        if mask_time_indices is not None and (mask_time_indices & ~out.frame_mask).any():
            raise ValueError("mask_time_indices marks padded frames; build it with the frame mask "
                             "(compute_mask_indices(..., frame_mask=frame_mask))")
        # 1. predictions: every transformer output, masked frames included, projected to P
        projected_states = self.project_hid(out.last_hidden_state)
        # 2. targets: the *unmasked* conv features, quantized and projected to P
        features = self.dropout_features(out.extract_features)
        quantized, perplexity, code_indices = self.quantizer(features, mask_time_indices, return_indices=True)
        projected_quantized = self.project_q(quantized.to(self.project_q.weight.dtype))
        return PreTrainingOutput(
            projected_states=projected_states,
            projected_quantized_states=projected_quantized,
            codevector_perplexity=perplexity,
            frame_mask=out.frame_mask,
            code_indices=code_indices,
            mask_time_indices=mask_time_indices,
            hidden_states=out.hidden_states,
        )

    def _negative_indices(
        self, given: torch.Tensor | np.ndarray | None, mask_time_indices: torch.Tensor, device: torch.device
    ) -> torch.Tensor | None:
        """The distractors as (B, T, K) long flat indices into B*T on `device`: `given` after checking its
        shape and range, else drawn for the masked frames (B, T) in training mode, else (eval) None."""
        batch, num_frames = mask_time_indices.shape
        if given is None:
            if not self.training:
                return None
            given = sample_negative_indices(
                (batch, num_frames), self.config.num_negatives, mask_time_indices.cpu().numpy()
            )
        negatives = torch.as_tensor(given, device=device).long()
        if negatives.dim() != 3 or negatives.shape[:2] != (batch, num_frames):
            raise ValueError(f"sampled_negative_indices must have shape ({batch}, {num_frames}, K), "
                             f"got {tuple(negatives.shape)}")
        if negatives.numel() and (negatives.min() < 0 or negatives.max() >= batch * num_frames):
            raise ValueError(f"sampled_negative_indices must be flat indices in [0, {batch * num_frames})")
        return negatives

    def _add_losses(self, result: PreTrainingOutput, mask_time_indices: torch.Tensor, negatives: torch.Tensor) -> None:
        """Fill in `result`'s logits (B, T, 1+K) and losses () from its predictions and targets, the (B, T)
        masked frames and the (B, T, K) distractor indices."""
        # 3.-5. logits over [target, K distractors], cross-entropy at masked frames, diversity
        logits = contrastive_logits(
            result.projected_states, result.projected_quantized_states, negatives,
            self.config.contrastive_logits_temperature,
        )
        num_masked = mask_time_indices.sum()
        num_codevectors = self.config.num_codevectors_per_group * self.config.num_codevector_groups
        result.sampled_negative_indices = negatives
        result.logits = logits
        result.contrastive_loss = contrastive_loss(logits, mask_time_indices)
        result.diversity_loss = diversity_loss(result.codevector_perplexity, num_codevectors, num_masked)
        result.loss = result.contrastive_loss + self.config.diversity_loss_weight * result.diversity_loss

    # ---- loading ---------------------------------------------------------------------------------
    @classmethod
    def from_hf(cls, hf_model: nn.Module) -> Wav2Vec2ForPreTraining:
        """Copy a live `transformers.Wav2Vec2ForPreTraining` (same parameter names)."""
        return checkpoints.build_from_hf(cls, hf_model)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> Wav2Vec2ForPreTraining:
        """Load `config.json` + weights of a pretraining checkpoint (ours or transformers')."""
        return checkpoints.build_from_folder(cls, folder)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write `config.json` + `model.safetensors` into `folder`."""
        return checkpoints.save_pretrained(self, self.config, folder)
