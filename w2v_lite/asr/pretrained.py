"""Checkpoints as published: a folder (or Hub id) written by transformers' `save_pretrained` of a CTC model
and its processor, or by w2v_lite's ctc trainer.

    config.json                              the model (read by `Wav2Vec2ForCTC.from_pretrained`)
    model.safetensors | pytorch_model.bin    the weights (never unpickled as code)
    vocab.json [+ tokenizer_config.json]     the characters and the names of <pad>, <s>, </s>, <unk>, |
    preprocessor_config.json                 do_normalize, sampling_rate, return_attention_mask
      (transformers 5 writes processor_config.json with the same keys under "feature_extractor")

`load_recognizer(source)` -> `Recognizer` (model in eval mode, tokenizer, `Preprocessing`). How to feed the
model follows the processor, as transformers advises: group-norm checkpoints (base) were trained on
unpadded, unnormalised audio, so they get zero padding and no attention mask; layer-norm checkpoints
(large-lv60) get normalised audio and a mask. A folder without a preprocessor file (ours) is normalised, as
our trainer does, and gets a mask when the model can use one (layer norm, or the mask-aware GroupNorm).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from w2v_lite.data.tokenizer import CharTokenizer
from w2v_lite.model.ctc import Wav2Vec2ForCTC, check_vocabulary

__all__ = ["Preprocessing", "Recognizer", "load_recognizer", "read_preprocessing", "resolve_model"]


@dataclass(frozen=True)
class Preprocessing:
    """How raw audio becomes `input_values`: the feature extractor's three settings."""

    do_normalize: bool  # zero mean, unit variance per clip
    return_attention_mask: bool  # pass a mask with padded batches (else pad with zeros and pass none)
    sampling_rate: int


@dataclass
class Recognizer:
    """Everything transcription needs: model (eval mode), tokenizer and preprocessing."""

    model: Wav2Vec2ForCTC
    tokenizer: CharTokenizer
    preprocessing: Preprocessing
    source: str


def read_preprocessing(folder: str | Path, model: Wav2Vec2ForCTC) -> Preprocessing:
    """The folder's feature-extractor settings, or ours when it has none (see the module docstring)."""
    folder = Path(folder)
    settings: dict = {}
    if (folder / "preprocessor_config.json").is_file():
        settings = json.loads((folder / "preprocessor_config.json").read_text(encoding="utf-8"))
    elif (folder / "processor_config.json").is_file():
        settings = json.loads((folder / "processor_config.json").read_text(encoding="utf-8"))
        settings = settings.get("feature_extractor", settings)
    cfg = model.config
    own_mask = cfg.ignores_padding
    rate = int(settings.get("sampling_rate", cfg.sampling_rate))
    if rate != cfg.sampling_rate:
        raise ValueError(f"{folder}: preprocessor sampling_rate {rate} disagrees with config.json's "
                         f"{cfg.sampling_rate}; fix one of the two files")
    return Preprocessing(do_normalize=bool(settings.get("do_normalize", True)),
                         return_attention_mask=bool(settings.get("return_attention_mask", own_mask)),
                         sampling_rate=rate)


def resolve_model(source: str | os.PathLike[str]) -> Path:
    """A local folder as is; otherwise a Hub id ("owner/name") fetched with `huggingface_hub` (which uses
    its cache, and only the cache when HF_HUB_OFFLINE=1). Raises ValueError with one line on failure."""
    path = Path(source)
    if path.is_dir():
        return path
    text = str(source)
    if path.exists() or text.count("/") != 1 or text.startswith((".", "/")) or os.sep in text.replace("/", ""):
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


def load_recognizer(source: str | os.PathLike[str]) -> Recognizer:
    """A folder or Hub id -> `Recognizer`. A folder without vocab.json raises ValueError (ids could not be
    turned into text)."""
    folder = resolve_model(source)
    tokenizer = CharTokenizer.load(folder)  # first: no point loading weights that can't be decoded
    model = Wav2Vec2ForCTC.from_pretrained(folder).eval()
    check_vocabulary(model.config, tokenizer, str(folder))
    return Recognizer(model, tokenizer, read_preprocessing(folder, model), str(source))
