"""Wav2Vec2Model: one waveform batch through every stage, with the lengths threaded explicitly.

    input_values (B, L) --feature_extractor--> (B, C, T) --transpose--> (B, T, C)
      --feature_projection--> (B, T, H) --[span masking]--> encoder (`ContextNetwork`: pos conv + transformer)
      --> (B, T, H)

Padding comes in either of two forms: a sample-level `attention_mask` (B, L) of 0/1, as in
transformers, or `sample_lengths` (B,) sample counts, as in torchaudio. Either one becomes
`frame_lengths` (B,) via `output_lengths`, then a `frame_mask` (B, T) that the context network uses.
Without either, every sample counts as real (transformers' advice for GroupNorm checkpoints: pad with
zeros, pass no mask).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.lengths import lengths_to_mask, output_lengths
from w2v_lite.model import checkpoints
from w2v_lite.model.context import ContextNetwork
from w2v_lite.model.fast import InferenceCopies
from w2v_lite.model.feature_encoder import FeatureEncoder
from w2v_lite.model.initialization import transformers_init_
from w2v_lite.model.interface import Wav2Vec2Output, validate_inputs
from w2v_lite.model.masking import compute_mask_indices
from w2v_lite.model.projection import FeatureProjection

# head weights found in pretraining / CTC checkpoints that the bare encoder does not use
HEAD_PREFIXES = ("quantizer.", "project_hid.", "project_q.", "lm_head.")


def check_shape(tensor: torch.Tensor, shape: tuple[int | None, ...], name: str = "tensor") -> None:
    """Assert `tensor` has `shape` (None = any size on that axis), d2l-style, with a readable message."""
    ok = tensor.dim() == len(shape) and all(s is None or s == t for s, t in zip(shape, tensor.shape))
    if not ok:
        raise AssertionError(f"{name}: expected shape {shape}, got {tuple(tensor.shape)}")


class Wav2Vec2Model(nn.Module, InferenceCopies):
    """The wav2vec 2.0 encoder (HF `Wav2Vec2Model`): (B, L) samples -> (B, T, H) contextual frames."""

    def __init__(self, config: Wav2Vec2Config):
        super().__init__()
        self.config = config
        self.feature_extractor = FeatureEncoder(config)
        self.feature_projection = FeatureProjection(config)
        if config.mask_time_prob > 0 or config.mask_feature_prob > 0:
            # the learned vector that replaces masked frames (only exists when masking is configured, as in HF)
            self.masked_spec_embed = nn.Parameter(torch.empty(config.hidden_size).uniform_())
        self.encoder = ContextNetwork(config)
        transformers_init_(self)  # PyTorch's default conv init would starve the conv stack (see initialization.py)

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        sample_lengths: torch.Tensor | None = None,
        mask_time_indices: torch.Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> Wav2Vec2Output:
        """(B, L) float waveform [+ (B, L) attention_mask or (B,) sample_lengths] -> `Wav2Vec2Output`.

        Audio of another float precision (float64, float16) is cast to the model's dtype.

        `mask_time_indices` (B, T) bool replaces those frames with `masked_spec_embed` (as in pretraining);
        in training mode with `mask_time_prob > 0` spans are drawn automatically, inside valid frames only.
        """
        input_values, sample_lengths = validate_inputs(input_values, attention_mask, sample_lengths, self.config)
        # e.g. float64 audio -> the model's dtype (read off the first conv: int8 inference quantizes only Linears)
        input_values = input_values.to(next(self.feature_extractor.parameters()).dtype)
        batch = input_values.shape[0]

        features = self.feature_extractor(input_values, sample_lengths)  # (B, C, T): C channels per frame
        features = features.transpose(1, 2)  # (B, T, C): one C-vector per frame
        num_frames = features.shape[1]
        check_shape(features, (batch, None, self.config.conv_dim[-1]), "conv features")

        # the mask chain: attention_mask (B, L) -> sample_lengths (B,) -> frame_lengths (B,) -> frame_mask (B, T)
        padded = False  # does any clip end before the last frame? Decided on the CPU lengths: no device sync
        if sample_lengths is None:
            frame_lengths = torch.full((batch,), num_frames, dtype=torch.long, device=features.device)
            frame_mask = None
        else:
            frame_lengths = output_lengths(sample_lengths, self.config)
            padded = bool((frame_lengths < num_frames).any())
            frame_lengths = frame_lengths.to(features.device)
            frame_mask = lengths_to_mask(frame_lengths, num_frames)  # (B, T), as lengths.frame_mask

        hidden, extract_features = self.feature_projection(features)  # (B, T, H), (B, T, C)
        check_shape(hidden, (batch, num_frames, self.config.hidden_size), "projected features")
        hidden, mask_time_indices = self._mask_hidden_states(hidden, mask_time_indices, frame_mask)

        # without padding the mask changes nothing, and leaving it out lets SDPA take its fastest path
        hidden, states = self.encoder(hidden, frame_mask if padded else None)
        return Wav2Vec2Output(
            last_hidden_state=hidden,
            extract_features=extract_features,
            frame_mask=frame_mask if frame_mask is not None else torch.ones_like(hidden[..., 0], dtype=torch.bool),
            frame_lengths=frame_lengths,
            hidden_states=states if output_hidden_states else None,
            mask_time_indices=mask_time_indices,
        )

    def _mask_hidden_states(
        self, hidden: torch.Tensor, mask_time_indices: torch.Tensor | None, frame_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """SpecAugment-style masking of (B, T, H): time spans -> `masked_spec_embed`, channels -> 0."""
        cfg = self.config
        if not cfg.apply_spec_augment:
            return hidden, None
        batch, num_frames, size = hidden.shape
        if mask_time_indices is None and cfg.mask_time_prob > 0 and self.training:
            mask_time_indices = torch.as_tensor(compute_mask_indices(
                (batch, num_frames), cfg.mask_time_prob, cfg.mask_time_length, frame_mask=frame_mask,
                min_masks=cfg.mask_time_min_masks), device=hidden.device)
        if mask_time_indices is not None:
            mask_time_indices = torch.as_tensor(mask_time_indices, device=hidden.device).bool()
            if mask_time_indices.shape != (batch, num_frames):
                raise ValueError(f"mask_time_indices must have shape {(batch, num_frames)} (B, T frames), "
                                 f"got {tuple(mask_time_indices.shape)}")
            if not hasattr(self, "masked_spec_embed"):
                raise ValueError("mask_time_indices given but the config has mask_time_prob = 0, so the model "
                                 "has no masked_spec_embed; set mask_time_prob > 0")
            hidden = torch.where(mask_time_indices[..., None], self.masked_spec_embed.to(hidden.dtype), hidden)
        if cfg.mask_feature_prob > 0 and self.training:
            channels = torch.as_tensor(compute_mask_indices(
                (batch, size), cfg.mask_feature_prob, cfg.mask_feature_length,
                min_masks=cfg.mask_feature_min_masks), device=hidden.device)
            hidden = hidden.masked_fill(channels[:, None, :], 0.0)
        return hidden, mask_time_indices

    def freeze_feature_encoder(self) -> None:
        """Freeze the conv stack only (as in fine-tuning)."""
        self.feature_extractor.freeze()

    # ---- loading ---------------------------------------------------------------------------------
    @classmethod
    def from_hf(cls, hf_model: nn.Module) -> Wav2Vec2Model:
        """Copy a live `transformers.Wav2Vec2Model` (or a model holding one as `.wav2vec2`)."""
        return checkpoints.build_from_hf(cls, getattr(hf_model, "wav2vec2", hf_model))

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> Wav2Vec2Model:
        """Load `config.json` + weights from `folder` (ours, or transformers' `save_pretrained`).

        Checkpoints of a pretraining or CTC model also load: their "wav2vec2." prefix is stripped and
        their head weights (quantizer, project_hid, project_q, lm_head) are left out.
        """
        model = cls(checkpoints.load_config(folder))
        state = checkpoints.strip_prefix(checkpoints.load_state_dict(folder), "wav2vec2.", drop=HEAD_PREFIXES)
        checkpoints.load_into(model, state, source=str(folder))
        return model.eval()

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write `config.json` + `model.safetensors` into `folder`."""
        return checkpoints.save_pretrained(self, self.config, folder)
