"""Checkpoints as published: a folder (or Hub id) written by transformers' `save_pretrained` of a CTC model
and its processor, or by w2v_lite's ctc trainer.

    config.json                              the model (read by `Wav2Vec2ForCTC.from_pretrained`)
    model.safetensors | pytorch_model.bin    the weights (never unpickled as code)
    vocab.json [+ tokenizer_config.json]     the characters and the names of <pad>, <s>, </s>, <unk>, |
    preprocessor_config.json                 do_normalize, sampling_rate, return_attention_mask
      (transformers 5 writes processor_config.json with the same keys under "feature_extractor")

`load_checkpoint(source)` -> (model in eval mode, tokenizer, `Preprocessing`), which `Recognizer.load` (the one
loader, in `asr.recognizer`) wraps; `DEFAULT_MODEL_DIR` is the committed ctc-tiny. How to feed the
model follows the processor, as transformers advises: group-norm checkpoints (base) were trained on
unpadded, unnormalised audio, so they get zero padding and no attention mask; layer-norm checkpoints
(large-lv60) get normalised audio and a mask. A folder without a preprocessor file (ours) is normalised, as
our trainer does, and gets a mask when the model can use one (layer norm, or the mask-aware GroupNorm).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data.tokenizer import CharTokenizer, read_json_object
from w2v_lite.errors import UsageError
from w2v_lite.model.checkpoints import load_config
from w2v_lite.model.ctc import Wav2Vec2ForCTC, check_vocabulary

__all__ = ["DEFAULT_MODEL_DIR", "Preprocessing", "load_checkpoint", "read_preprocessing", "resolve_model"]

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "checkpoints" / "ctc-tiny"


@dataclass(frozen=True)
class Preprocessing:
    """How raw audio becomes `input_values`: the feature extractor's three settings."""

    do_normalize: bool  # zero mean, unit variance per clip
    return_attention_mask: bool  # pass a mask with padded batches (else pad with zeros and pass none)
    sampling_rate: int

    @classmethod
    def ours(cls, config: Wav2Vec2Config) -> Preprocessing:
        """How w2v_lite's trainer feeds a model: normalised clips, and a mask when the model can use one
        (layer norm, or the mask-aware GroupNorm)."""
        return cls(do_normalize=True, return_attention_mask=config.ignores_padding,
                   sampling_rate=config.sampling_rate)


def _processor_settings(folder: Path) -> tuple[dict, Path | None]:
    """The feature extractor's settings from preprocessor_config.json (or transformers 5's
    processor_config.json) and the file they came from, ({}, None) when there is neither; ValueError naming
    the file (and field) for bad UTF-8, bad JSON or another JSON type."""
    for name, key in (("preprocessor_config.json", None), ("processor_config.json", "feature_extractor")):
        path = folder / name
        if not path.is_file():
            continue
        settings = read_json_object(path, "feature-extractor settings")
        if key is not None and key in settings:
            settings = settings[key]
            if not isinstance(settings, dict):
                raise UsageError(f"{path}: field {key!r} must be a JSON object of feature-extractor settings, got "
                                 f"{settings!r}")
        return settings, path
    return {}, None


def read_preprocessing(folder: str | Path, model: Wav2Vec2ForCTC) -> Preprocessing:
    """The folder's feature-extractor settings, or ours when it has none (see the module docstring)."""
    folder = Path(folder)
    settings, source = _processor_settings(folder)
    ours = Preprocessing.ours(model.config)
    for key in ("do_normalize", "return_attention_mask"):
        if key in settings and not isinstance(settings[key], bool):
            raise UsageError(f"{source}: field {key!r} must be true or false, got {settings[key]!r}")
    rate = settings.get("sampling_rate", ours.sampling_rate)
    if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
        raise UsageError(f"{source}: field 'sampling_rate' must be a positive int (samples per second), got {rate!r}")
    if rate != ours.sampling_rate:
        raise UsageError(f"{folder}: preprocessor sampling_rate {rate!r} disagrees with config.json's "
                         f"{ours.sampling_rate}; fix one of the two files")
    return Preprocessing(do_normalize=settings.get("do_normalize", ours.do_normalize),
                         return_attention_mask=settings.get("return_attention_mask", ours.return_attention_mask),
                         sampling_rate=ours.sampling_rate)


def resolve_model(source: str | os.PathLike[str]) -> Path:
    """A local folder as is; otherwise a Hub id ("owner/name") fetched with `huggingface_hub` (which uses
    its cache, and only the cache when HF_HUB_OFFLINE=1). Raises ValueError with one line on failure."""
    path = Path(source)
    if path.is_dir():
        return path
    text = str(source)
    if path.exists():
        raise ValueError(f"--model {text} is a file, not a folder; pass the folder that holds config.json, the "
                         f"weights and vocab.json (here perhaps {path.parent})")
    if text.count("/") != 1 or text.startswith((".", "/")) or os.sep in text.replace("/", ""):
        raise ValueError(f"model folder {text} does not exist; pass a folder written by save_pretrained "
                         "(or a Hub id such as facebook/wav2vec2-base-960h)")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ValueError(f"{text} is not a local folder, and loading a Hub id needs huggingface_hub: "
                         "`pip install huggingface_hub`, or pass a local folder") from None
    try:
        return Path(snapshot_download(text, allow_patterns=["*.json", "*.safetensors", "*.bin", "*.txt"]))
    except Exception as err:  # network down, offline with nothing cached, no such repository
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{text} is not a local folder, and fetching it from the Hub failed ({first}); check "
                         "the path or the id and the network, or download it once and pass the folder") from None


def load_checkpoint(source: str | os.PathLike[str]) -> tuple[Wav2Vec2ForCTC, CharTokenizer, Preprocessing]:
    """A folder or Hub id -> (model in eval mode, tokenizer, preprocessing); `Recognizer.load` wraps it. A
    folder without vocab.json raises ValueError (ids could not be turned into text)."""
    folder = resolve_model(source)
    tokenizer = CharTokenizer.load(folder)  # first: no point loading weights that can't be decoded
    config = load_config(folder)
    if config.vocab_size != tokenizer.vocab_size:  # before the weights, whose lm_head would only show shapes
        raise ValueError(f"{folder}: config.json says vocab_size {config.vocab_size} but vocab.json holds "
                         f"{tokenizer.vocab_size} tokens; they must agree: use the vocab.json the model was trained "
                         "with, or correct vocab_size")
    model = Wav2Vec2ForCTC.from_pretrained(folder).eval()
    check_vocabulary(model.config, tokenizer, str(folder))
    return model, tokenizer, read_preprocessing(folder, model)
