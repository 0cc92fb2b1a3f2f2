"""ONNX export: a `Wav2Vec2Model` or `Wav2Vec2ForCTC` as one graph with a symbolic batch and length.

    export_onnx(model, "model.onnx")        # or: w2v-lite export --model DIR --out model.onnx

The graph's inputs are ``input_values (B, L)`` float32 and ``attention_mask (B, L)`` int64 (1 on real
samples; all ones for unpadded clips), its outputs ``last_hidden_state (B, T, H)`` and ``extract_features
(B, T, C)`` (bare encoder) or ``logits (B, T, V)`` (CTC), then ``frame_lengths (B,)`` int64. B, L and T are
dynamic: one file serves every batch size and clip length. ``attention_mask=False`` exports a graph without
the mask input, for unpadded clips only.

Why exporting used to look broken (GUIDE section 6 measured the whole model "off by about 4.5"): the legacy
exporter puts the module it is given into eval mode and afterwards restores *that module's* mode. A wrapper
built around an eval model is itself in training mode, so the restore switched the whole wrapped model to
training: the eager reference then ran with dropout and span masking, while the graph was exact. Here the
export runs on a private copy, so the caller's model never changes mode. Two more things freeze at trace time
and are handled: the ``if frame_mask.all()`` shortcut in the context network (the graph always applies the
key mask, see `context.py`) and the first conv layer's strided-view matmul, whose strides are Python ints
(the graph uses Conv1d, the same sums). The weight-normed positional conv is folded to a plain weight first:
the same numbers, computed once instead of on every call.

``matmul_convs=(1, 2, 3)`` writes those conv layers (512 -> 512, kernel 3) as slices and one MatMul each
(`MatMulConv1d`): the same sums, in the op that int8 quantisation turns into an int8 GEMM. (ONNX Runtime's
int8 conv, ConvInteger, was slower than its fp32 Conv here; its MatMulInteger uses the CPU's int8 dot products.)
"""

from __future__ import annotations

import copy
import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import torch
from torch import nn

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.model import checkpoints

__all__ = ["OPSET", "MatMulConv1d", "export_onnx", "onnx_bytes", "output_names"]

OPSET = 17  # LayerNormalization is a single op from 17 on; ORT 1.2x runs it fused


class _Exported(nn.Module):
    """(input_values (B, L), attention_mask (B, L)) -> plain tensors, as the graph returns them."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None):
        out = self.model(input_values, attention_mask=attention_mask)
        if model_kind(self.model) == "ctc":
            return out.logits, out.frame_lengths
        return out.last_hidden_state, out.extract_features, out.frame_lengths


def output_names(model: nn.Module) -> list[str]:
    """The graph's output names for `model`: CTC -> [logits, frame_lengths]; encoder -> [last_hidden_state,
    extract_features, frame_lengths]."""
    if model_kind(model) == "ctc":
        return ["logits", "frame_lengths"]
    return ["last_hidden_state", "extract_features", "frame_lengths"]


def model_kind(model: object) -> str | None:
    """"ctc" for a `Wav2Vec2ForCTC`, "encoder" for a `Wav2Vec2Model`, None for anything else.

    Told apart by their transformers-compatible submodules and our config class rather than by `isinstance`, so
    that this module does not import the model classes whose `optimize_for_inference` imports it (an import
    cycle). transformers' own models fail the config check."""
    if not isinstance(model, nn.Module) or not isinstance(getattr(model, "config", None), Wav2Vec2Config):
        return None
    if isinstance(getattr(model, "lm_head", None), nn.Linear) and isinstance(getattr(model, "wav2vec2", None),
                                                                          nn.Module):
        return "ctc"
    if all(isinstance(getattr(model, name, None), nn.Module)
           for name in ("feature_extractor", "feature_projection", "encoder")) and not hasattr(model, "quantizer"):
        return "encoder"
    return None


def _check_model(model: object) -> None:
    if model_kind(model) is None:
        raise TypeError(f"export_onnx takes a w2v_lite Wav2Vec2Model or Wav2Vec2ForCTC, got "
                        f"{type(model).__name__}; load one with Wav2Vec2ForCTC.from_pretrained(folder)")
    assert isinstance(model, nn.Module)
    quantized = any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in model.modules())
    if quantized or any(p.dtype != torch.float32 for p in model.parameters()):
        raise TypeError("export_onnx exports float32 models (an int8 or half copy from optimize_for_inference "
                        "cannot be exported); export the original model")


class MatMulConv1d(nn.Conv1d):
    """A Conv1d (one group, no padding or dilation) computed as im2col by slicing, then one matmul.

    (B, C_in, L) -> (B, C_out, T), T = (L - k) // s + 1. Window t is x[..., s*t : s*t + k], so tap j of every
    window is the strided slice x[..., j : j + s*(T-1) + 1 : s]. The k slices side by side make (B, T, k*C_in),
    which meets the weight laid out as (k*C_in, C_out): the conv's sums, as one GEMM."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        steps = x.transpose(1, 2)  # (B, L, C_in)
        taps = [steps[:, j : steps.shape[1] - (k - 1 - j) : s] for j in range(k)]  # k x (B, T, C_in)
        weight = self.weight.permute(2, 1, 0).reshape(k * self.in_channels, self.out_channels)  # tap-major rows
        out = torch.cat(taps, dim=-1) @ weight  # (B, T, C_out)
        if self.bias is not None:
            out = out + self.bias
        return out.transpose(1, 2)


def _inference_copy(model: nn.Module, matmul_convs: Sequence[int] = ()) -> nn.Module:
    """A float32 eval copy with the positional conv's weight norm folded into a plain weight, and conv layers
    `matmul_convs` (indices into the conv stack) as `MatMulConv1d`."""
    model = copy.deepcopy(model).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv1d) and nn.utils.parametrize.is_parametrized(child, "weight"):
                setattr(parent, name, _plain_conv(child))
    encoder = model.wav2vec2 if model_kind(model) == "ctc" else model
    layers = cast(nn.ModuleList, encoder.feature_extractor.conv_layers)  # type: ignore[union-attr]
    for i in matmul_convs:
        if not 0 <= i < len(layers):
            raise ValueError(f"matmul_convs: the conv stack has layers 0 to {len(layers) - 1}, not {i}")
        layers[i].conv = _plain_conv(cast(nn.Conv1d, layers[i].conv), MatMulConv1d)
    return model


def _plain_conv(conv: nn.Conv1d, kind: type[nn.Conv1d] = nn.Conv1d) -> nn.Conv1d:
    """A new Conv1d (or subclass `kind`) holding the weight `conv`'s parametrization computes. (Not
    `remove_parametrizations`: on a deep copy it deletes the weight property from the class that the original
    model shares.)"""
    padding = conv.padding if isinstance(conv.padding, str) else conv.padding[0]
    plain = kind(conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.stride[0], padding,
                 conv.dilation[0], conv.groups, conv.bias is not None, conv.padding_mode)
    with torch.no_grad():
        plain.weight.copy_(conv.weight)
        if conv.bias is not None and plain.bias is not None:
            plain.bias.copy_(conv.bias)
    return plain.requires_grad_(False)


def _example(config: Wav2Vec2Config) -> tuple[torch.Tensor, torch.Tensor]:
    """A padded batch of two (1 s and 0.75 s of noise), so the traced graph keeps every mask operation."""
    num = config.sampling_rate
    x = torch.randn(2, num, generator=torch.Generator().manual_seed(0)) * 0.1
    mask = torch.ones(2, num, dtype=torch.long)
    mask[1, 3 * num // 4:] = 0
    x[1, 3 * num // 4:] = 0.0
    return x, mask


def onnx_bytes(model: nn.Module, attention_mask: bool = True, opset: int = OPSET,
               matmul_convs: Sequence[int] = ()) -> bytes:
    """The ONNX graph of `model` (see the module docstring) as bytes, without touching the disk."""
    _check_model(model)
    wrapper = _Exported(_inference_copy(model, matmul_convs)).eval()
    config = model.config
    assert isinstance(config, Wav2Vec2Config)  # _check_model: ours
    x, mask = _example(config)
    names = output_names(model)
    inputs = ["input_values", "attention_mask"] if attention_mask else ["input_values"]
    args = (x, mask) if attention_mask else (x[:1],)
    axes = {name: {0: "batch", 1: "samples"} for name in inputs}
    axes.update({name: {0: "batch", 1: "frames"} for name in names[:-1]})
    axes["frame_lengths"] = {0: "batch"}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # the input checks of `forward` (NaN, mask shape, clip length) turn into trace-time constants and warn
        # so; they guard eager calls, the graph's callers are checked by `OnnxModel` before running it
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # the legacy exporter warns it is legacy
        # a BytesIO works (the legacy exporter writes to any file object), though the stub names paths only
        torch.onnx.export(wrapper, args, buffer,  # type: ignore[arg-type]
                          input_names=inputs, output_names=names, dynamic_axes=axes, opset_version=opset,
                          dynamo=False, do_constant_folding=True)
    return buffer.getvalue()


def export_onnx(
    model: nn.Module, path: str | os.PathLike[str], attention_mask: bool = True,
    opset: int = OPSET,
) -> Path:
    """Write `model` as an ONNX graph to `path` (created or replaced atomically); returns the path.

    Raises TypeError for anything but a float32 `Wav2Vec2Model` / `Wav2Vec2ForCTC`, ValueError when `path`
    is a folder or its folder does not exist or cannot be written. The model itself is not changed.
    """
    _check_model(model)
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{target} is a folder; give a file name such as {target / 'model.onnx'}")
    if not target.parent.is_dir():
        raise ValueError(f"cannot write {target}: folder {target.parent} does not exist")
    if not os.access(target.parent, os.W_OK):
        raise ValueError(f"cannot write {target}: folder {target.parent} is not writable")
    data = onnx_bytes(model, attention_mask=attention_mask, opset=opset)
    try:
        checkpoints.atomic_write(target, lambda p: p.write_bytes(data))
    except OSError as err:  # e.g. read-only file system, or root on an immutable folder
        raise ValueError(f"cannot write {target}: {err.strerror or err}") from None
    return target
