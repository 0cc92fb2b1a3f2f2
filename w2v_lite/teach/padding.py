"""Measuring what padding does to a model: the numbers behind notebook 03 and its figures.

    padding_invariance_error(model, clip, extra)  how much zero padding changes a clip's valid frames
    sweep(model, clip, extras)                    the same for several padding lengths
    leak_without_zeroing(model, clip, extra)      why padded frames are zeroed before the positional conv
    mask_stages(sample_lengths)                   sample mask -> frame mask -> attention's attend_mask
    naive_normalize / valid_stats                 normalising over padding vs over the real samples only
    realistic_lengths / padding_waste             padded share of frames, naive vs length-bucketed batches

Everything here only *measures*: it calls the model and its submodules and never re-implements them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data.audio import PaddedBatch, normalize, pad_batch
from w2v_lite.data.batching import bucket_batches, naive_batches, padded_fraction
from w2v_lite.lengths import frame_mask, lengths_to_mask, output_lengths
from w2v_lite.model.wav2vec2 import Wav2Vec2Model

__all__ = [
    "LeakResult",
    "MaskStages",
    "crops",
    "leak_without_zeroing",
    "mask_stages",
    "naive_normalize",
    "padding_invariance_error",
    "padding_waste",
    "realistic_lengths",
    "sweep",
    "valid_stats",
]


def _check_model_and_clip(model: Wav2Vec2Model, clip: torch.Tensor) -> torch.Tensor:
    if not isinstance(model, Wav2Vec2Model):
        raise TypeError(f"model must be a w2v_lite Wav2Vec2Model, got {type(model).__name__}")
    if model.training:
        # dropout would make two runs differ even without padding
        raise ValueError("model is in training mode (dropout is on); call model.eval() first")
    if not isinstance(clip, torch.Tensor) or clip.dim() != 1 or not clip.is_floating_point():
        raise TypeError("clip must be a 1-D float tensor (L,) of samples, e.g. w2v_lite.audio.load_default()")
    return clip


def _check_extra(extra_samples: int) -> int:
    if isinstance(extra_samples, bool) or not isinstance(extra_samples, (int, np.integer)):
        raise TypeError(f"extra_samples must be an int (zero samples appended), got {extra_samples!r}")
    if extra_samples < 0:
        raise ValueError(f"extra_samples must be an int >= 0 (zero samples appended), got {extra_samples!r}")
    return int(extra_samples)


def padding_invariance_error(
    model: Wav2Vec2Model, clip: torch.Tensor, extra_samples: int, use_mask: bool = True
) -> float:
    """Max |change| of the clip's valid output frames when `extra_samples` zeros are appended.

    clip (L,) -> float. Runs the clip alone, (1, L), and right-padded, (1, L + extra); with `use_mask` the
    padded run is told the true length (the frame mask), without it every sample counts as real.
    Compares `last_hidden_state` on the clip's own `output_lengths(L)` frames only.
    """
    return sweep(model, clip, [extra_samples], use_mask)[0]


def sweep(
    model: Wav2Vec2Model, clip: torch.Tensor, extras: Sequence[int], use_mask: bool = True
) -> list[float]:
    """`padding_invariance_error` for every padding length in `extras`: (N,) ints -> N floats.

    The unpadded run is done once and reused for every padding length.
    """
    clip = _check_model_and_clip(model, clip)
    extras = [_check_extra(e) for e in extras]
    sample_lengths = torch.tensor([clip.numel()]) if use_mask else None
    errors = []
    with torch.no_grad():
        alone = model(clip[None]).last_hidden_state[0]  # (T, H)
        for extra in extras:
            padded = torch.cat([clip, clip.new_zeros(extra)])[None]  # (1, L + extra)
            with_pad = model(padded, sample_lengths=sample_lengths).last_hidden_state[0, : alone.shape[0]]
            errors.append(float((alone - with_pad).abs().max()))
    return errors


@dataclass
class LeakResult:
    """Per valid frame, max |change| of the positional-conv output caused by padding: (T,) each."""

    without_zeroing: torch.Tensor  # padded frames left as the projection made them
    with_zeroing: torch.Tensor  # padded frames set to 0 first, as the encoder does
    kernel: int  # frames the positional conv sees at once

    @property
    def leaky_frames(self) -> int:
        """How many valid frames (all at the end of the clip) padding reaches when it is not zeroed.

        A frame counts if it moves by more than 1e-4: float rounding alone stays near 1e-6."""
        return int((self.without_zeroing > 1e-4).sum())


def leak_without_zeroing(model: Wav2Vec2Model, clip: torch.Tensor, extra_samples: int) -> LeakResult:
    """Show the leak that zeroing padded frames prevents. clip (L,) -> `LeakResult` over its T frames.

    Runs `feature_extractor` + `feature_projection` on the clip alone and padded by `extra_samples`
    zeros, then `encoder.pos_conv_embed` on the padded frames twice: as they come (padding frames hold
    whatever the projection made of silence, which is not 0) and zeroed beyond the clip's frames.
    Needs a model whose conv features of the valid frames don't depend on padding (a layer-norm stack or
    `mask_aware_group_norm=True`), so that the positional conv is the only place padding can enter.
    """
    clip = _check_model_and_clip(model, clip)
    extra_samples = _check_extra(extra_samples)
    cfg = model.config
    if cfg.feat_extract_norm == "group" and not cfg.mask_aware_group_norm:
        raise ValueError("this model's GroupNorm already lets padding in before the positional conv; use a "
                         "feat_extract_norm='layer' config or mask_aware_group_norm=True to isolate the leak")
    padded = torch.cat([clip, clip.new_zeros(extra_samples)])[None]
    sample_lengths = torch.tensor([clip.numel()])
    with torch.no_grad():
        alone, _ = model.feature_projection(model.feature_extractor(clip[None], sample_lengths).transpose(1, 2))
        hidden, _ = model.feature_projection(model.feature_extractor(padded, sample_lengths).transpose(1, 2))
        num_valid = alone.shape[1]
        valid = frame_mask(output_lengths(sample_lengths, cfg), hidden.shape[1])  # (1, T_padded)
        zeroed = hidden.masked_fill(~valid[:, :, None], 0.0)
        reference = model.encoder.pos_conv_embed(alone)[0]  # (T, H): no padding at all
        leak = model.encoder.pos_conv_embed(hidden)[0, :num_valid]
        safe = model.encoder.pos_conv_embed(zeroed)[0, :num_valid]
    return LeakResult(without_zeroing=(leak - reference).abs().amax(-1),
                      with_zeroing=(safe - reference).abs().amax(-1), kernel=cfg.num_conv_pos_embeddings)


@dataclass
class MaskStages:
    """The three masks of a padded batch, from samples to attention."""

    sample_mask: torch.Tensor  # (B, L) bool, True on real samples
    frame_lengths: torch.Tensor  # (B,) long, valid frames per clip = output_lengths(sample_lengths)
    frame_mask: torch.Tensor  # (B, T) bool, True on real frames
    attend_mask: torch.Tensor  # (B, 1, 1, T) bool, True = attend to this key: what self-attention receives


def mask_stages(sample_lengths: Sequence[int], config: Wav2Vec2Config | None = None) -> MaskStages:
    """Masks for a right-padded batch of clips with `sample_lengths` samples each: (B,) ints -> `MaskStages`.

    The frame count of the padded batch is that of its longest clip; each clip's valid frames come from
    its own sample count through the same `output_lengths` formula.
    """
    samples = torch.as_tensor(list(sample_lengths), dtype=torch.long)
    if samples.dim() != 1 or samples.numel() == 0 or bool((samples < 1).any()):
        raise ValueError(f"sample_lengths must be a non-empty list of positive sample counts, got "
                         f"{list(sample_lengths)}")
    longest = int(samples.max())
    frame_lengths = output_lengths(samples, config)
    fmask = frame_mask(frame_lengths, int(output_lengths(longest, config)))
    return MaskStages(sample_mask=lengths_to_mask(samples, longest), frame_lengths=frame_lengths,
                      frame_mask=fmask, attend_mask=fmask[:, None, None, :])


def naive_normalize(input_values: torch.Tensor) -> torch.Tensor:
    """The common mistake: zero mean, unit variance over each *padded* row, zeros included. (B, L) -> (B, L).

    This is `w2v_lite.audio.normalize` without sample_lengths; compare it with `normalize(x, sample_lengths)`.
    """
    return normalize(input_values)


def valid_stats(input_values: torch.Tensor, sample_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of each clip's real samples: (B, L), (B,) -> ((B,), (B,)) float64."""
    if input_values.dim() != 2 or sample_lengths.shape != (input_values.shape[0],):
        raise ValueError(f"need input_values (B, L) and sample_lengths (B,), got {tuple(input_values.shape)} "
                         f"and {tuple(sample_lengths.shape)}")
    means, stds = [], []
    for row, n in zip(input_values.double(), sample_lengths.tolist()):
        means.append(row[:n].mean())
        stds.append(row[:n].std(unbiased=False))
    return torch.stack(means), torch.stack(stds)


def realistic_lengths(n: int = 400, seed: int = 0, sampling_rate: int = 16000) -> list[int]:
    """Clip lengths in samples like a read-speech corpus: log-normal, median ~3.3 s, clipped to 0.5-15 s."""
    rng = np.random.default_rng(seed)
    seconds = np.clip(rng.lognormal(mean=1.2, sigma=0.5, size=n), 0.5, 15.0)
    return [int(s * sampling_rate) for s in seconds]


def padding_waste(
    sample_lengths: Sequence[int], batch_size: int = 8, max_samples_per_batch: int | None = None, seed: int = 0
) -> dict[str, float]:
    """Share of the transformer's frames that are padding, for shuffled naive batches of `batch_size` and
    for length-bucketed batches with the same padded-sample budget per batch (default: `batch_size` times
    the mean length). (N,) sample_lengths -> {"naive": fraction, "bucketed": fraction}."""
    sample_lengths = [int(n) for n in sample_lengths]
    budget = max_samples_per_batch or batch_size * int(np.mean(sample_lengths))
    naive = naive_batches(len(sample_lengths), batch_size, shuffle=True, seed=seed)
    bucketed = bucket_batches(sample_lengths, budget, shuffle=True, seed=seed)
    return {"naive": padded_fraction(sample_lengths, naive),
            "bucketed": padded_fraction(sample_lengths, bucketed)}


def crops(clip: torch.Tensor, seconds: Sequence[float], sampling_rate: int = 16000) -> PaddedBatch:
    """Pieces of one clip as a padded batch: the first `s` seconds for each s. (L,) -> `PaddedBatch`."""
    return pad_batch([clip[: round(s * sampling_rate)] for s in seconds])
