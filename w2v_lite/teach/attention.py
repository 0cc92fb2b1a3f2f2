"""Attention weights of a running model, for looking at them (notebook 03's attention maps).

The model's `SelfAttention` calls `F.scaled_dot_product_attention`, which never materialises the weights.
`attention_weights` records what each layer's attention receives (a forward pre-hook: its input and its
`attend_mask`, True = attend) and recomputes ``softmax(q k^T / sqrt(head_dim))`` from that layer's own q and k
projections, with padded keys excluded. The model itself runs unchanged.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from w2v_lite.model.context import SelfAttention
from w2v_lite.model.wav2vec2 import Wav2Vec2Model

__all__ = ["attention_weights", "head_weights"]


def head_weights(attention: SelfAttention, x: torch.Tensor, attend_mask: torch.Tensor | None = None) -> torch.Tensor:
    """One layer's attention weights: (B, T, H), attend_mask (B, 1, 1, T) bool (True = attend) -> (B, heads, T, T).

    Row t holds how much query frame t takes from every key frame; each row sums to 1 and is exactly 0
    on padded keys.
    """
    b, t, _ = x.shape

    def heads(proj: nn.Linear) -> torch.Tensor:  # (B, T, H) -> (B, heads, T, head_dim)
        return proj(x).view(b, t, attention.num_heads, attention.head_dim).transpose(1, 2)

    scores = heads(attention.q_proj) @ heads(attention.k_proj).transpose(-1, -2) * attention.head_dim**-0.5
    if attend_mask is not None:
        scores = scores.masked_fill(~attend_mask, float("-inf"))  # padded keys: weight exp(-inf) = 0
    return scores.softmax(dim=-1)


def attention_weights(
    model: nn.Module, input_values: torch.Tensor, sample_lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """Every layer's attention weights for a (padded) batch: (B, L) [+ sample_lengths (B,)] -> (layers, B, heads,
    T, T).

    `model` is a `Wav2Vec2Model` or a model holding one as `.wav2vec2` (CTC, pretraining); it must be in
    eval mode (attention dropout would make the recorded weights differ from the ones used).
    """
    encoder_model = getattr(model, "wav2vec2", model)
    if not isinstance(encoder_model, Wav2Vec2Model):
        raise TypeError(f"model must be a w2v_lite Wav2Vec2Model or hold one as .wav2vec2, "
                        f"got {type(model).__name__}")
    if encoder_model.training:
        raise ValueError("model is in training mode (attention dropout is on); call model.eval() first")
    inputs: list[tuple[torch.Tensor, torch.Tensor | None]] = []

    def record(_module: nn.Module, args: tuple) -> None:
        inputs.append((args[0], args[1] if len(args) > 1 else None))

    attentions = [cast(SelfAttention, layer.attention) for layer in encoder_model.encoder.layers]
    handles = [attention.register_forward_pre_hook(record) for attention in attentions]
    try:
        with torch.no_grad():
            encoder_model(input_values, sample_lengths=sample_lengths)
            weights = [head_weights(attention, x, mask) for attention, (x, mask) in zip(attentions, inputs)]
    finally:
        for h in handles:
            h.remove()
    return torch.stack(weights)
