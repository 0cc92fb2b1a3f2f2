"""Feature projection: each frame's 512 conv channels become one vector of the transformer width.

LayerNorm(512) and Linear(512 -> 768) act on the last axis only, so they treat every frame on its own:
the same weights serve a clip of 49 frames and one of 499. That is how a fixed-size layer accepts audio
of any length: **the length lives in T; the Linear only ever sees 512 numbers at a time.**
"""

from __future__ import annotations

import torch
from torch import nn

from w2v_lite.config import Wav2Vec2Config


class FeatureProjection(nn.Module):
    """LayerNorm(C) -> Linear(C, H) -> dropout (HF `Wav2Vec2FeatureProjection`)."""

    def __init__(self, config: Wav2Vec2Config):
        super().__init__()
        c = config.conv_dim[-1]
        self.layer_norm = nn.LayerNorm(c, eps=config.layer_norm_eps)
        self.projection = nn.Linear(c, config.hidden_size)
        self.dropout = nn.Dropout(config.feat_proj_dropout)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, C) -> ((B, T, H) projected, (B, T, C) normalised).

        The normalised, unprojected features are returned too: they are the quantizer's input.
        """
        normed = self.layer_norm(features)
        return self.dropout(self.projection(normed)), normed
