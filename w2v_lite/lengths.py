"""Length and mask arithmetic, one name per step of the mask chain:

    attention_mask (B, L) 0/1 -> sample_lengths (B,) -> frame_lengths (B,) -> frame_mask (B, T)
                                                                            -> attend_mask (B, 1, 1, T)

`sample_lengths` are the real samples of each clip, `frame_lengths` its real frames (`output_lengths`),
`layer_lengths` the real steps after every conv layer, `frame_mask` is True on real frames
(`lengths_to_mask`) and `attend_mask` is the same mask shaped for attention, True = attend to this key
(`model/context.py`). A plain count of one axis (the padded L, the padded T) is `num_samples` / `num_frames`.

Every conv layer with kernel k and stride s maps a length L to ``floor((L - k) / s) + 1`` (no padding).
For the wav2vec 2.0 stack (kernels 10,3,3,3,3,2,2; strides 5,2,2,2,2,2,2) the seven steps collapse to

    T = floor((L - 400) / 320) + 1      for L >= 400, and T = 0 below 400 samples,

because one frame sees a receptive field of 400 samples (25 ms at 16 kHz) and consecutive frames start
320 samples (20 ms) apart. Below one receptive field the layer-by-layer formula with floor division can go
negative: transformers' `_get_feat_extract_output_lengths` gives 0 frames for 80 to 399 samples and -1
below 80. Here every layer is clamped at 0, so anything below 400 samples is 0 frames, as torchaudio does.

**When a frame "is".** One convention for every time printed or drawn from frames in this package: frame t
is at the **start** of its window, ``t * hop / sampling_rate`` seconds (320 t samples, 20 t ms at 16 kHz),
as transformers' ``output_word_offsets``. A span of frames ``[a, b)`` is ``[start(a), start(b))``. The
window itself runs 400 samples from there, so its centre is 12.5 ms later; nothing here uses the centre.
Use `frame_start_seconds` rather than writing ``* 320 / 16000``.
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
def output_lengths(sample_lengths: int, config: Wav2Vec2Config | None = None) -> int: ...
@overload
def output_lengths(sample_lengths: torch.Tensor, config: Wav2Vec2Config | None = None) -> torch.Tensor: ...


def output_lengths(sample_lengths, config=None):
    """Frames the conv stack makes from `sample_lengths` samples: the frame lengths. int -> int, LongTensor (B,)
    -> (B,).

    Applies ``L -> floor((L - k) / s) + 1`` layer by layer and clamps at 0 (a clip shorter than one
    receptive field gives no frame). `config=None` means the base conv stack.
    """
    return layer_lengths(sample_lengths, config)[-1]


@overload
def require_frames(sample_lengths: int, config: Wav2Vec2Config | None = None) -> int: ...
@overload
def require_frames(sample_lengths: torch.Tensor, config: Wav2Vec2Config | None = None) -> torch.Tensor: ...


def require_frames(sample_lengths, config=None):
    """`output_lengths`, or ValueError when a clip is too short to make one frame. int -> int, (B,) -> (B,).

    The one home of the "shorter than one frame" rule: the model's input check, the CLI, transcription,
    chunking and the cost model all call it, so they all say the same thing.
    """
    frame_lengths = output_lengths(sample_lengths, config)
    field = receptive_field(config)[0]
    rate = (config or Wav2Vec2Config.base()).sampling_rate
    need = f"fewer than the {field} ({1000 * field / rate:g} ms) one frame needs"
    if isinstance(frame_lengths, int):
        if frame_lengths == 0:
            raise ValueError(f"the clip has {sample_lengths} samples, {need}; use a longer clip")
        return frame_lengths
    short = (frame_lengths == 0).nonzero().flatten().tolist()
    if short:
        raise ValueError(f"clips {short} have {sample_lengths[short].tolist()} samples, {need}; pad them to at "
                         "least that length or drop them")
    return frame_lengths


def layer_lengths(sample_lengths, config: Wav2Vec2Config | None = None) -> list:
    """The length after every conv layer: ``[L, L1, ..., L7]`` (ints, or LongTensors of shape (B,)).

    Once a length reaches 0 it stays 0: a layer cannot make frames out of nothing.
    """
    if isinstance(sample_lengths, np.integer):  # e.g. a length read from a numpy array
        sample_lengths = int(sample_lengths)
    if isinstance(sample_lengths, bool) or not isinstance(sample_lengths, (int, torch.Tensor)):
        raise TypeError(f"a sample length must be an int or an integer tensor, got {type(sample_lengths).__name__}")
    if isinstance(sample_lengths, torch.Tensor):
        if sample_lengths.is_floating_point() or sample_lengths.is_complex():
            raise TypeError(f"sample lengths must be an integer tensor (e.g. torch.long), got {sample_lengths.dtype}")
        if (sample_lengths < 0).any():
            raise ValueError("sample lengths must be >= 0")
        sample_lengths = sample_lengths.long()
    elif sample_lengths < 0:
        raise ValueError(f"a sample length must be >= 0, got {sample_lengths}")
    out = [sample_lengths]
    length = sample_lengths
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


@overload
def frame_start_seconds(t: int, config: Wav2Vec2Config | None = None) -> float: ...
@overload
def frame_start_seconds(t: torch.Tensor, config: Wav2Vec2Config | None = None) -> torch.Tensor: ...
@overload
def frame_start_seconds(t: np.ndarray, config: Wav2Vec2Config | None = None) -> np.ndarray: ...


def frame_start_seconds(t, config=None):
    """The package's one frame-time convention: frame `t` starts ``t * hop / sampling_rate`` seconds into
    the clip (base: ``320 t / 16000``, so frame 1 is at 0.02 s). int -> float, (N,) tensor or array -> the
    same shape in float. The end of a span of frames ``[a, b)`` is ``frame_start_seconds(b)``."""
    config = config if config is not None else Wav2Vec2Config.base()
    hop = receptive_field(config)[1]
    if isinstance(t, torch.Tensor):
        return t.double() * hop / config.sampling_rate
    if isinstance(t, np.ndarray):
        return t.astype(np.float64) * hop / config.sampling_rate
    return t * hop / config.sampling_rate


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

    The one mask builder along the chain: `sample_lengths` give the sample mask (size = padded samples L),
    `frame_lengths` give the frame mask (size = T).
    """
    if lengths.dim() != 1:
        raise ValueError(f"lengths must have shape (B,), got {tuple(lengths.shape)}")
    positions = torch.arange(size, device=lengths.device)
    return positions[None, :] < lengths[:, None]


def masked_mean_var(x: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and biased variance of `x` over the positions where `mask` is True, along `dim` (kept).

    `mask` broadcasts against `x`, e.g. x (B, C, T) with mask (B, 1, T) -> two (B, C, 1) tensors. Used to
    normalise over real samples/frames only, so that padding does not change the statistics.
    """
    weight = mask.to(x.dtype)
    count = weight.sum(dim, keepdim=True)
    mean = (x * weight).sum(dim, keepdim=True) / count
    var = (((x - mean) * weight) ** 2).sum(dim, keepdim=True) / count
    return mean, var


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
    """`sample_lengths` from a right-padded sample mask: (B, L) of 0/1 -> (B,) long.

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
    sample_lengths = mask.sum(-1)
    if (sample_lengths == 0).any():
        rows = torch.nonzero(sample_lengths == 0).flatten().tolist()
        raise ValueError(f"attention_mask rows {rows} are all zero: every clip needs at least one real sample")
    return right_padded_lengths(mask.bool(), "attention_mask")


def right_padded_lengths(mask: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """The per-row counts of a right-padded bool mask, (B, N) -> (B,) long; ValueError naming `name` when a
    row is not right-padded. The one home of the right-padding rule, for sample and frame masks alike."""
    counts = mask.sum(-1)
    # right padding means the mask is exactly `arange(N) < count`
    if not torch.equal(mask, lengths_to_mask(counts, mask.shape[-1])):
        raise ValueError(f"{name} is not right-padded (a 0 comes before a 1); put the real samples or frames "
                         "first and the padding at the end, as w2v_lite.audio.pad_batch does")
    return counts
