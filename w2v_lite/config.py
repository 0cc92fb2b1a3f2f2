"""Model configuration: every size and switch of wav2vec 2.0, with HuggingFace's field names.

The field names are exactly those of `transformers.Wav2Vec2Config`, so a `config.json` written by
transformers loads here and ours loads there. Two fields are ours: `mask_aware_group_norm` (a
padding-invariant layer-0 GroupNorm, see `feature_encoder.py`) and `sampling_rate`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAMPLING_RATE = 16_000  # Hz: every wav2vec 2.0 checkpoint was trained on 16 kHz audio
BLANK_ID = 0  # the CTC blank is the tokenizer's pad token, id 0 in every wav2vec 2.0 CTC checkpoint
IGNORE_INDEX = -100  # label padding, as in transformers (F.cross_entropy's ignore_index)
PRESETS = ("base", "large", "large-lv60", "tiny")  # names accepted by `Wav2Vec2Config.preset`

# The wav2vec 2.0 conv stack: 7 layers, 512 channels. Kernel 10 stride 5 first, then 3/2 and 2/2.
BASE_CONV_DIM = (512,) * 7
BASE_CONV_KERNEL = (10, 3, 3, 3, 3, 2, 2)
BASE_CONV_STRIDE = (5, 2, 2, 2, 2, 2, 2)


@dataclass(frozen=True)
class Wav2Vec2Config:
    """All hyper-parameters of the model. Defaults are the `base` preset (95M parameters)."""

    # feature encoder (conv stack): samples -> frames
    conv_dim: tuple[int, ...] = BASE_CONV_DIM
    conv_kernel: tuple[int, ...] = BASE_CONV_KERNEL
    conv_stride: tuple[int, ...] = BASE_CONV_STRIDE
    conv_bias: bool = False
    feat_extract_norm: str = "group"
    feat_extract_activation: str = "gelu"
    mask_aware_group_norm: bool = False
    # projection and transformer ("context network")
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    do_stable_layer_norm: bool = False
    layer_norm_eps: float = 1e-5
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    # regularisation
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.1
    feat_proj_dropout: float = 0.0
    feat_quantizer_dropout: float = 0.0
    final_dropout: float = 0.1
    layerdrop: float = 0.1
    # span masking (SpecAugment-style)
    apply_spec_augment: bool = True
    mask_time_prob: float = 0.05
    mask_time_length: int = 10
    mask_time_min_masks: int = 2
    mask_feature_prob: float = 0.0
    mask_feature_length: int = 10
    mask_feature_min_masks: int = 0
    # quantizer and contrastive objective
    num_codevectors_per_group: int = 320
    num_codevector_groups: int = 2
    codevector_dim: int = 256
    proj_codevector_dim: int = 256
    num_negatives: int = 100
    contrastive_logits_temperature: float = 0.1
    diversity_loss_weight: float = 0.1
    # CTC head
    vocab_size: int = 32
    pad_token_id: int = BLANK_ID
    ctc_loss_reduction: str = "sum"
    ctc_zero_infinity: bool = False
    # audio
    sampling_rate: int = SAMPLING_RATE
    # free-form extras carried through `to_hf_dict` (e.g. tokenizer ids); not used by the model
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_types(self)
        if not (len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride) >= 1):
            raise ValueError(
                f"conv_dim, conv_kernel and conv_stride must have the same non-zero length, got "
                f"{len(self.conv_dim)}, {len(self.conv_kernel)} and {len(self.conv_stride)}"
            )
        if self.feat_extract_norm not in ("group", "layer"):
            raise ValueError(f"feat_extract_norm must be 'group' or 'layer', got {self.feat_extract_norm!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.hidden_size % self.num_conv_pos_embedding_groups:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_conv_pos_embedding_groups "
                f"({self.num_conv_pos_embedding_groups})"
            )
        if self.codevector_dim % self.num_codevector_groups:
            raise ValueError("codevector_dim must be divisible by num_codevector_groups")
        if self.ctc_loss_reduction not in ("sum", "mean"):
            raise ValueError(f"ctc_loss_reduction must be 'sum' or 'mean', got {self.ctc_loss_reduction!r}")

    # ---- presets -------------------------------------------------------------------------------
    @classmethod
    def base(cls, **overrides: Any) -> Wav2Vec2Config:
        """wav2vec 2.0 base: 12 layers, width 768, GroupNorm conv stack, post-LN transformer."""
        return cls(**overrides)

    @classmethod
    def large(cls, **overrides: Any) -> Wav2Vec2Config:
        """wav2vec 2.0 large (LibriSpeech): 24 layers, width 1024, GroupNorm, post-LN."""
        kw: dict[str, Any] = dict(
            hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096
        )
        return cls(**{**kw, **overrides})

    @classmethod
    def large_lv60(cls, **overrides: Any) -> Wav2Vec2Config:
        """wav2vec 2.0 large-lv60: LayerNorm conv stack with bias, pre-LN ("stable") transformer."""
        kw: dict[str, Any] = dict(
            hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
            feat_extract_norm="layer", conv_bias=True, do_stable_layer_norm=True, codevector_dim=768,
            proj_codevector_dim=768,
        )
        return cls(**{**kw, **overrides})

    @classmethod
    def tiny(cls, **overrides: Any) -> Wav2Vec2Config:
        """A CPU classroom model: the base conv kernels and strides (so every length lesson holds
        unchanged: 400-sample window, 320-sample hop) with small widths."""
        kw: dict[str, Any] = dict(
            conv_dim=(64,) * 7, hidden_size=96, num_hidden_layers=3, num_attention_heads=4,
            intermediate_size=256, num_conv_pos_embeddings=32, num_conv_pos_embedding_groups=4,
            num_codevectors_per_group=32, codevector_dim=64, proj_codevector_dim=64, num_negatives=20,
            mask_time_prob=0.3, mask_time_length=5, layerdrop=0.0, hidden_dropout=0.05,
            attention_dropout=0.05, activation_dropout=0.0,
        )
        return cls(**{**kw, **overrides})

    @classmethod
    def preset(cls, name: str) -> Wav2Vec2Config:
        """Look up a preset by name: base, large, large-lv60 (or large_lv60), tiny."""
        if not isinstance(name, str) or name.replace("_", "-") not in PRESETS:
            raise ValueError(f"unknown config {name!r}; choose one of {', '.join(PRESETS)}")
        return getattr(cls, name.replace("-", "_"))()

    @property
    def ignores_padding(self) -> bool:
        """Whether a clip's valid outputs stay the same when it is zero-padded and the padding is masked.

        True for a LayerNorm conv stack (it normalises each frame on its own) and for the mask-aware
        GroupNorm; False for the base GroupNorm, which normalises layer 0 over the padding too.
        """
        return self.feat_extract_norm == "layer" or self.mask_aware_group_norm

    # ---- conversion ------------------------------------------------------------------------------
    def replace(self, **changes: Any) -> Wav2Vec2Config:
        """A copy with some fields changed. An unknown field name raises TypeError naming it."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"unknown config field(s) {unknown}; use Wav2Vec2Config's (transformers') field "
                            "names, e.g. mask_time_prob or feat_extract_norm (see w2v_lite/config.py)")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_hf(cls, hf_config: Any) -> Wav2Vec2Config:
        """Build from a `transformers.Wav2Vec2Config` or its dict (e.g. a parsed `config.json`).

        Unknown keys are kept in `extra`; HF options we do not implement (adapters) raise ValueError.
        """
        if not isinstance(hf_config, dict) and not callable(getattr(hf_config, "to_dict", None)):
            raise TypeError(f"from_hf expects a transformers Wav2Vec2Config or a dict, got {type(hf_config).__name__}")
        d = hf_config if isinstance(hf_config, dict) else hf_config.to_dict()
        if d.get("add_adapter") or d.get("adapter_attn_dim") is not None:
            raise ValueError("adapter layers (add_adapter / adapter_attn_dim) are not supported by w2v_lite")
        if d.get("num_feat_extract_layers", len(d.get("conv_dim", BASE_CONV_DIM))) != len(
            d.get("conv_dim", BASE_CONV_DIM)
        ):
            raise ValueError("num_feat_extract_layers disagrees with len(conv_dim)")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in d.items() if k in names}
        extra = {k: v for k, v in d.items() if k not in names}
        return cls(**known, extra=extra)

    def to_hf_dict(self) -> dict[str, Any]:
        """A dict that `transformers.Wav2Vec2Config(**d)` accepts (also what `config.json` holds)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        for name in ("conv_dim", "conv_kernel", "conv_stride"):
            d[name] = list(d[name])
        d["num_feat_extract_layers"] = len(self.conv_dim)
        d["model_type"] = "wav2vec2"
        return {**self.extra, **d}

    def save(self, path: str | Path) -> None:
        """Write as JSON (HF-compatible `config.json`)."""
        Path(path).write_text(json.dumps(self.to_hf_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Wav2Vec2Config:
        """Read a `config.json` written by `save` or by transformers."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"no config file at {path}; expected a config.json written by save_pretrained")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
            raise ValueError(f"{path} is not valid JSON ({err}); restore the config.json of the checkpoint") from err
        if not isinstance(data, dict):
            raise ValueError(f"{path} holds a JSON {type(data).__name__}, but a config.json must be a JSON object "
                             '{"field": value, ...}')
        try:
            return cls.from_hf(data)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from err


# ---- validation --------------------------------------------------------------------------------------
# Fields whose ints may be 0 (all other int fields must be >= 1) and floats in [0, 1] or > 0.
_NON_NEGATIVE_INTS = {"mask_time_min_masks", "mask_feature_min_masks", "pad_token_id"}
_PROBABILITIES = {"hidden_dropout", "attention_dropout", "activation_dropout", "feat_proj_dropout",
                  "feat_quantizer_dropout", "final_dropout", "layerdrop", "mask_time_prob", "mask_feature_prob"}
_POSITIVE_FLOATS = {"layer_norm_eps", "contrastive_logits_temperature"}


def _check_types(config: Wav2Vec2Config) -> None:
    """Every field has its declared type and a sensible range; raise naming the field, the expected type and
    the value (e.g. `num_attention_heads must be a positive int, got -4`). Tuples are normalised."""
    for f in dataclasses.fields(config):
        name, value, kind = f.name, getattr(config, f.name), str(f.type)
        if kind.startswith("tuple"):
            if not isinstance(value, (list, tuple)) or not all(_is_int(v) and v >= 1 for v in value):
                raise ValueError(f"{name} must be a list of positive ints, got {value!r}")
            object.__setattr__(config, name, tuple(int(v) for v in value))
        elif kind == "bool" and not isinstance(value, bool):
            raise TypeError(f"{name} must be true or false, got {value!r}")
        elif kind == "str" and not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {value!r}")
        elif kind == "dict" and not isinstance(value, dict):
            raise TypeError(f"{name} must be a dict, got {value!r}")
        elif kind == "int":
            low = 0 if name in _NON_NEGATIVE_INTS else 1
            if not _is_int(value) or value < low:
                raise ValueError(f"{name} must be a {'non-negative' if low == 0 else 'positive'} int, got {value!r}")
        elif kind == "float":
            ok = _is_number(value) and math.isfinite(value)
            if name in _PROBABILITIES:
                if not (ok and 0 <= value <= 1):
                    raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
            elif not (ok and (value > 0 if name in _POSITIVE_FLOATS else value >= 0)):
                raise ValueError(f"{name} must be a {'positive' if name in _POSITIVE_FLOATS else 'non-negative'} "
                                 f"number, got {value!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
