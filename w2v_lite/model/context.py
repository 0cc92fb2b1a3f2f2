"""The context network (class `ContextNetwork`, attribute `encoder` as in transformers): positional
convolution plus a transformer over T frames of width H.

Three things in wav2vec 2.0 get called "encoder"; here they are named apart: `FeatureEncoder` (the conv
stack, `feature_encoder.py`), `ContextNetwork` (this file) and `Wav2Vec2Model` (the whole model).

Post-LN (base): ``x + pos_conv(x) -> LayerNorm -> layers``; each layer ``x = LN(x + attn(x))`` then
``x = final_LN(x + FFN(x))``. Pre-LN ("stable", large-lv60): ``x + pos_conv(x) -> layers -> LayerNorm``;
each layer ``x = x + attn(LN(x))`` then ``x = x + FFN(final_LN(x))``.

The frame mask carries each clip's true length in: padded frames are zeroed before the positional conv
(its kernel of 128 frames would otherwise smear padding into real frames) and are masked out as keys in
self-attention by `attend_mask` (B, 1, 1, T), True = attend to this key (the opposite of
`nn.MultiheadAttention`'s `key_padding_mask`, which is True = ignore). Padded *query* rows still get
computed; their outputs are meaningless and ignored.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from w2v_lite.config import Wav2Vec2Config


class PositionalConvEmbedding(nn.Module):
    """Grouped Conv1d(H, H, K, padding K//2) under weight norm (dim=2), SamePad, GELU. (B, T, H) -> (B, T, H).

    Relative position information without position embeddings: each output frame mixes K neighbours.
    """

    def __init__(self, config: Wav2Vec2Config):
        super().__init__()
        k = config.num_conv_pos_embeddings
        conv = nn.Conv1d(config.hidden_size, config.hidden_size, kernel_size=k, padding=k // 2,
                         groups=config.num_conv_pos_embedding_groups)
        # weight = g * v / ||v||, with one g per kernel tap (dim=2), as in fairseq and transformers
        self.conv = nn.utils.parametrizations.weight_norm(conv, name="weight", dim=2)
        # an even kernel with padding K//2 yields T + 1 outputs: drop the last one ("SamePad")
        self.num_pad_remove = 1 if k % 2 == 0 else 0

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> (B, T, H)."""
        x = self.conv(hidden_states.transpose(1, 2))
        if self.num_pad_remove:
            x = x[:, :, : -self.num_pad_remove]
        return F.gelu(x).transpose(1, 2)


class SelfAttention(nn.Module):
    """Multi-head self-attention with biased q, k, v, out projections. (B, T, H) -> (B, T, H)."""

    def __init__(self, config: Wav2Vec2Config):
        super().__init__()
        h = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = h // self.num_heads
        self.dropout = config.attention_dropout
        self.q_proj = nn.Linear(h, h)
        self.k_proj = nn.Linear(h, h)
        self.v_proj = nn.Linear(h, h)
        self.out_proj = nn.Linear(h, h)

    def forward(self, x: torch.Tensor, attend_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, H), attend_mask (B, 1, 1, T) bool (True = attend to this key) -> (B, T, H)."""
        b, t, h = x.shape

        def heads(proj: nn.Linear) -> torch.Tensor:  # (B, T, H) -> (B, heads, T, head_dim)
            return proj(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            heads(self.q_proj), heads(self.k_proj), heads(self.v_proj), attn_mask=attend_mask,
            dropout_p=self.dropout if self.training else 0.0,
        )  # scale defaults to head_dim ** -0.5
        return self.out_proj(out.transpose(1, 2).reshape(b, t, h))


class FeedForward(nn.Module):
    """Linear(H, 4H) -> GELU -> dropout -> Linear(4H, H) -> dropout. (B, T, H) -> (B, T, H)."""

    def __init__(self, config: Wav2Vec2Config):
        super().__init__()
        self.intermediate_dropout = nn.Dropout(config.activation_dropout)
        self.intermediate_dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.output_dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.output_dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> (B, T, H)."""
        x = self.intermediate_dropout(F.gelu(self.intermediate_dense(x)))
        return self.output_dropout(self.output_dense(x))


class TransformerLayer(nn.Module):
    """One transformer block, post-LN or pre-LN (HF `Wav2Vec2EncoderLayer[StableLayerNorm]`).
    (B, T, H) -> (B, T, H)."""

    def __init__(self, config: Wav2Vec2Config):
        super().__init__()
        self.pre_ln = config.do_stable_layer_norm
        self.attention = SelfAttention(config)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = FeedForward(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, attend_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, H), attend_mask (B, 1, 1, T) bool (True = attend) or None -> (B, T, H)."""
        if self.pre_ln:
            x = x + self.dropout(self.attention(self.layer_norm(x), attend_mask))
            return x + self.feed_forward(self.final_layer_norm(x))
        x = self.layer_norm(x + self.dropout(self.attention(x, attend_mask)))
        return self.final_layer_norm(x + self.feed_forward(x))


class ContextNetwork(nn.Module):
    """Positional conv + transformer layers (HF `Wav2Vec2Encoder` / `Wav2Vec2EncoderStableLayerNorm`,
    attribute `encoder`)."""

    def __init__(self, config: Wav2Vec2Config):
        super().__init__()
        self.config = config
        self.pos_conv_embed = PositionalConvEmbedding(config)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList(TransformerLayer(config) for _ in range(config.num_hidden_layers))

    def forward(
        self, hidden_states: torch.Tensor, frame_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """(B, T, H), frame_mask (B, T) bool (True on real frames) or None -> ((B, T, H), hidden states).

        The hidden states are the input of layer 0 followed by the output of every layer (so
        ``num_hidden_layers + 1`` tensors, also when LayerDrop skips a layer: its "output" is its input),
        as transformers 4.x returns them.
        """
        attend_mask = None
        if frame_mask is not None:
            # zero padded frames, so the positional conv cannot carry padding into real frames
            hidden_states = hidden_states.masked_fill(~frame_mask[:, :, None], 0.0)
            attend_mask = frame_mask[:, None, None, :]  # True = attend: padded frames are never attended to
        x = hidden_states + self.pos_conv_embed(hidden_states)
        if not self.config.do_stable_layer_norm:
            x = self.layer_norm(x)
        x = self.dropout(x)
        states = [x]
        for layer in self.layers:
            # LayerDrop: in training, skip a whole layer with probability `layerdrop`
            # (the state is appended either way, so hidden_states[i] always belongs to layer i)
            if not (self.training and self.config.layerdrop > 0 and torch.rand([]) < self.config.layerdrop):
                x = layer(x, attend_mask)
            states.append(x)
        if self.config.do_stable_layer_norm:
            x = self.layer_norm(x)
        return x, tuple(states)
