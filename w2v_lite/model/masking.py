"""Span masking and negative sampling for wav2vec 2.0 pretraining.

Both functions draw from numpy's *global* RNG in exactly the same order as transformers'
``_compute_mask_indices`` and ``_sample_negative_indices``, so ``np.random.seed(s)`` followed by either
implementation gives the same masks and the same negatives.

Deliberate differences from transformers (both fix reported bugs, neither changes the RNG stream):

* ``compute_mask_indices`` never marks padded frames. transformers pads every utterance's list of span
  starts to a common length with a "dummy" start; when an utterance gets *zero* spans (a clip shorter than
  a span, or a low ``mask_prob`` rounded down) the dummy is the last frame of the batch, which is padding,
  so one padded frame ends up masked (and later becomes a contrastive target). We drop that frame.
* ``sample_negative_indices`` raises a clear ``ValueError`` when an utterance has fewer than 2 masked
  frames. transformers crashes with numpy's cryptic ``high <= 0`` for exactly one masked frame, and
  silently returns meaningless indices for zero masked frames.
"""

from __future__ import annotations

import numpy as np
import torch

from w2v_lite.lengths import right_padded_lengths


def _as_bool_array(mask: torch.Tensor | np.ndarray) -> np.ndarray:
    """Torch or numpy mask of any dtype -> numpy bool array (same shape)."""
    return (mask.detach().cpu().numpy() if torch.is_tensor(mask) else np.asarray(mask)).astype(bool)


def _frame_lengths(frame_mask: torch.Tensor | np.ndarray, shape: tuple[int, int]) -> list[int]:
    """`frame_lengths` from a right-padded frame mask ``(B, T) -> [B ints]``."""
    mask = _as_bool_array(frame_mask)
    if mask.shape != tuple(shape):
        raise ValueError(
            f"frame_mask has shape {mask.shape} but masks are requested for shape {tuple(shape)}; "
            "pass the FRAME-level mask (see w2v_lite.lengths.frame_mask), not the sample-level attention_mask."
        )
    # lengths only describe the mask if it is right-padded: ones, then zeros
    return right_padded_lengths(torch.from_numpy(mask), "frame_mask").tolist()


def compute_mask_indices(
    shape: tuple[int, int],
    mask_prob: float,
    mask_length: int,
    frame_mask: torch.Tensor | np.ndarray | None = None,
    min_masks: int = 0,
) -> np.ndarray:
    """Choose random time spans to mask, per utterance: ``shape=(B, T) -> bool ndarray (B, T)``.

    Args:
        shape: ``(batch_size, num_frames)``.
        mask_prob: in ``[0, 1]``; the expected fraction of *span starts* times ``mask_length``. Spans may
            overlap, so the masked fraction is at most ``mask_prob`` (about 0.49 for p=0.65, M=10).
        mask_length: span length M in frames (10 in wav2vec 2.0).
        frame_mask: optional right-padded frame mask ``(B, T)`` (torch or numpy, bool or int; transformers
            calls this argument ``attention_mask``). Spans are placed inside each utterance's valid frames only.
        min_masks: minimum number of spans per utterance (before the caps below).

    How many spans? One ``epsilon ~ U[0, 1)`` is drawn *per batch* and each utterance of n valid frames
    gets ``max(int(mask_prob * n / M + epsilon), min_masks)`` spans. The epsilon does probabilistic
    rounding: with a low ``mask_prob`` where ``p * n / M`` is e.g. 0.3, the batch gets one span per
    utterance with probability 0.3 and none otherwise (shared epsilon: all or nothing together). The count
    is then capped at ``T // M`` and at ``n - M + 1`` (the number of possible starts).

    Clips shorter than a span (``n < M``) get no span at all; a batch with ``T < M`` is an error. Span
    starts are drawn without replacement from ``[0, n - M]``, so a span never starts or ends in padding.
    """
    batch_size, sequence_length = shape
    if mask_length < 1:
        raise ValueError(f"mask_length must be >= 1 frame, got {mask_length}.")
    if mask_length > sequence_length:
        raise ValueError(
            f"mask_length ({mask_length} frames) is longer than the sequence ({sequence_length} frames). "
            "Use longer clips or a smaller mask_length (config.mask_time_length)."
        )
    if not 0.0 <= mask_prob <= 1.0:
        raise ValueError(f"mask_prob must be in [0, 1], got {mask_prob}.")
    if min_masks < 0:
        raise ValueError(f"min_masks must be >= 0, got {min_masks}.")
    if frame_mask is None:
        frame_lengths = [sequence_length] * batch_size
    else:
        frame_lengths = _frame_lengths(frame_mask, shape)

    # RNG draw 1: one rounding epsilon for the whole batch.
    epsilon = np.random.rand(1).item()

    def num_spans(num_valid: int) -> int:
        # Same float expression as transformers, so the rounding is bit-identical.
        n = max(int(mask_prob * num_valid / mask_length + epsilon), min_masks)
        if n * mask_length > sequence_length:  # spans cannot cover more than the whole axis
            n = sequence_length // mask_length
        return min(n, max(num_valid - (mask_length - 1), 0))  # at most one span per possible start

    mask = np.zeros((batch_size, sequence_length), dtype=bool)
    # transformers returns before drawing any start when even a full-length row gets no span.
    if num_spans(sequence_length) == 0:
        return mask

    offsets = np.arange(mask_length)
    for b, num_valid in enumerate(frame_lengths):
        # RNG draw 2 (one per utterance, in batch order): distinct span starts inside the valid frames.
        # The population must be exactly transformers' (even when empty): `choice` shuffles all of it.
        possible_starts = np.arange(max(num_valid - (mask_length - 1), 0))
        starts = np.random.choice(possible_starts, num_spans(num_valid), replace=False)
        # Each start s masks frames s .. s+M-1; all of them are < num_valid by construction.
        mask[b, (starts[:, None] + offsets[None, :]).ravel()] = True
    return mask


def sample_negative_indices(
    features_shape: tuple[int, int],
    num_negatives: int,
    mask_time_indices: np.ndarray | torch.Tensor | None = None,
) -> np.ndarray:
    """Draw K distractor frames for every masked frame: ``(B, T) -> int32 ndarray (B, T, K)``.

    Negatives for a masked frame t of utterance b are drawn uniformly, with replacement, from the *other*
    masked frames of the same utterance (never t itself, never padding, never unmasked frames). Indices
    are flat into ``(B * T)``: entry ``[b, t, k]`` is ``b * T + t'``, ready for
    ``quantized.view(B * T, D)[idx]``. Rows of unmasked frames hold ``b * T`` and are ignored by the loss.

    With ``mask_time_indices=None`` every frame is a candidate (as in transformers).

    Uniform without the positive: draw ``r ~ randint(0, n - 1)`` over the n masked frames and shift
    ``r >= i`` up by one for the frame at position i. This needs ``n >= 2``: an utterance with fewer than
    2 masked frames raises ``ValueError`` (transformers errors cryptically for n=1 and returns
    meaningless indices for n=0).
    """
    batch_size, sequence_length = features_shape
    if num_negatives < 1:
        raise ValueError(f"num_negatives must be >= 1, got {num_negatives}.")
    if mask_time_indices is None:
        masked = np.ones(features_shape, dtype=bool)
    else:
        masked = _as_bool_array(mask_time_indices)
        if masked.shape != tuple(features_shape):
            raise ValueError(f"mask_time_indices has shape {masked.shape}, expected {tuple(features_shape)}.")
    counts = masked.sum(-1)
    if (counts < 2).any():
        b = int(np.argmax(counts < 2))
        raise ValueError(
            f"utterance {b} has {int(counts[b])} masked frame(s); negatives are drawn from the *other* "
            "masked frames of the same utterance, so at least 2 are needed. Use longer clips (at least "
            "mask_time_length frames), a higher mask_time_prob, or mask_time_min_masks >= 1."
        )

    frame_positions = np.arange(sequence_length)
    negatives = np.zeros((batch_size, sequence_length, num_negatives), dtype=np.int32)
    for b in range(batch_size):
        n = int(counts[b])
        masked_frames = frame_positions[masked[b]]  # position i in this list -> frame index
        # RNG draw (one per utterance): n rows of K draws from the n-1 other masked frames.
        sampled = np.random.randint(0, n - 1, size=(n, num_negatives))
        sampled[sampled >= np.arange(n)[:, None]] += 1  # skip the positive, keep the rest uniform
        negatives[b][masked[b]] = masked_frames[sampled]
        negatives[b] += b * sequence_length  # flat index into (B * T)
    return negatives
