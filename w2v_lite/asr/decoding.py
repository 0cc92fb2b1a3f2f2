"""Greedy CTC decoding: logits -> per-frame argmax path -> collapse repeats, drop blanks -> text.

    load_for_inference(folder)  -> (Wav2Vec2ForCTC in eval mode, CharTokenizer)
    recognize(model, tokenizer, waveform (L,))  -> (text, path of T ids, logits (T, V))
    emissions(recognizer, waveform (L,), chunk_seconds)  -> logits (T, V), chunked for long clips
    batch_emissions(recognizer, [waveforms])  -> B logits (T_b, V), one padded forward
    best_path(logits (B, T, V), frame_lengths (B,))  -> B lists of argmax ids, padding cut off
    greedy_decode(logits, tokenizer, frame_lengths)  -> B strings
"""

from __future__ import annotations

from pathlib import Path

import torch

from w2v_lite.asr.chunking import encode_chunked
from w2v_lite.asr.pretrained import Recognizer, load_recognizer
from w2v_lite.data.audio import normalize, pad_batch
from w2v_lite.data.tokenizer import CharTokenizer
from w2v_lite.lengths import output_lengths, require_frames
from w2v_lite.model.ctc import Wav2Vec2ForCTC

__all__ = ["CHUNK_ABOVE_SECONDS", "batch_emissions", "best_path", "check_clip", "emissions", "greedy_decode",
           "load_for_inference", "recognize"]

CHUNK_ABOVE_SECONDS = 40.0  # longer clips are encoded in overlapping windows (`asr.chunking`)
CHUNK_SECONDS, STRIDE_SECONDS = 20.0, 1.3  # 1.3 s of context each side: half the base positional conv (64 frames)
MIN_CHUNK_SECONDS = 2.0  # shorter windows leave each frame too little context: the text falls apart


def load_for_inference(folder: str | Path) -> tuple[Wav2Vec2ForCTC, CharTokenizer]:
    """(model in eval mode, tokenizer) from a CTC checkpoint folder that has config.json, weights and
    vocab.json (ours, or one published with transformers). A folder without vocab.json raises ValueError
    (ids could not be turned into text). `asr.pretrained.load_recognizer` also returns the preprocessing."""
    recognizer = load_recognizer(folder)
    return recognizer.model, recognizer.tokenizer


def check_clip(waveform: object, model: Wav2Vec2ForCTC) -> torch.Tensor:
    """A float (L,) tensor long enough for one frame, as float32; TypeError / ValueError saying why not."""
    if not isinstance(waveform, torch.Tensor):
        raise TypeError(f"waveform must be a torch.Tensor (L,) at {model.config.sampling_rate} Hz, got "
                        f"{type(waveform).__name__}; read files with w2v_lite.data.audio.load")
    if waveform.dim() != 1 or not waveform.is_floating_point():
        raise ValueError(f"waveform must be one mono float clip (L,), got {waveform.dtype} "
                         f"{tuple(waveform.shape)}")
    require_frames(int(waveform.numel()), model.config)
    return waveform.float()


@torch.no_grad()
def emissions(recognizer: Recognizer, waveform: torch.Tensor, chunk_seconds: float | None = None) -> torch.Tensor:
    """One clip (L,) -> logits (T, V), T = output_lengths(L), fed as the checkpoint's processor says.

    Clips longer than `CHUNK_ABOVE_SECONDS` (or any clip, when `chunk_seconds` is given) go through
    `encode_chunked` in windows of `chunk_seconds` (default 20 s, 1.3 s of context each side), so memory
    stays bounded. Normalisation (when the processor asks for it) uses the whole clip's statistics.
    """
    model = recognizer.model.eval()
    x = check_clip(waveform, model)
    if recognizer.preprocessing.do_normalize:
        x = normalize(x[None])[0]
    rate = model.config.sampling_rate
    if chunk_seconds is None and x.numel() > CHUNK_ABOVE_SECONDS * rate:
        chunk_seconds = CHUNK_SECONDS
    if chunk_seconds is not None:
        if not chunk_seconds >= MIN_CHUNK_SECONDS:
            raise ValueError(f"chunk_seconds must be at least {MIN_CHUNK_SECONDS:g} s (each window needs context; "
                             f"the default is {CHUNK_SECONDS:g} s), got {chunk_seconds}")
        stride = min(STRIDE_SECONDS, chunk_seconds / 10)
        return encode_chunked(model, x, chunk_seconds, stride).float()
    device = next(model.parameters()).device
    return model(x[None].to(device)).logits[0].float().cpu()


@torch.no_grad()
def batch_emissions(recognizer: Recognizer, waveforms: list[torch.Tensor]) -> list[torch.Tensor]:
    """B clips -> B logits (T_b, V) from one right-padded forward pass.

    Each clip is normalised on its own first (when the processor asks), then zero-padded; the attention
    mask is passed when the processor says so (layer-norm and mask-aware models), as transformers does.
    Only models that ignore padding give the same result as one clip at a time; `transcribe` batches
    only those.
    """
    model = recognizer.model.eval()
    clips = [check_clip(w, model) for w in waveforms]
    batch = pad_batch(clips)
    x = batch.input_values
    if recognizer.preprocessing.do_normalize:
        x = normalize(x, batch.sample_lengths)
    device = next(model.parameters()).device
    mask = batch.attention_mask.to(device) if recognizer.preprocessing.return_attention_mask else None
    logits = model(x.to(device), attention_mask=mask).logits.float().cpu()
    frame_lengths = output_lengths(batch.sample_lengths, model.config)
    return [logits[b, : int(n)] for b, n in enumerate(frame_lengths)]


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
    For a published checkpoint use `load_recognizer` + `emissions`, which follow its preprocessor.
    """
    x = check_clip(waveform, model)
    model.eval()
    x = normalize(x[None])
    logits = model(x.to(next(model.parameters()).device)).logits.float().cpu()  # (1, T, V)
    path = best_path(logits)[0]
    return tokenizer.decode(path), path, logits[0]
