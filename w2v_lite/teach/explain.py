"""The stage-by-stage story of one waveform: conv table (arithmetic) and shape trace (a real forward pass).

`conv_table` is pure arithmetic from the kernels and strides; `trace_shapes` records what the real model
produces with forward hooks; `explain_rows` joins the two and checks that they agree, so a printed number
is always a measured one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.lengths import frame_mask, layer_lengths, layer_receptive_fields, output_lengths
from w2v_lite.model.masking import compute_mask_indices, sample_negative_indices
from w2v_lite.model.pretraining import Wav2Vec2ForPreTraining
from w2v_lite.model.wav2vec2 import Wav2Vec2Model


def conv_table(num_samples: int, config: Wav2Vec2Config | None = None) -> list[dict]:
    """Per conv layer: its kernel, stride, channels, frames after it for `num_samples` input samples, and
    the cumulative receptive field and hop (samples and ms). int -> list of dicts, one per layer."""
    config = config or Wav2Vec2Config.base()
    per_layer = layer_lengths(int(num_samples), config)
    rows = []
    fields = layer_receptive_fields(config)
    for i, (c, k, s) in enumerate(zip(config.conv_dim, config.conv_kernel, config.conv_stride)):
        field, hop = fields[i]
        rows.append(dict(layer=i, kernel=k, stride=s, channels=c, frames=per_layer[i + 1], field=field, hop=hop,
                         field_ms=1000 * field / config.sampling_rate, hop_ms=1000 * hop / config.sampling_rate))
    return rows


def trace_shapes(
    model: Wav2Vec2Model, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None
) -> list[tuple[str, tuple[int, ...]]]:
    """Run `model` once and record (module name, output shape) for the conv layers, the projection, the
    positional conv, every transformer layer and the model output. (B, L) -> list of (name, shape)."""
    watched: list[tuple[str, nn.Module]] = [
        *((f"feature_extractor.conv_layers.{i}", m) for i, m in enumerate(model.feature_extractor.conv_layers)),
        ("feature_projection", model.feature_projection),
        ("encoder.pos_conv_embed", model.encoder.pos_conv_embed),
        *((f"encoder.layers.{i}", m) for i, m in enumerate(model.encoder.layers)),
    ]
    shapes: list[tuple[str, tuple[int, ...]]] = []

    def hook(name: str):
        def record(_module, _inputs, output):
            first = output[0] if isinstance(output, tuple) else output  # projection returns a pair
            shapes.append((name, tuple(first.shape)))
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in watched]
    try:
        with torch.no_grad():
            out = model(input_values, attention_mask=attention_mask)
    finally:
        for h in handles:
            h.remove()
    shapes.append(("last_hidden_state", tuple(out.last_hidden_state.shape)))
    return shapes


@dataclass
class ModelOverview:
    """Live shapes of one clip through the whole pretraining model (the whole-model figure's numbers)."""

    waveform: tuple[int, ...]  # (1, L)
    conv: tuple[int, ...]  # (1, C, T): the conv stack's output, channels first
    z: tuple[int, ...]  # (1, T, C): one C-vector per frame (extract_features)
    projected: tuple[int, ...]  # (1, T, H)
    num_masked: int  # frames replaced by masked_spec_embed
    c: tuple[int, ...]  # (1, T, H): the transformer's output (context vectors)
    num_layers: int  # transformer layers
    q: tuple[int, ...]  # (1, T, D): quantized targets (codevector_dim)
    num_groups: int  # G codebooks ...
    num_codes: int  # ... of V entries each
    logits: tuple[int, ...]  # (1, T, 1 + K): cosine logits, target at index 0
    loss: float  # contrastive + diversity_loss_weight * diversity


def model_overview(model: Wav2Vec2ForPreTraining, waveform: torch.Tensor, seed: int = 0) -> ModelOverview:
    """Run a clip (L,) through `model` (eval mode) with seeded span masks and negatives, and record the
    shape after every stage of the whole model: (L,) -> `ModelOverview`."""
    if not isinstance(model, Wav2Vec2ForPreTraining):
        raise TypeError(f"model must be a w2v_lite Wav2Vec2ForPreTraining, got {type(model).__name__}")
    cfg = model.config
    x = waveform.reshape(1, -1)
    frames = output_lengths(x.shape[1], cfg)
    state = np.random.get_state()
    np.random.seed(seed)  # compute_mask_indices / sample_negative_indices draw from numpy's global RNG
    try:
        mask = compute_mask_indices((1, frames), max(cfg.mask_time_prob, 0.05), cfg.mask_time_length,
                                    min_masks=max(cfg.mask_time_min_masks, 1))
        negatives = sample_negative_indices((1, frames), cfg.num_negatives, mask)
    finally:
        np.random.set_state(state)
    seen: dict[str, Any] = {}  # hook outputs: tensors, tuples or model outputs

    def keep(name: str):
        def hook(_module, _inputs, output):
            seen[name] = output
        return hook

    watched = {"conv": model.wav2vec2.feature_extractor, "projected": model.wav2vec2.feature_projection,
               "encoder": model.wav2vec2, "quantizer": model.quantizer}
    handles = [m.register_forward_hook(keep(name)) for name, m in watched.items()]
    try:
        with torch.no_grad():
            out = model(x, mask_time_indices=torch.as_tensor(mask), sampled_negative_indices=negatives)
    finally:
        for h in handles:
            h.remove()
    encoder = seen["encoder"]
    return ModelOverview(
        waveform=tuple(x.shape), conv=tuple(seen["conv"].shape), z=tuple(encoder.extract_features.shape),
        projected=tuple(seen["projected"][0].shape), num_masked=int(mask.sum()),
        c=tuple(encoder.last_hidden_state.shape), num_layers=cfg.num_hidden_layers, q=tuple(seen["quantizer"][0].shape),
        num_groups=cfg.num_codevector_groups, num_codes=cfg.num_codevectors_per_group,
        logits=tuple(out.logits.shape), loss=float(out.loss),
    )


def explain_rows(model: Wav2Vec2Model, waveform: torch.Tensor) -> list[tuple[str, str, str]]:
    """The `explain` table for one clip (L,): rows of (stage, shape, note), every shape measured by a real
    forward pass and cross-checked against `output_lengths`."""
    cfg = model.config
    num_samples = waveform.shape[-1]
    traced = dict(trace_shapes(model, waveform.reshape(1, -1)))
    rows = [("waveform", f"(1, {num_samples})",
             f"{num_samples} samples = {num_samples / cfg.sampling_rate:.3f} s at {cfg.sampling_rate} Hz")]
    for r in conv_table(num_samples, cfg):
        shape = traced[f"feature_extractor.conv_layers.{r['layer']}"]
        if shape[1:] != (r["channels"], r["frames"]):
            raise AssertionError(f"conv layer {r['layer']}: model gave {shape}, arithmetic {r}")
        rows.append((f"conv {r['layer']} (k={r['kernel']}, s={r['stride']})", f"(1, {shape[1]}, {shape[2]})",
                     f"window {r['field']} samples = {r['field_ms']:g} ms, hop {r['hop']} = {r['hop_ms']:g} ms"))
    frames = output_lengths(num_samples, cfg)
    c, h = cfg.conv_dim[-1], cfg.hidden_size
    rows.append(("transpose", f"(1, {frames}, {c})", f"{frames} frames of {c} channels: {c} is features, not time"))
    proj = traced["feature_projection"]
    if proj != (1, frames, h):
        raise AssertionError(f"projection gave {proj}, expected {(1, frames, h)}")
    rows.append(("feature_projection", f"(1, {frames}, {h})",
                 f"LayerNorm({c}) + Linear({c}, {h}) on each frame separately"))
    rows.append(("encoder.pos_conv_embed", str(traced["encoder.pos_conv_embed"]),
                 f"grouped conv over {cfg.num_conv_pos_embeddings} frames, added to the input"))
    out = traced["last_hidden_state"]
    rows.append((f"transformer ({cfg.num_hidden_layers} layers)", str(out),
                 f"{frames} frames attend to each other; width stays {h}"))
    return rows


def batch_rows(config: Wav2Vec2Config, sample_lengths: list[int]) -> tuple[list[tuple[str, str, str]], torch.Tensor]:
    """Padding summary for a batch of clip lengths: one row per clip (name, samples, frames) and the (B, T)
    frame mask."""
    frame_lengths = output_lengths(torch.tensor(sample_lengths), config)
    mask = frame_mask(frame_lengths, int(output_lengths(max(sample_lengths), config)))
    longest = max(sample_lengths)
    rows = [(str(n), f"{n} samples + {longest - n} padding", f"{int(f)} of {mask.shape[1]} frames valid")
            for n, f in zip(sample_lengths, frame_lengths)]
    return rows, mask


def format_table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """Plain-text table with aligned columns."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


LONG_CLIP_SECONDS = 30.0  # above this, `explain` runs the model on an excerpt only
EXCERPT_SECONDS = 1.0


def long_clip_rows(
    model: Wav2Vec2Model, waveform: torch.Tensor, excerpt_seconds: float = EXCERPT_SECONDS
) -> tuple[list[tuple[str, str, str]], str]:
    """The `explain` table for a clip too long to run whole: (rows, note).

    Every shape of the full clip (L,) follows from L alone (`output_lengths`, layer by layer), so the rows
    are arithmetic; one real forward pass over the first `excerpt_seconds` checks that arithmetic against
    the model (`explain_rows` raises if they ever disagree). Memory and time are those of the excerpt.
    """
    cfg = model.config
    num_samples = waveform.shape[-1]
    excerpt = waveform[..., : round(excerpt_seconds * cfg.sampling_rate)]
    explain_rows(model, excerpt)  # a real forward pass on the excerpt, cross-checked with the arithmetic
    frames = output_lengths(num_samples, cfg)
    c, h = cfg.conv_dim[-1], cfg.hidden_size
    rows = [("waveform", f"(1, {num_samples})",
             f"{num_samples} samples = {num_samples / cfg.sampling_rate:.3f} s at {cfg.sampling_rate} Hz")]
    for r in conv_table(num_samples, cfg):
        rows.append((f"conv {r['layer']} (k={r['kernel']}, s={r['stride']})", f"(1, {r['channels']}, {r['frames']})",
                     f"window {r['field']} samples = {r['field_ms']:g} ms, hop {r['hop']} = {r['hop_ms']:g} ms"))
    rows.append(("transpose", f"(1, {frames}, {c})", f"{frames} frames of {c} channels: {c} is features, not time"))
    rows.append(("feature_projection", f"(1, {frames}, {h})",
                 f"LayerNorm({c}) + Linear({c}, {h}) on each frame separately"))
    rows.append(("encoder.pos_conv_embed", f"(1, {frames}, {h})",
                 f"grouped conv over {cfg.num_conv_pos_embeddings} frames, added to the input"))
    rows.append((f"transformer ({cfg.num_hidden_layers} layers)", f"(1, {frames}, {h})",
                 f"{frames} frames attend to each other; width stays {h}"))
    layer0 = conv_table(num_samples, cfg)[0]
    note = (f"long clip: shapes from output_lengths (arithmetic); the model ran once on the first "
            f"{excerpt.shape[-1] / cfg.sampling_rate:g} s only, and its shapes matched the same arithmetic. "
            f"A full pass would hold {layer0['channels']} x {layer0['frames']} floats after conv 0 alone "
            f"({layer0['channels'] * layer0['frames'] * 4 / 1e9:.1f} GB); to run the model over long audio use "
            "w2v_lite.asr.chunking.encode_chunked")
    return rows, note


def batch_report(model: Wav2Vec2Model, paths: Sequence[str]) -> str:
    """`explain --batch`: padding, frame counts and the frame mask of several files, as text.

    The same long-clip rule as `explain FILE`: when a clip is longer than LONG_CLIP_SECONDS the model runs on
    the first EXCERPT_SECONDS of every clip only (its frame mask checked against the same arithmetic), and
    the full batch's numbers come from `output_lengths`. A 30-minute file is never padded into a batch nor
    kept whole: files are loaded one at a time, and only the excerpt of a long one is kept.
    """
    from w2v_lite.data import audio  # here: the data package imports the model, not the other way round

    cfg = model.config
    limit = round(LONG_CLIP_SECONDS * cfg.sampling_rate)
    excerpt = round(EXCERPT_SECONDS * cfg.sampling_rate)
    lengths, clips = [], []
    for path in paths:
        clip = audio.load(path, sampling_rate=cfg.sampling_rate)
        lengths.append(int(clip.numel()))
        clips.append(clip if clip.numel() <= limit else clip[:excerpt].clone())
        del clip  # a long clip's samples go now
    long = max(lengths) > limit
    if long:  # every clip cut to the excerpt, so the model's mask is checked on the same kind of batch
        clips = [c[:excerpt] for c in clips]
    short = [p for p, n in zip(paths, lengths) if output_lengths(n, cfg) == 0]
    if short:
        window = layer_receptive_fields(cfg)[-1][0]
        raise ValueError(f"{short[0]} has fewer samples than one frame's window ({window}); use longer clips")
    batch = audio.pad_batch(clips)
    with torch.no_grad():
        out = model(batch.input_values, attention_mask=batch.attention_mask)
    if not torch.equal(out.frame_mask, batch_rows(cfg, batch.sample_lengths.tolist())[1]):
        raise AssertionError("model frame mask disagrees with output_lengths")
    rows, mask = batch_rows(cfg, lengths)
    lines = [f"batch of {len(lengths)} padded to {max(lengths)} samples",
             format_table([(p, *r[1:]) for p, r in zip(paths, rows)], ("clip", "samples", "frames")),
             "", "frame mask (# = real frame, . = padding):"]
    for path, row in zip(paths, mask):
        real = int(row.sum())
        shown = "".join("#" if v else "." for v in row.tolist()) if row.numel() <= 200 else (
            f"# x {real}, then . x {row.numel() - real}")  # a 30-minute row would be 90,000 characters
        lines.append(f"{shown} {path}")
    lines += ["", f"last_hidden_state: {(len(lengths), int(output_lengths(max(lengths), cfg)), cfg.hidden_size)}"]
    if long:
        lines += ["", f"long clip: shapes from output_lengths (arithmetic); the model ran on the first "
                      f"{EXCERPT_SECONDS:g} s of each clip only, and its frame mask matched the same arithmetic"]
    return "\n".join(lines)
