"""Length and mask arithmetic: sample attention_mask -> lengths -> frame_lengths -> frame_mask.

Every conv layer with kernel k and stride s maps a length L to ``floor((L - k) / s) + 1`` (no padding).
For the wav2vec 2.0 stack (kernels 10,3,3,3,3,2,2; strides 5,2,2,2,2,2,2) the seven steps collapse to

    T = floor((L - 400) / 320) + 1      for L >= 400, and T = 0 below 400 samples,

because one frame sees a receptive field of 400 samples (25 ms at 16 kHz) and consecutive frames start
320 samples (20 ms) apart. Below one receptive field the layer-by-layer formula can go negative
(transformers returns -1 for L < ~240); here it is clamped to 0 frames, as torchaudio does.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import torch

from w2v_lite.config import Wav2Vec2Config


def _stack(config: Wav2Vec2Config | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    config = config if config is not None else Wav2Vec2Config.base()
    return config.conv_kernel, config.conv_stride


@overload
def output_lengths(num_samples: int, config: Wav2Vec2Config | None = None) -> int: ...
@overload
def output_lengths(num_samples: torch.Tensor, config: Wav2Vec2Config | None = None) -> torch.Tensor: ...


def output_lengths(num_samples, config=None):
    """Frames the conv stack makes from `num_samples` samples. int -> int, LongTensor (B,) -> (B,).

    Applies ``L -> floor((L - k) / s) + 1`` layer by layer and clamps at 0 (a clip shorter than one
    receptive field gives no frame). `config=None` means the base conv stack.
    """
    return layer_lengths(num_samples, config)[-1]


def layer_lengths(num_samples, config: Wav2Vec2Config | None = None) -> list:
    """The length after every conv layer: ``[L, L1, ..., L7]`` (ints, or LongTensors of shape (B,)).

    Once a length reaches 0 it stays 0: a layer cannot make frames out of nothing.
    """
    if isinstance(num_samples, np.integer):  # e.g. a length read from a numpy array
        num_samples = int(num_samples)
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, torch.Tensor)):
        raise TypeError(f"num_samples must be an int or an integer tensor, got {type(num_samples).__name__}")
    if isinstance(num_samples, torch.Tensor):
        if num_samples.is_floating_point() or num_samples.is_complex():
            raise TypeError("num_samples must be an integer tensor (e.g. torch.long), got " + str(num_samples.dtype))
        if (num_samples < 0).any():
            raise ValueError("num_samples must be >= 0")
        num_samples = num_samples.long()
    elif num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    out = [num_samples]
    length = num_samples
    for k, s in zip(*_stack(config)):
        if isinstance(length, torch.Tensor):
            length = torch.clamp(torch.div(length - k, s, rounding_mode="floor") + 1, min=0)
        else:
            length = max((length - k) // s + 1, 0)
        out.append(length)
    return out


def layer_receptive_fields(config: Wav2Vec2Config | None = None) -> list[tuple[int, int]]:
    """(samples one output step sees, samples between output steps) after each conv layer, from the kernels
    and strides. Base: [(10, 5), (20, 10), ..., (400, 320)].

    One more output step of a layer with kernel k widens the window by ``(k - 1) * jump`` input samples,
    where `jump` is the product of the strides below it.
    """
    fields, field, jump = [], 1, 1
    for k, s in zip(*_stack(config)):
        field += (k - 1) * jump
        jump *= s
        fields.append((field, jump))
    return fields


def receptive_field(config: Wav2Vec2Config | None = None) -> tuple[int, int]:
    """(samples one frame sees, samples between frame starts) of the whole stack. Base: (400, 320)."""
    return layer_receptive_fields(config)[-1]


def samples_for_frames(num_frames: int, config: Wav2Vec2Config | None = None) -> tuple[int, int]:
    """The inverse of `output_lengths`: the range ``[lo, hi]`` of sample counts that give exactly
    `num_frames` frames (int -> (int, int)). Base: T frames need ``400 + 320 (T-1)`` to ``400 + 320 T - 1``
    samples; T = 0 is any length from 0 to 399."""
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    field, hop = receptive_field(config)
    lo = 0 if num_frames == 0 else field + hop * (num_frames - 1)
    # the closed form is exact only for a stack whose layers never drop samples unevenly, so search
    # from the closed-form guess using the real layer-by-layer arithmetic
    while lo > 0 and output_lengths(lo - 1, config) >= num_frames:
        lo -= 1
    while output_lengths(lo, config) < num_frames:
        lo += 1
    hi = lo
    while output_lengths(hi + 1, config) == num_frames:
        hi += 1
    return lo, hi


def lengths_to_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """Right-padding mask from per-clip counts: (B,) long -> (B, size) bool, True at positions < lengths[b].

    The one mask builder along the chain: sample counts give the sample mask (size = padded samples L),
    frame counts give the frame mask (size = T).
    """
    if lengths.dim() != 1:
        raise ValueError(f"lengths must have shape (B,), got {tuple(lengths.shape)}")
    positions = torch.arange(size, device=lengths.device)
    return positions[None, :] < lengths[:, None]


def frame_mask(frame_lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Valid-frame mask from per-clip frame counts: (B,) long -> (B, T) bool, True on real frames.

    Assumes right padding (the valid frames of a clip come first), like every wav2vec 2.0 code base.
    Raises TypeError for anything but an integer tensor and ValueError for a count outside [0, T]: a mask
    cannot show frames the clip does not have, so such a count is a bug upstream, not something to clip.
    """
    if not isinstance(frame_lengths, torch.Tensor):
        raise TypeError(f"frame_lengths must be an integer torch.Tensor of shape (B,), got "
                        f"{type(frame_lengths).__name__}; wrap it as torch.tensor([...])")
    if frame_lengths.is_floating_point() or frame_lengths.is_complex() or frame_lengths.dtype == torch.bool:
        raise TypeError(f"frame_lengths must hold integer frame counts, got {frame_lengths.dtype}")
    if isinstance(num_frames, torch.Tensor) and num_frames.dim() == 0 and not num_frames.is_floating_point():
        num_frames = int(num_frames)
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)):
        raise TypeError(f"num_frames must be an int (T), got {type(num_frames).__name__}")
    if frame_lengths.dim() != 1:
        raise ValueError(f"frame_lengths must have shape (B,), got {tuple(frame_lengths.shape)}")
    if num_frames < 0 or (frame_lengths < 0).any() or (frame_lengths > num_frames).any():
        raise ValueError(f"frame_lengths must lie in [0, T = {num_frames}], got {frame_lengths.tolist()}; a count "
                         "above T means the lengths and the frames come from different batches")
    return lengths_to_mask(frame_lengths, int(num_frames))


def lengths_from_attention_mask(attention_mask: torch.Tensor, num_samples: int | None = None) -> torch.Tensor:
    """Sample counts from a right-padded sample mask: (B, L) of 0/1 -> (B,) long.

    Raises ValueError for a mask that is not (B, L), holds values other than 0/1, is left-padded (a 0
    before a 1) or has an all-zero row, because each of those would silently give wrong frame masks.
    """
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must have shape (B, L), got {tuple(attention_mask.shape)}")
    if num_samples is not None and attention_mask.shape[1] != num_samples:
        raise ValueError(
            f"attention_mask has length {attention_mask.shape[1]} but input_values has {num_samples} samples; "
            "build both from the same padded batch (see w2v_lite.audio.pad_batch)"
        )
    mask = attention_mask.long()
    if ((mask != 0) & (mask != 1)).any():
        raise ValueError("attention_mask must hold only 0 (padding) and 1 (real samples)")
    lengths = mask.sum(-1)
    if (lengths == 0).any():
        rows = torch.nonzero(lengths == 0).flatten().tolist()
        raise ValueError(f"attention_mask rows {rows} are all zero: every clip needs at least one real sample")
    # right padding means the mask is exactly `arange(L) < length`
    if not torch.equal(mask.bool(), lengths_to_mask(lengths, mask.shape[1])):
        raise ValueError(
            "attention_mask is not right-padded (a 0 comes before a 1); put the real samples first and the "
            "padding at the end, as w2v_lite.audio.pad_batch does"
        )
    return lengths
