"""Folders laid out like a CTC checkpoint published with transformers (e.g. wav2vec2-base-960h): a
random-init `transformers.Wav2Vec2ForCTC` and its `Wav2Vec2Processor`, both saved with `save_pretrained`.
Nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import transformers

# the vocabulary of facebook/wav2vec2-base-960h: specials, the delimiter, upper-case letters by frequency
LETTERS = list("ETAONIHSRDLUMWCFGYPBVK'XJQZ")
PUBLISHED_VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4,
                   **{c: i + 5 for i, c in enumerate(LETTERS)}}

# small encoders: group-norm (base-like, no mask, not normalised) and layer-norm (lv60-like, mask, normalised)
ENCODERS = {
    "group": dict(conv_dim=[32] * 7, hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=64, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                  feat_extract_norm="group", do_stable_layer_norm=False),
    "layer": dict(conv_dim=[32] * 7, hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=64, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                  feat_extract_norm="layer", conv_bias=True, do_stable_layer_norm=True),
}


def vocab_file(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vocab.json"
    path.write_text(json.dumps(PUBLISHED_VOCAB))
    return path


def processor(folder: Path, norm: str) -> transformers.Wav2Vec2Processor:
    """The processor transformers publishes with each kind: group-norm checkpoints are not normalised and
    get no attention mask; layer-norm ones are normalised and get a mask."""
    tokenizer = transformers.Wav2Vec2CTCTokenizer(str(vocab_file(folder)), unk_token="<unk>", pad_token="<pad>",
                                                  word_delimiter_token="|")
    layer = norm == "layer"
    extractor = transformers.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                                      do_normalize=layer, return_attention_mask=layer)
    return transformers.Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer)


def save_published(folder: Path, norm: str = "group", seed: int = 0, safe: bool = True):
    """Write a published-style folder; returns (transformers model in eval mode, processor)."""
    torch.manual_seed(seed)
    cfg = transformers.Wav2Vec2Config(**ENCODERS[norm], vocab_size=len(PUBLISHED_VOCAB), pad_token_id=0,
                                      hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                                      feat_proj_dropout=0.0, final_dropout=0.0, layerdrop=0.0)
    model = transformers.Wav2Vec2ForCTC(cfg).eval()
    with torch.no_grad():  # a sharper head than random init, so the argmax path visits many letters
        model.lm_head.weight.mul_(20.0)
        model.lm_head.bias[1:4] -= 50.0  # <s>, </s>, <unk>: a trained CTC head never emits them
    proc = processor(folder, norm)
    model.save_pretrained(folder)
    proc.save_pretrained(folder)
    if not safe:  # the older layout: a pickled state dict (read back with weights_only=True)
        from safetensors.torch import load_file

        torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
        (folder / "model.safetensors").unlink()
    return model, proc
