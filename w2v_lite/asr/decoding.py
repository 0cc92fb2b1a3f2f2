"""Greedy CTC decoding: logits -> per-frame argmax path -> collapse repeats, drop blanks -> text.

    load_for_inference(folder)  -> (Wav2Vec2ForCTC in eval mode, CharTokenizer)
    recognize(model, tokenizer, waveform (L,))  -> (text, path of T ids, logits (T, V))
    best_path(logits (B, T, V), frame_lengths (B,))  -> B lists of argmax ids, padding cut off
    greedy_decode(logits, tokenizer, frame_lengths)  -> B strings
"""

from __future__ import annotations

from pathlib import Path

import torch

from w2v_lite.data.audio import normalize
from w2v_lite.data.tokenizer import CharTokenizer
from w2v_lite.lengths import output_lengths, receptive_field
from w2v_lite.model.ctc import Wav2Vec2ForCTC, check_vocabulary

__all__ = ["best_path", "greedy_decode", "load_for_inference", "recognize"]


def load_for_inference(folder: str | Path) -> tuple[Wav2Vec2ForCTC, CharTokenizer]:
    """(model in eval mode, tokenizer) from a CTC checkpoint folder that has config.json, weights and
    vocab.json. A folder without vocab.json raises ValueError (ids could not be turned into text)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"model folder {folder} does not exist; pass a folder written by the ctc trainer")
    tokenizer = CharTokenizer.load(folder)  # first: no point loading weights that can't be decoded
    model = Wav2Vec2ForCTC.from_pretrained(folder).eval()
    check_vocabulary(model.config, tokenizer, str(folder))
    return model, tokenizer


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


def greedy_decode(
    logits: torch.Tensor, tokenizer: CharTokenizer, frame_lengths: torch.Tensor | None = None
) -> list[str]:
    """(B, T, V) logits -> B transcripts: argmax per valid frame, collapse repeats, drop blanks."""
    if logits.shape[-1] != tokenizer.vocab_size:
        raise ValueError(f"logits have {logits.shape[-1]} classes but the tokenizer has "
                         f"{tokenizer.vocab_size} tokens; use the vocab.json saved with the checkpoint")
    return [tokenizer.decode(path) for path in best_path(logits, frame_lengths)]


@torch.no_grad()
def recognize(
    model: Wav2Vec2ForCTC, tokenizer: CharTokenizer, waveform: torch.Tensor
) -> tuple[str, list[int], torch.Tensor]:
    """One 16 kHz clip (L,) -> (text, greedy path of T argmax ids, logits (T, V)).

    The clip is normalised on its own (zero mean, unit variance, as in training) and run unpadded, so the
    result does not depend on other clips. Raises ValueError for a clip shorter than one frame's window.
    """
    if waveform.dim() != 1:
        raise ValueError(f"waveform must be one mono clip (L,), got shape {tuple(waveform.shape)}")
    window = receptive_field(model.config)[0]
    if output_lengths(int(waveform.numel()), model.config) == 0:
        raise ValueError(f"the clip has {waveform.numel()} samples, fewer than the {window} "
                         f"({1000 * window / model.config.sampling_rate:g} ms) one frame needs; use a longer clip")
    model.eval()
    x = normalize(waveform[None].float())
    logits = model(x.to(next(model.parameters()).device)).logits.float().cpu()  # (1, T, V)
    path = best_path(logits)[0]
    return tokenizer.decode(path), path, logits[0]
