"""Wav2Vec2ForCTC: the encoder plus a per-frame classifier over characters, trained with the CTC loss.

    input_values (B, L) -> Wav2Vec2Model -> (B, T, H) -> dropout -> lm_head Linear(H, V) -> logits (B, T, V)

CTC scores every alignment of a label of U tokens to the clip's T frames (blank = `pad_token_id`, id 0,
fills the gaps). Its *input lengths* are the `frame_lengths`, `output_lengths(sample_lengths)`, so padding
frames are never aligned to anything. A clip needs T >= U frames, plus one more for every pair of equal
neighbouring tokens ("ee" needs a blank in between); otherwise no alignment exists and the loss is inf
(`ctc_zero_infinity=True` turns those into 0 with zero gradient). Names and numbers equal transformers'
`Wav2Vec2ForCTC`, so its checkpoints load unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
from torch import nn
from torch.nn import functional as F

from w2v_lite.config import BLANK_ID, IGNORE_INDEX, Wav2Vec2Config
from w2v_lite.model import checkpoints
from w2v_lite.model.fast import InferenceCopies
from w2v_lite.model.interface import CTCOutput
from w2v_lite.model.wav2vec2 import Wav2Vec2Model

__all__ = ["CTCOutput", "Vocabulary", "Wav2Vec2ForCTC", "check_vocabulary", "ctc_loss", "label_lengths",
           "required_frames"]



class Vocabulary(Protocol):
    """What the CTC head needs of a tokenizer (e.g. `w2v_lite.data.tokenizer.CharTokenizer`)."""

    @property
    def vocab_size(self) -> int: ...
    @property
    def pad_token_id(self) -> int: ...
    def save(self, folder: str | Path) -> Path: ...


def label_lengths(labels: torch.Tensor, vocab_size: int, blank: int = BLANK_ID) -> torch.Tensor:
    """Check a (B, U) label batch and count its tokens: -> (B,) long.

    Entries equal to -100 (or to the blank, as transformers also allows) are padding. Raises ValueError for
    ids outside ``[0, vocab_size)``, for other negative values and for rows with no token at all.
    """
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.dim() != 2:
        got = f"{getattr(labels, 'dtype', type(labels))} {tuple(getattr(labels, 'shape', ()))}"
        raise ValueError(f"labels must be an integer tensor (B, U), got {got}; build it with "
                         "CharTokenizer.pad_labels")
    tokens = (labels != IGNORE_INDEX) & (labels != blank)
    bad = tokens & ((labels < 0) | (labels >= vocab_size))
    if bad.any():
        raise ValueError(f"labels hold ids {sorted(set(labels[bad].tolist()))} outside the vocabulary "
                         f"[0, {vocab_size}); pad with -100 and check that config.vocab_size matches the "
                         "tokenizer")
    token_counts = tokens.sum(-1)
    if (token_counts == 0).any():
        rows = (token_counts == 0).nonzero().flatten().tolist()
        raise ValueError(f"label rows {rows} are empty; every clip needs a non-empty transcript")
    return token_counts


def required_frames(labels: torch.Tensor, blank: int = BLANK_ID) -> torch.Tensor:
    """Fewest frames that can emit each label: (B, U) padded with -100 -> (B,) = tokens + repeats.

    Every token needs a frame of its own, and two equal neighbours ("e", "e" in "three") need a blank
    frame between them, or CTC would merge them into one. Fewer frames than this -> infinite loss.
    """
    tokens = (labels != IGNORE_INDEX) & (labels != blank)
    rows = [labels[b][tokens[b]] for b in range(labels.shape[0])]
    return torch.tensor([len(r) + int((r[1:] == r[:-1]).sum()) for r in rows], dtype=torch.long)


def ctc_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    frame_lengths: torch.Tensor,
    blank: int = BLANK_ID,
    reduction: str = "sum",
    zero_infinity: bool = False,
) -> torch.Tensor:
    """``logits (B, T, V), labels (B, U) padded with -100, frame_lengths (B,) -> ()``.

    log_softmax in fp32 (also for half-precision logits), then `F.ctc_loss` with input lengths =
    `frame_lengths` and target lengths = tokens per label row. "mean" divides each clip's loss by its
    label length and then averages; "sum" adds the clips' losses.
    """
    target_lengths = label_lengths(labels, logits.shape[-1], blank)
    tokens = (labels != IGNORE_INDEX) & (labels != blank)
    log_probs = F.log_softmax(logits, dim=-1, dtype=torch.float32).transpose(0, 1)  # (T, B, V) for ctc_loss
    with torch.backends.cudnn.flags(enabled=False):  # cuDNN's CTC has other length rules; keep one kernel
        return F.ctc_loss(log_probs, labels[tokens], frame_lengths.to(log_probs.device), target_lengths,
                          blank=blank, reduction=reduction, zero_infinity=zero_infinity)


class Wav2Vec2ForCTC(nn.Module, InferenceCopies):
    """Encoder + dropout + `lm_head` (H -> vocab_size): (B, L) samples -> (B, T, V) logits."""

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        if config.vocab_size < 2 or not 0 <= config.pad_token_id < config.vocab_size:
            raise ValueError(f"a CTC head needs vocab_size >= 2 and 0 <= pad_token_id < vocab_size, got "
                             f"{config.vocab_size} and {config.pad_token_id}")
        self.config = config
        self.wav2vec2 = Wav2Vec2Model(config)
        self.dropout = nn.Dropout(config.final_dropout)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        sample_lengths: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> CTCOutput:
        """``(B, L) waveform [+ (B, L) attention_mask or (B,) sample_lengths] [+ (B, U) labels] -> CTCOutput``.

        Labels are checked before the encoder runs, so a bad batch fails fast. Without a mask or sample_lengths
        every sample is real and each clip has T frames.
        """
        if labels is not None:
            label_lengths(labels, self.config.vocab_size, self.config.pad_token_id)
        out = self.wav2vec2(input_values, attention_mask=attention_mask, sample_lengths=sample_lengths,
                            output_hidden_states=output_hidden_states)
        logits = self.lm_head(self.dropout(out.last_hidden_state))  # (B, T, V)
        loss = None
        if labels is not None:
            loss = ctc_loss(logits, labels, out.frame_lengths, self.config.pad_token_id,
                            self.config.ctc_loss_reduction, self.config.ctc_zero_infinity)
        return CTCOutput(logits=logits, frame_lengths=out.frame_lengths, frame_mask=out.frame_mask, loss=loss,
                         hidden_states=out.hidden_states)

    def freeze_feature_encoder(self) -> None:
        """Freeze the conv stack only; projection, transformer and head stay trainable."""
        self.wav2vec2.freeze_feature_encoder()

    def unfreeze_feature_encoder(self) -> None:
        """Make the conv stack trainable again (after the first fine-tuning steps)."""
        for p in self.wav2vec2.feature_extractor.parameters():
            p.requires_grad_(True)

    # ---- building and loading --------------------------------------------------------------------
    def load_encoder(self, folder: str | Path) -> None:
        """Copy the encoder weights of the checkpoint in `folder` (pretraining, bare encoder or CTC) into
        `self.wav2vec2`; `lm_head` keeps its own (fresh) weights. The learned mask embedding exists only
        when span masking is configured, so it is taken when both sides have it and skipped otherwise."""
        state = dict(Wav2Vec2Model.from_pretrained(folder).state_dict())
        own = self.wav2vec2.state_dict()
        if "masked_spec_embed" in own:
            state.setdefault("masked_spec_embed", own["masked_spec_embed"])
        else:
            state.pop("masked_spec_embed", None)
        checkpoints.load_into(self.wav2vec2, state, source=str(folder))

    @classmethod
    def from_hf(cls, hf_model: nn.Module) -> Wav2Vec2ForCTC:
        """Copy a live `transformers.Wav2Vec2ForCTC` (same parameter names)."""
        return checkpoints.build_from_hf(cls, hf_model)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> Wav2Vec2ForCTC:
        """Load `config.json` + weights of a CTC checkpoint (ours or transformers'). For the tokenizer too,
        use `w2v_lite.asr.Recognizer.load(folder)`."""
        return checkpoints.build_from_folder(cls, folder)

    def save_pretrained(self, folder: str | Path, tokenizer: Vocabulary | None = None) -> Path:
        """Write `config.json` + `model.safetensors` (+ `vocab.json` when a tokenizer is given)."""
        if tokenizer is not None:
            check_vocabulary(self.config, tokenizer, str(folder))
        folder = checkpoints.save_pretrained(self, self.config, folder)
        if tokenizer is not None:
            tokenizer.save(folder)
        return folder


def check_vocabulary(config: Wav2Vec2Config, tokenizer: Vocabulary, source: str) -> None:
    if tokenizer.vocab_size != config.vocab_size or tokenizer.pad_token_id != config.pad_token_id:
        raise ValueError(f"{source}: the tokenizer has {tokenizer.vocab_size} tokens (pad "
                         f"{tokenizer.pad_token_id}) but the model's head has vocab_size {config.vocab_size} "
                         f"(pad {config.pad_token_id}); use the vocab.json the model was trained with")
