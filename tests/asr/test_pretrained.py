"""Checkpoints as published by transformers: random-init `Wav2Vec2ForCTC` + `Wav2Vec2Processor` saved with
save_pretrained (group norm: no normalisation, no mask; layer norm: both), transcribed by w2v_lite and by
transformers on the same audio. Also the older file layouts, a Hub id from a local cache (offline), and a
missing huggingface_hub."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from published import save_published

from w2v_lite.asr.pretrained import resolve_model
from w2v_lite.asr.recognizer import Recognizer

ROOT = Path(__file__).resolve().parents[2]
LENGTHS = (16000, 12345, 9000, 20011)


def clips(seed: int = 0) -> list[np.ndarray]:
    """Speech-like noise: a few amplitude-modulated tones plus noise, different lengths."""
    rng = np.random.default_rng(seed)
    out = []
    for n in LENGTHS:
        t = np.arange(n) / 16000
        x = sum(np.sin(2 * np.pi * f * t) * (1 + np.sin(2 * np.pi * r * t)) for f, r in
                rng.uniform([100, 1], [900, 6], size=(4, 2)))
        out.append((0.05 * x + 0.02 * rng.standard_normal(n)).astype(np.float32))
    return out


def transformers_text(model, processor, audio: list[np.ndarray], batched: bool) -> list[str]:
    """transformers' own decoding: processor -> model -> argmax -> batch_decode (as its CTC pipeline does,
    skip_special_tokens=False), double spaces squeezed."""
    if batched:
        inputs = processor(audio, sampling_rate=16000, return_tensors="pt", padding=True)
        with torch.no_grad():
            ids = model(**inputs).logits.argmax(-1)
        lengths = model._get_feat_extract_output_lengths(torch.tensor([len(a) for a in audio]))
        texts = [processor.decode(row[:n]) for row, n in zip(ids, lengths.tolist(), strict=True)]
    else:
        texts = []
        for a in audio:
            with torch.no_grad():
                ids = model(**processor(a, sampling_rate=16000, return_tensors="pt")).logits.argmax(-1)
            texts.append(processor.decode(ids[0]))
    return [" ".join(t.split()) for t in texts]


def write(folder: Path, audio: list[np.ndarray]) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for i, a in enumerate(audio):
        sf.write(folder / f"clip{i}.wav", a, 16000, subtype="FLOAT")
        paths.append(folder / f"clip{i}.wav")
    return paths


@pytest.mark.parametrize("norm", ["group", "layer"])
def test_preprocessing_follows_the_processor(tmp_path, norm):
    save_published(tmp_path, norm)
    pre = Recognizer.load(tmp_path).preprocessing
    layer = norm == "layer"
    assert (pre.do_normalize, pre.return_attention_mask, pre.sampling_rate) == (layer, layer, 16000)


@pytest.mark.parametrize(("norm", "safe"), [("group", True), ("layer", True), ("group", False)])
def test_transcription_equals_transformers(tmp_path, norm, safe):
    model, processor = save_published(tmp_path / "ckpt", norm, seed=3, safe=safe)
    assert (tmp_path / "ckpt" / ("model.safetensors" if safe else "pytorch_model.bin")).is_file()
    audio = clips()
    ours = [r.text for r in Recognizer.load(tmp_path / "ckpt").transcribe(write(tmp_path / "audio", audio))]
    # group norm: transformers' own advice is one clip at a time (padding changes the outputs), which is
    # what transcribe does for it; layer norm ignores padding, so transcribe batches and so do we here
    theirs = transformers_text(model, processor, audio, batched=norm == "layer")
    assert ours == theirs
    assert len(set("".join(ours))) > 8  # the paths visit many letters, so the comparison means something


@pytest.mark.parametrize("norm", ["group", "layer"])
def test_logits_equal_transformers(tmp_path, norm):
    model, processor = save_published(tmp_path, norm, seed=1)
    rec = Recognizer.load(tmp_path)
    audio = clips(1)
    for a in audio:
        with torch.no_grad():
            theirs = model(**processor(a, sampling_rate=16000, return_tensors="pt")).logits[0]
        torch.testing.assert_close(rec.emissions(torch.from_numpy(a)), theirs, atol=1e-4, rtol=1e-5)
    inputs = processor(audio, sampling_rate=16000, return_tensors="pt", padding=True)
    assert ("attention_mask" in inputs) == (norm == "layer")
    with torch.no_grad():
        theirs = model(**inputs).logits
    for b, ours in enumerate(rec.emissions([torch.from_numpy(a) for a in audio])):  # one padded batch
        torch.testing.assert_close(ours, theirs[b, : len(ours)], atol=1e-4, rtol=1e-5)


def test_older_preprocessor_config_json(tmp_path):
    """transformers 4.x (and the Hub) write preprocessor_config.json at the top level."""
    save_published(tmp_path, "layer")
    settings = json.loads((tmp_path / "processor_config.json").read_text())["feature_extractor"]
    (tmp_path / "processor_config.json").unlink()
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({**settings, "do_normalize": False}))
    pre = Recognizer.load(tmp_path).preprocessing
    assert (pre.do_normalize, pre.return_attention_mask) == (False, True)


def hub_cache(tmp_path: Path, repo: str) -> Path:
    """A folder laid out as huggingface_hub's cache, holding one snapshot of `repo`."""
    cache = tmp_path / "hub"
    snapshot = cache / f"models--{repo.replace('/', '--')}" / "snapshots" / ("0" * 40)
    save_published(snapshot, "group", seed=2)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    return cache


def test_hub_id_from_the_local_cache_offline(tmp_path):
    cache = hub_cache(tmp_path, "someone/wav2vec2-tiny-960h")
    clip = write(tmp_path / "audio", clips()[:1])[0]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "w2v_lite", "transcribe", str(clip), "--model",
                          "someone/wav2vec2-tiny-960h", "--json"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    snapshot = next(cache.glob("models--*/snapshots/*"))
    expected = Recognizer.load(snapshot).transcribe(clip)
    assert json.loads(run.stdout)["text"] == expected.text != ""
    # an id that is not in the cache: one line, no traceback
    run = subprocess.run([sys.executable, "-m", "w2v_lite", "transcribe", str(clip), "--model", "nobody/none"],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 2
    assert run.stderr.startswith("error: nobody/none is not a local folder, and fetching it from the Hub failed")
    assert len(run.stderr.splitlines()) == 1


def test_missing_huggingface_hub_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # `import huggingface_hub` now raises ImportError
    with pytest.raises(ValueError, match=r"needs huggingface_hub: `pip install huggingface_hub`"):
        resolve_model("facebook/wav2vec2-base-960h")


@pytest.mark.parametrize("source", ["no/such/folder", "./missing", "missing_folder"])
def test_missing_folder_is_not_taken_for_a_hub_id(source):
    with pytest.raises(ValueError, match="does not exist"):
        resolve_model(source)


def test_folder_without_weights(tmp_path):
    save_published(tmp_path, "group")
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="no weights"):
        Recognizer.load(tmp_path)
    shutil.rmtree(tmp_path)
