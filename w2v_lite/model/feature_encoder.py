"""The conv feature encoder: a raw waveform (B, L) becomes T frames of C = 512 channels, (B, C, T).

Seven 1-D convolutions, each followed by GELU. Each one shortens time (L -> floor((L - k) / s) + 1, see
`lengths.py`) while the channel count stays 512: **512 is the feature size of a frame, not a length.**

Normalisation comes in two flavours (HF `feat_extract_norm`):
- "group" (base, large): GroupNorm(512, 512) on layer 0 only. It normalises every channel over the whole
  time axis *including padding*, so padded clips change the valid outputs. `mask_aware_group_norm=True`
  takes the statistics over each clip's valid frames only, which makes it padding-invariant.
- "layer" (large-lv60): LayerNorm over the 512 channels of each frame, on every layer. Per-frame, so
  padding cannot leak in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from w2v_lite import lengths
from w2v_lite.config import Wav2Vec2Config


class MaskAwareGroupNorm(nn.GroupNorm):
    """GroupNorm(C, C) whose per-channel mean and variance use only the valid time steps of each clip.

    With `layer_lengths=None` it is exactly `nn.GroupNorm`, so it loads the same weights (`weight`, `bias`).
    """

    def forward(self, x: torch.Tensor, layer_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, T), layer_lengths (B,) long (real time steps of each clip in x) -> (B, C, T)."""
        if layer_lengths is None:
            return super().forward(x)
        valid = lengths.lengths_to_mask(layer_lengths.to(x.device), x.shape[-1])[:, None, :]  # (B, 1, T)
        mean, var = lengths.masked_mean_var(x, valid)  # (B, C, 1) each
        x = (x - mean) * torch.rsqrt(var + self.eps)
        return x * self.weight[None, :, None] + self.bias[None, :, None]


class ConvLayer(nn.Module):
    """Conv1d -> optional norm -> GELU. (B, C_in, L_in) -> (B, C_out, L_out).

    HF names: `conv`, `layer_norm` (a GroupNorm on layer 0 of "group" stacks, a LayerNorm in "layer" stacks).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, bias: bool, norm: str | None):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel_size=kernel, stride=stride, bias=bias)
        self.norm_kind = norm
        self.layer_norm: nn.Module  # HF's name for either norm
        if norm == "group":
            self.layer_norm = MaskAwareGroupNorm(c_out, c_out, affine=True)
        elif norm == "layer":
            self.layer_norm = nn.LayerNorm(c_out, elementwise_affine=True)

    def forward(self, x: torch.Tensor, layer_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C_in, L_in) -> (B, C_out, L_out). `layer_lengths` (B,), the real outputs of this layer per
        clip, only matter for a mask-aware GroupNorm."""
        # a traced graph (ONNX export) takes Conv1d: the strided view's strides would freeze as constants
        fast = self.conv.in_channels == 1 and not torch.jit.is_tracing()
        x = self._conv_one_channel(x) if fast else self.conv(x)
        if self.norm_kind == "group":
            x = self.layer_norm(x, layer_lengths)
        elif self.norm_kind == "layer":
            # LayerNorm over channels, frame by frame: move channels last and back
            x = self.layer_norm(x.transpose(-2, -1)).transpose(-2, -1)
        return F.gelu(x)

    def _conv_one_channel(self, x: torch.Tensor) -> torch.Tensor:
        """The first layer (one input channel) as one matmul over a strided view of the waveform:
        (C, k) @ (B, k, L_out) -> (B, C, L_out). Same sums as Conv1d, but 2x faster on CPU, where oneDNN's
        conv runs a 1-channel, kernel-10 layer at a few GFLOP/s (see benchmarks/README.md)."""
        k, s = self.conv.kernel_size[0], self.conv.stride[0]
        length = (x.shape[-1] - k) // s + 1
        if length < 1:  # shorter than the kernel: let Conv1d say so, as before
            return self.conv(x)
        windows = x.as_strided((x.shape[0], k, length), (x.stride(0), x.stride(-1), s * x.stride(-1)))
        out = torch.bmm(self.conv.weight[:, 0, :].expand(x.shape[0], -1, -1), windows)  # (B, C, L_out)
        return out if self.conv.bias is None else out.add_(self.conv.bias[:, None])


class FeatureEncoder(nn.Module):
    """The conv stack (HF `Wav2Vec2FeatureEncoder`, attribute `feature_extractor`).

    (B, L) samples -> (B, C, T) frames, with T = `output_lengths(L)`.
    """

    def __init__(self, config: Wav2Vec2Config):
        super().__init__()
        self.config = config
        layers = []
        c_in = 1
        norm: str | None
        for i, (c, k, s) in enumerate(zip(config.conv_dim, config.conv_kernel, config.conv_stride)):
            if config.feat_extract_norm == "layer":
                norm = "layer"
            else:
                norm = "group" if i == 0 else None
            layers.append(ConvLayer(c_in, c, k, s, config.conv_bias, norm))
            c_in = c
        self.conv_layers = nn.ModuleList(layers)

    def forward(self, input_values: torch.Tensor, sample_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L) -> (B, C, T). `sample_lengths` (B,) real samples per clip; used only by a mask-aware
        GroupNorm, which gets the real outputs of its own layer."""
        x = input_values[:, None, :]  # one input channel
        # [L, L1, ..., T]: real steps per clip before and after every layer; layer i is given entry i + 1
        per_layer: list = [None] * (len(self.conv_layers) + 1)
        if sample_lengths is not None and self.config.mask_aware_group_norm:
            per_layer = lengths.layer_lengths(sample_lengths, self.config)
        for layer, layer_lengths in zip(self.conv_layers, per_layer[1:]):
            x = layer(x, layer_lengths)
        return x

    def freeze(self) -> None:
        """Stop gradients into the conv stack (fine-tuning usually keeps it fixed)."""
        for p in self.parameters():
            p.requires_grad_(False)
