"""What a clip of L samples costs the encoder: FLOPs and activation bytes per stage, from the config and L.

Every stage's cost follows from the `layer_lengths` (L_0 = L, L_1, ..., T = L_7) of the clip's L samples:

    conv layer i            flops = 2 B L_{i+1} C_{i+1} C_i k_i        (C_0 = 1 input channel)
    feature projection      flops = 2 B T C H                          (Linear(C, H) on every frame)
    positional conv         flops = 2 B T' H (H / G) K                 (grouped, T' = T + 1 for an even K)
    per transformer layer:
      q/k/v/out projections flops = 4 x 2 B T H H
      attention scores      flops = 2 B T T H                          (Q K^T, all heads together)
      attention x V         flops = 2 B T T H
      feed-forward          flops = 2 x 2 B T H I                      (H -> I -> H)

A FLOP is counted the way `torch.utils.flop_counter.FlopCounterMode` counts: 2 per multiply-add of every
matmul, convolution and attention product; biases, norms, GELU, softmax and residual adds are free. Only the
attention terms grow as T^2; everything else is linear in L, so attention takes over for long clips.

`activation_bytes` is what the stage writes: the bytes of every fp32 tensor it produces, in order.

    conv layer i            B L_{i+1} C_{i+1} x (2, or 3 with a norm)  (conv out, [norm out], GELU out)
                            + 2 B L_{i+1} with LayerNorm               (its mean and 1/std per frame)
    feature projection      B T (C + H)                                (LayerNorm out, Linear out)
    positional conv         B (T' + T + T) H                           (conv out, GELU out, x + pos)
    q/k/v/out projections   4 B T H
    attention scores        B (H / d) T T                              (one T x T matrix per head)
    attention x V           B T H
    feed-forward            B T (2 I + H)                              (dense out, GELU out, dense out)

(times 4 bytes). Residual adds and LayerNorms of the transformer write 4 B T H more per layer; they are
left out of the stages above and counted in `peak_activation_bytes` only where they matter. The scores
are what an eager attention materialises; PyTorch's fused CPU attention tiles them, so they never all
exist at once there. Beyond about 1.5 s of audio the first conv layer sets the memory peak: its 512 x L/5
outputs are the largest tensor in the network (see `peak_activation_bytes`).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Literal, overload

import torch

# TorchDispatchMode is the one private import left: no public API sees every aten op's outputs (LayerNorm's
# saved mean and 1/std included), and torch's own public FlopCounterMode is built on it as well.
from torch.utils._python_dispatch import TorchDispatchMode

from w2v_lite import lengths
from w2v_lite.config import Wav2Vec2Config

__all__ = ["BYTES_PER_FLOAT", "ActivationMeter", "cost", "peak_activation_bytes", "stage_group", "total"]

BYTES_PER_FLOAT = 4  # fp32 activations


def _check(config: Wav2Vec2Config, num_samples: int, batch_size: int) -> list[int]:
    if not isinstance(config, Wav2Vec2Config):
        raise TypeError(f"config must be a Wav2Vec2Config, got {type(config).__name__}; "
                        "use Wav2Vec2Config.base() or Wav2Vec2Config.preset(name)")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    lengths.require_frames(num_samples, config)  # TypeError/ValueError for a bad or too short num_samples
    return lengths.layer_lengths(num_samples, config)


def cost(config: Wav2Vec2Config, num_samples: int, batch_size: int = 1) -> dict[str, dict[str, int]]:
    """FLOPs and activation bytes of every stage of `Wav2Vec2Model` on a batch of clips of `num_samples`.

    Returns an ordered dict ``stage -> {"flops": int, "activation_bytes": int}`` with stages
    ``conv0 .. conv6``, ``feature_projection``, ``pos_conv`` and, for each transformer layer i,
    ``layer{i}.qkv_out``, ``layer{i}.scores``, ``layer{i}.attn_v`` and ``layer{i}.feed_forward``.
    The formulas are in the module docstring; the totals equal `FlopCounterMode`'s count of a forward pass.
    """
    layer_lengths = _check(config, num_samples, batch_size)
    b, f = batch_size, BYTES_PER_FLOAT
    stages: dict[str, dict[str, int]] = {}
    c_in = 1
    for i, (c, k) in enumerate(zip(config.conv_dim, config.conv_kernel)):
        out = b * layer_lengths[i + 1] * c  # values in one output tensor of this layer
        written = 2 * out  # conv out, GELU out
        if config.feat_extract_norm == "layer":
            written += out + 2 * b * layer_lengths[i + 1]  # LayerNorm out, and its mean and 1/std per frame
        elif i == 0:
            written += out  # GroupNorm out (its statistics are per clip and channel: negligible)
        stages[f"conv{i}"] = {"flops": 2 * out * c_in * k, "activation_bytes": written * f}
        c_in = c
    t, h, c = layer_lengths[-1], config.hidden_size, config.conv_dim[-1]
    stages["feature_projection"] = {"flops": 2 * b * t * c * h, "activation_bytes": b * t * (c + h) * f}
    kpos = config.num_conv_pos_embeddings
    t_pos = t + 2 * (kpos // 2) - kpos + 1  # padding K//2 on both sides: T + 1 outputs for an even kernel
    stages["pos_conv"] = {"flops": 2 * b * t_pos * h * (h // config.num_conv_pos_embedding_groups) * kpos,
                          "activation_bytes": b * (t_pos + 2 * t) * h * f}
    heads, inter = config.num_attention_heads, config.intermediate_size
    for layer in range(config.num_hidden_layers):
        stages[f"layer{layer}.qkv_out"] = {"flops": 4 * 2 * b * t * h * h, "activation_bytes": 4 * b * t * h * f}
        stages[f"layer{layer}.scores"] = {"flops": 2 * b * t * t * h, "activation_bytes": b * heads * t * t * f}
        stages[f"layer{layer}.attn_v"] = {"flops": 2 * b * t * t * h, "activation_bytes": b * t * h * f}
        stages[f"layer{layer}.feed_forward"] = {"flops": 2 * 2 * b * t * h * inter,
                                                "activation_bytes": b * t * (2 * inter + h) * f}
    return stages


def stage_group(stage: str) -> str:
    """The kind of a stage, for summing over layers: "layer3.scores" -> "scores", "conv2" -> "conv stack"."""
    if stage.startswith("conv"):
        return "conv stack"
    return stage.split(".", 1)[-1]


@overload
def total(stages: dict[str, dict[str, int]], key: str = ..., by_group: Literal[False] = ...) -> int: ...
@overload
def total(stages: dict[str, dict[str, int]], key: str = ..., *, by_group: Literal[True]) -> dict[str, int]: ...


def total(stages: dict[str, dict[str, int]], key: str = "flops", by_group: bool = False) -> int | dict[str, int]:
    """Sum a `cost` result over all stages, or per `stage_group` with ``by_group=True`` (insertion order)."""
    if not by_group:
        return sum(s[key] for s in stages.values())
    groups: dict[str, int] = {}
    for name, s in stages.items():
        groups[stage_group(name)] = groups.get(stage_group(name), 0) + s[key]
    return groups


def peak_activation_bytes(config: Wav2Vec2Config, num_samples: int, batch_size: int = 1) -> dict[str, int]:
    """The most activation memory live at once in each part of an eval forward (fp32 bytes, weights excluded).

    Returns ``{"conv stack": ..., "pos_conv": ..., "transformer": ..., "peak": max of the three}``:

    - conv stack: layer i holds its input and two outputs at once (conv out, then GELU out; a norm replaces
      the conv out): ``max_i B (C_i L_i + 2 C_{i+1} L_{i+1})``, input waveform included. Layer 0 wins:
      ``1 + 2 x 512 / 5 ~ 206`` floats per input sample for the base model.
    - pos_conv: weight norm rebuilds the (H, H/G, K) kernel on every forward (18.9 MB for base, whatever
      the length), while the conv features (B, C, T), their normed copy (B, T, C), the projection (B, T, H)
      and the conv output (B, H, T') are alive.
    - transformer: the same features, the (B, T, H) outputs of the earlier layers (kept for `hidden_states`)
      and the larger of attention's q, k, v and output (4 B T H, 5 with pre-LN) and the feed-forward block's
      dense output, GELU and output (B T (2 I + H)). Rougher than the other two terms (within about 10% for
      post-LN; pre-LN keeps one more normed copy around and measured 13% above it); it sets the peak only
      for unusually narrow conv stacks.

    For the base model the conv stack sets the peak beyond about 1.5 s; below that the rebuilt positional
    kernel does. The measurement in the tests (`ActivationMeter`) agrees within 3% there.
    """
    layer_lengths = _check(config, num_samples, batch_size)
    b, t, h, c = batch_size, layer_lengths[-1], config.hidden_size, config.conv_dim[-1]
    channels = (1, *config.conv_dim)
    conv = max(channels[i] * layer_lengths[i] + 2 * channels[i + 1] * layer_lengths[i + 1]
               for i in range(len(config.conv_dim)))
    kpos = config.num_conv_pos_embeddings
    t_pos = t + 2 * (kpos // 2) - kpos + 1
    features = b * t * (2 * c + h)  # conv features, their LayerNorm-ed copy, the projection
    kernel = h * (h // config.num_conv_pos_embedding_groups) * kpos
    pos = features + kernel + b * t_pos * h
    layers = config.num_hidden_layers
    attention = 4 * h + (h if config.do_stable_layer_norm else 0)  # q, k, v, SDPA out (+ the pre-LN input)
    block = max(attention, 2 * config.intermediate_size + h)  # ... or FFN: dense out, GELU out, output
    transformer = features + b * t * (h * layers + block)
    parts = {"conv stack": b * conv, "pos_conv": pos, "transformer": transformer}
    parts = {k: v * BYTES_PER_FLOAT for k, v in parts.items()}
    return {**parts, "peak": max(parts.values())}


def _tensors(tree: object) -> Iterator[torch.Tensor]:
    """Every tensor in nested tuples, lists and dicts (an aten op's arguments or outputs), depth first."""
    if isinstance(tree, torch.Tensor):
        yield tree
    elif isinstance(tree, (tuple, list)):
        for item in tree:
            yield from _tensors(item)
    elif isinstance(tree, dict):
        for item in tree.values():
            yield from _tensors(item)


class ActivationMeter(TorchDispatchMode):
    """Measure activation memory of the tensors created inside a ``with`` block (a dispatch-level meter).

    Every aten op's outputs are counted by storage: ``written`` sums the bytes of each new storage (what the
    block writes), ``peak`` is the most bytes of such storages alive at once, ``live`` what is still alive.
    Storages that existed before the block (weights, the input) are never counted. Blind spots: scratch
    buffers that a kernel allocates and frees internally (e.g. inside fused attention or oneDNN convolutions)
    and the allocator's own slack; so it measures what the model's tensors need, not the process RSS.
    """

    def __init__(self) -> None:
        super().__init__()
        self.written = self.live = self.peak = 0
        self._refs: dict[int, list[int]] = {}  # storage address -> [live tensors, bytes]

    def _release(self, key: int) -> None:
        entry = self._refs.get(key)
        if entry is None:
            return
        entry[0] -= 1
        if entry[0] == 0:
            self.live -= entry[1]
            del self._refs[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        inputs = {t.untyped_storage().data_ptr() for t in _tensors((args, kwargs or {}))}
        out = func(*args, **(kwargs or {}))
        for t in _tensors(out):
            storage = t.untyped_storage()
            key, size = storage.data_ptr(), storage.nbytes()
            if size == 0:
                continue
            if key in self._refs:  # a view or in-place result of a storage made inside the block
                self._refs[key][0] += 1
            elif key in inputs:  # a view of something made outside the block (weights, input)
                continue
            else:
                self._refs[key] = [1, size]
                self.written += size
                self.live += size
                self.peak = max(self.peak, self.live)
            weakref.finalize(t, self._release, key)
        return out
