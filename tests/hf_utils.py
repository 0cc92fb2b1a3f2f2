"""Shared helpers for tests that compare against HuggingFace transformers (random init, no download)."""

from __future__ import annotations

import torch
import transformers

from w2v_lite import Wav2Vec2Config, Wav2Vec2Model

NO_DROPOUT = dict(hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
                  final_dropout=0.0, layerdrop=0.0)

# Small odd configs covering group/layer norm x post/pre-LN, with unusual widths, kernels, strides,
# head counts and positional-conv sizes (odd pos-conv kernels skip SamePad's trim).
SMALL_CONFIGS = {
    "group-postln": dict(conv_dim=(24, 20, 28), conv_kernel=(7, 4, 3), conv_stride=(4, 3, 2), hidden_size=36,
                         num_attention_heads=3, intermediate_size=50, num_hidden_layers=2,
                         num_conv_pos_embeddings=15, num_conv_pos_embedding_groups=3),
    "group-preln-bias": dict(conv_dim=(16, 24, 24, 20), conv_kernel=(10, 5, 3, 2), conv_stride=(5, 3, 2, 1),
                             conv_bias=True, do_stable_layer_norm=True, hidden_size=40, num_attention_heads=5,
                             intermediate_size=72, num_hidden_layers=3, num_conv_pos_embeddings=12,
                             num_conv_pos_embedding_groups=4),
    "layer-postln-bias": dict(conv_dim=(20, 20, 12), conv_kernel=(6, 3, 3), conv_stride=(3, 2, 2),
                              feat_extract_norm="layer", conv_bias=True, hidden_size=42, num_attention_heads=7,
                              intermediate_size=30, num_hidden_layers=2, num_conv_pos_embeddings=9,
                              num_conv_pos_embedding_groups=7),
    "layer-preln": dict(conv_dim=(32,) * 7, feat_extract_norm="layer", do_stable_layer_norm=True,
                        hidden_size=48, num_attention_heads=4, intermediate_size=96, num_hidden_layers=2,
                        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, mask_time_prob=0.0),
    "lv60-like": dict(conv_dim=(32,) * 7, feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True,
                      hidden_size=64, num_attention_heads=8, intermediate_size=128, num_hidden_layers=3,
                      num_conv_pos_embeddings=32, num_conv_pos_embedding_groups=8),
}


def small_config(name: str, **overrides) -> Wav2Vec2Config:
    return Wav2Vec2Config(**{**NO_DROPOUT, **SMALL_CONFIGS[name], **overrides})


def hf_model(cfg: Wav2Vec2Config, seed: int = 0, cls=transformers.Wav2Vec2Model):
    """A random-init transformers model built from our config (eval mode, fp32)."""
    torch.manual_seed(seed)
    return cls(transformers.Wav2Vec2Config(**cfg.to_hf_dict())).eval()


def model_pair(cfg: Wav2Vec2Config, seed: int = 0, cls: type = Wav2Vec2Model):
    """(transformers model, ours with the same weights). `cls` is one of our model classes
    (Wav2Vec2Model, Wav2Vec2ForPreTraining, Wav2Vec2ForCTC); its namesake in transformers is the reference."""
    hf = hf_model(cfg, seed, getattr(transformers, cls.__name__))
    return hf, cls.from_hf(hf)


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """|a - b| / |b| of two scalars (e.g. losses), with b the reference."""
    return abs(a.item() - b.item()) / max(abs(b.item()), 1e-12)


def padded_batch(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random audio, right-padded with zeros: ((B, L) float, (B, L) long attention mask)."""
    g = torch.Generator().manual_seed(seed)
    longest = max(lengths)
    x = torch.zeros(len(lengths), longest)
    mask = torch.zeros(len(lengths), longest, dtype=torch.long)
    for i, n in enumerate(lengths):
        x[i, :n] = torch.randn(n, generator=g)
        mask[i, :n] = 1
    return x, mask
