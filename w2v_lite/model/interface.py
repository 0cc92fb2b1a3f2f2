"""What a model takes and returns, shared by the torch modules and the ONNX Runtime backend (`runtime.py`), so
that the backend never imports the modules it stands in for.

    validate_inputs(input_values (B, L), attention_mask, sample_lengths, config) -> (B, L), sample_lengths (B,)
    Wav2Vec2Output    what `Wav2Vec2Model` returns: last_hidden_state (B, T, H), frame_lengths, frame_mask, ...
    CTCOutput         what `Wav2Vec2ForCTC` returns: logits (B, T, V), frame_lengths, frame_mask, loss
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.lengths import lengths_from_attention_mask, require_frames

__all__ = ["CTCOutput", "Wav2Vec2Output", "validate_inputs"]


@dataclass
class Wav2Vec2Output:
    """What `Wav2Vec2Model` returns."""

    last_hidden_state: torch.Tensor  # (B, T, H)
    extract_features: torch.Tensor  # (B, T, C): LayerNorm-ed conv features, the quantizer's input
    frame_mask: torch.Tensor  # (B, T) bool, True on valid frames
    frame_lengths: torch.Tensor  # (B,) long, valid frames per clip
    hidden_states: tuple[torch.Tensor, ...] | None = None  # num_hidden_layers + 1 tensors (B, T, H)
    mask_time_indices: torch.Tensor | None = None  # (B, T) bool, the frames replaced by masked_spec_embed


def validate_inputs(
    input_values: torch.Tensor,
    attention_mask: torch.Tensor | None,
    sample_lengths: torch.Tensor | None,
    config: Wav2Vec2Config,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Check a batch and return ``(input_values (B, L), sample_lengths (B,) on the CPU, or None)``.

    A 1-D input (L,) is taken as a batch of one. Raises TypeError / ValueError naming the problem and the
    fix for: non-float or non-tensor input, wrong rank, empty batch, NaN/Inf, bad masks or sample_lengths, and
    clips too short to make a single frame.
    """
    dtype = getattr(input_values, "dtype", None)
    if isinstance(input_values, torch.Tensor):
        integer = not input_values.is_floating_point()
    else:
        integer = isinstance(dtype, np.dtype) and dtype.kind in "iub"
    if integer:  # raw PCM: a plain cast would feed samples in the thousands to a model trained on [-1, 1]
        scale = {"int16": " (x / 32768 for int16)", "int32": " (x / 2**31 for int32)", "uint8": " ((x - 128) / 128 "
                 "for 8-bit WAV)"}.get(str(dtype).removeprefix("torch."), "")
        raise TypeError(f"input_values must be floating point in [-1, 1], but it holds integers "
                        f"({type(input_values).__name__} of {dtype}), i.e. raw PCM; scale it to [-1, 1] first{scale}, "
                        "as float32, or read files with w2v_lite.data.audio.load, which does this")
    if not isinstance(input_values, torch.Tensor):
        raise TypeError(f"input_values must be a torch.Tensor, got {type(input_values).__name__}; "
                        "use torch.as_tensor(x, dtype=torch.float32)")
    if input_values.dim() == 1:
        input_values = input_values[None]
    if input_values.dim() != 2:
        raise ValueError(f"input_values must have shape (B, L) (or (L,) for one clip), got "
                         f"{tuple(input_values.shape)}; drop the channel axis or mix to mono first")
    batch, num_samples = input_values.shape
    if batch == 0:
        raise ValueError("empty batch: input_values has 0 clips; pass at least one waveform")
    if not torch.isfinite(input_values).all():
        raise ValueError("input_values contains NaN or Inf samples; clean or drop those clips")
    from_mask = None
    if attention_mask is not None:
        if attention_mask.dim() != 2 or attention_mask.shape[0] != batch:
            raise ValueError(f"attention_mask must have shape {(batch, num_samples)} like input_values, "
                             f"got {tuple(attention_mask.shape)}")
        from_mask = lengths_from_attention_mask(attention_mask, num_samples).cpu()
    if sample_lengths is not None:
        sample_lengths = torch.as_tensor(sample_lengths)
        if sample_lengths.is_floating_point() or sample_lengths.dim() != 1 or sample_lengths.shape[0] != batch:
            raise ValueError(f"sample_lengths must be an integer tensor of shape ({batch},), got "
                             f"{sample_lengths.dtype} {tuple(sample_lengths.shape)}")
        sample_lengths = sample_lengths.long().cpu()  # checked on the host: a few numbers, no device sync
        if (sample_lengths < 0).any() or (sample_lengths > num_samples).any():
            raise ValueError(f"sample_lengths must lie in [0, {num_samples}] (the padded input length), got "
                             f"{sample_lengths.tolist()}")
        if from_mask is not None and not torch.equal(sample_lengths, from_mask):
            raise ValueError(f"attention_mask and sample_lengths disagree: mask gives {from_mask.tolist()}, "
                             f"sample_lengths are {sample_lengths.tolist()}; pass only one of them")
    else:
        sample_lengths = from_mask
    require_frames(sample_lengths if sample_lengths is not None else torch.full((batch,), num_samples), config)
    return input_values, sample_lengths


@dataclass
class CTCOutput:
    """What `Wav2Vec2ForCTC` returns."""

    logits: torch.Tensor  # (B, T, V) per-frame class scores (padding frames hold garbage: use frame_mask)
    frame_lengths: torch.Tensor  # (B,) long: valid frames per clip = the CTC input lengths
    frame_mask: torch.Tensor  # (B, T) bool, True on valid frames
    loss: torch.Tensor | None = None  # () when labels are given
    hidden_states: tuple[torch.Tensor, ...] | None = None
