"""Long audio in bounded memory: overlapping windows whose central frames are stitched on the global grid.

A full forward pass over 10 minutes of audio holds (512, 1.92 M) floats after the first conv layer alone
(3.9 GB). `encode_chunked` runs the model on windows of `chunk_seconds` instead, and keeps from each
window only its central frames, so every frame of the clip is produced exactly once:

    frames  0 ........................................................ T-1    T = output_lengths(L)
    keep    [  K  ][  K  ][  K  ] ... [ <=K ]                       K = chunk - 2 * stride frames
    window  [  K  +S]                                                 S = stride frames of context
               [S+  K  +S]
                      [S+  K  +S]   ...

Why it lines up: a window that starts at sample ``320 a`` has its own frame j on samples
``[320 a + 320 j, 320 a + 320 j + 400)``, which is exactly global frame ``a + j``. Every window starts on a
multiple of the hop (320 samples), so all windows share the clip's 20 ms grid, and stitched frame t covers
samples ``[320 t, 320 t + 400)`` as in the unchunked pass. The last window ends at the clip's last full
frame (plus the few samples after it, as the full pass sees them), so the stitched frames number
`output_lengths(L)`, and a single window over the whole clip is exactly the full pass.

Why the windows overlap: a frame near a window's edge misses context that the full pass would give it
(the positional conv sees 128 frames, attention sees the whole window, the first GroupNorm normalises over
the window). The `stride` frames on each side are computed and then thrown away, so the kept frames have
context on both sides. It is still an approximation: attention in the full pass sees the whole clip, and a
GroupNorm conv stack (base) normalises layer 0 over each window rather than the whole clip, which no
stride removes. `stitching_error` measures how far off it is; once the stride covers half the positional
conv's kernel (64 frames = 1.28 s for base), only those two effects remain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from w2v_lite.lengths import receptive_field, require_frames
from w2v_lite.model.ctc import Wav2Vec2ForCTC
from w2v_lite.model.wav2vec2 import Wav2Vec2Model

__all__ = ["CHUNK_ABOVE_SECONDS", "CHUNK_SECONDS", "MIN_CHUNK_SECONDS", "STRIDE_SECONDS", "Chunk", "chunk_plan",
           "encode_chunked", "stitching_error"]

# The chunk policy, set here once (`Recognizer` applies it; the CLI's help and checks quote it):
CHUNK_ABOVE_SECONDS = 40.0  # longer clips are encoded in overlapping windows
CHUNK_SECONDS, STRIDE_SECONDS = 20.0, 1.3  # 1.3 s of context each side: half the base positional conv (64 frames)
MIN_CHUNK_SECONDS = 2.0  # shorter windows leave each frame too little context: the text falls apart


class Chunk(NamedTuple):
    """One window: samples [start, stop) go in; its local frames [keep_from, keep_to) are kept, and they are
    the global frames [frame_from, frame_from + keep_to - keep_from)."""

    start: int
    stop: int
    keep_from: int
    keep_to: int
    frame_from: int


def chunk_plan(num_samples: int, config, chunk_seconds: float, stride_seconds: float) -> list[Chunk]:
    """The windows for a clip of `num_samples`: list of `Chunk`. Chunk and stride are rounded to whole
    frames (20 ms); each window keeps ``chunk - 2 * stride`` frames (fewer at the ends, which need no
    context on their outer side). Raises ValueError when nothing would be kept."""
    window, hop = receptive_field(config)
    rate = config.sampling_rate
    if not chunk_seconds > 0 or not stride_seconds >= 0:
        raise ValueError(f"chunk_seconds must be > 0 and stride_seconds >= 0, got {chunk_seconds} and "
                         f"{stride_seconds}")
    chunk, stride = round(chunk_seconds * rate / hop), round(stride_seconds * rate / hop)
    keep = chunk - 2 * stride
    if keep < 1:
        raise ValueError(f"a {chunk_seconds} s chunk with {stride_seconds} s of context on each side keeps no "
                         "frame; use chunk_seconds > 2 * stride_seconds")
    total = require_frames(int(num_samples), config)
    plan = []
    for first in range(0, total, keep):
        last = min(first + keep, total)  # kept global frames [first, last)
        a, b = max(0, first - stride), min(total, last + stride)  # computed global frames [a, b)
        stop = num_samples if b == total else (b - 1) * hop + window  # the last window takes the tail too
        plan.append(Chunk(a * hop, stop, first - a, last - a, first))
    return plan


def _default_forward(model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """(1, n) window on the CPU -> (1, t, D) outputs, run on the model's device."""
    if isinstance(model, Wav2Vec2ForCTC):
        return lambda x: model(x.to(next(model.parameters()).device)).logits
    if isinstance(model, Wav2Vec2Model):
        return lambda x: model(x.to(next(model.parameters()).device)).last_hidden_state
    raise TypeError(f"model must be a Wav2Vec2Model or Wav2Vec2ForCTC, got {type(model).__name__}")


@torch.no_grad()
def encode_chunked(
    model: Any,
    waveform: torch.Tensor,
    chunk_seconds: float = CHUNK_SECONDS,
    stride_seconds: float = STRIDE_SECONDS,
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """One clip (L,) -> (T, D) stitched outputs, T = output_lengths(L): `last_hidden_state` rows for a
    `Wav2Vec2Model`, logits for a `Wav2Vec2ForCTC` (or whatever `forward((1, n)) -> (1, t, D)` returns; it
    gets each window on the CPU and moves it where it runs, so `model` need only have a `.config`).

    Peak memory is that of one `chunk_seconds` window plus the (T, D) result, whatever the clip's length.
    The waveform goes in as given (normalise the whole clip first if the model expects it).
    `progress=True` shows a tqdm bar on stderr.
    """
    if not isinstance(waveform, torch.Tensor) or waveform.dim() != 1 or not waveform.is_floating_point():
        raise ValueError(f"waveform must be one float clip of shape (L,), got "
                         f"{getattr(waveform, 'shape', type(waveform).__name__)}")
    forward = forward or _default_forward(model)
    plan = chunk_plan(waveform.numel(), model.config, chunk_seconds, stride_seconds)
    if progress:
        from tqdm import tqdm

        plan = tqdm(plan, desc="chunks", unit="chunk", leave=False)
    pieces = []
    for c in plan:
        out = forward(waveform[c.start:c.stop][None])  # (1, t, D)
        pieces.append(out[0, c.keep_from:c.keep_to].float().cpu())
    return torch.cat(pieces)


@torch.no_grad()
def stitching_error(
    model: torch.nn.Module, waveform: torch.Tensor, chunk_seconds: float, stride_seconds: float
) -> float:
    """Relative RMS error of the stitched outputs: ||stitched - full|| / ||full|| over all frames and
    features (a float; 0 would be exact). Runs the full forward too, so use it on clips that fit."""
    forward = _default_forward(model)
    full = forward(waveform[None])[0].float()
    stitched = encode_chunked(model, waveform, chunk_seconds, stride_seconds)
    if stitched.shape != full.shape:
        raise AssertionError(f"stitched {tuple(stitched.shape)} vs full {tuple(full.shape)}")
    return float((stitched - full).norm() / full.norm())
