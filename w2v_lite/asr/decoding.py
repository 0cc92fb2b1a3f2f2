"""CTC decoding, pure: logits -> ids -> text. No model runs here; `asr.recognizer` does that.

    best_path(logits (B, T, V), frame_lengths (B,))  -> B lists of per-frame argmax ids, padding cut off
    greedy(logits (T, V))                            -> T ids: the greedy path of one clip (the default
                                                        decoder of `Recognizer`)
    collapse(path (T ids), blank)                    -> U ids: repeats merged, blanks dropped
    greedy_decode(logits (B, T, V), tokenizer, frame_lengths)  -> B strings

A decoder for `Recognizer` is any function ``logits (T, V) -> list[int]``: either a frame path (T ids, as
`greedy`) or the token ids of the text (fewer than T, as a beam search gives), which the recognizer
force-aligns to get frames and word times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from w2v_lite.data.tokenizer import CharTokenizer, collapse_repeats

__all__ = ["Decoder", "best_path", "collapse", "greedy", "greedy_decode"]

Decoder = Callable[[torch.Tensor], list[int]]
"""logits (T, V) of one clip -> a frame path (T ids) or the text's token ids (fewer than T)."""


def best_path(logits: torch.Tensor, frame_lengths: torch.Tensor | None = None) -> list[list[int]]:
    """(B, T, V) logits [+ (B,) valid frame counts] -> B lists of per-frame argmax ids, padding cut off."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3:
        raise ValueError(f"logits must be a (B, T, V) tensor, got {getattr(logits, 'shape', type(logits))}")
    batch, frames, _ = logits.shape
    if frame_lengths is None:
        frame_lengths = torch.full((batch,), frames)
    if frame_lengths.shape != (batch,) or (frame_lengths > frames).any() or (frame_lengths < 0).any():
        raise ValueError(f"frame_lengths must be (B,) = ({batch},) counts in [0, {frames}], "
                         f"got {frame_lengths.tolist()}")
    ids = logits.argmax(-1).tolist()
    return [row[:n] for row, n in zip(ids, frame_lengths.tolist(), strict=True)]


def greedy(logits: torch.Tensor) -> list[int]:
    """One clip's logits (T, V) -> its greedy path: the argmax id of each of the T frames."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise ValueError(f"logits must be one clip's (T, V) tensor, got {getattr(logits, 'shape', type(logits))}")
    return best_path(logits[None])[0]


def collapse(path: Sequence[int], blank: int = 0) -> list[int]:
    """A frame path (T ids) -> the ids it spells (U <= T): runs of one id merged, then blanks dropped."""
    return [i for i in collapse_repeats([int(i) for i in path]) if i != blank]


def greedy_decode(
    logits: torch.Tensor, tokenizer: CharTokenizer, frame_lengths: torch.Tensor | None = None
) -> list[str]:
    """(B, T, V) logits -> B transcripts: argmax per valid frame, collapse repeats, drop blanks."""
    if logits.shape[-1] != tokenizer.vocab_size:
        raise ValueError(f"logits have {logits.shape[-1]} classes but the tokenizer has "
                         f"{tokenizer.vocab_size} tokens; use the vocab.json saved with the checkpoint")
    return [tokenizer.decode(path) for path in best_path(logits, frame_lengths)]
