"""The inference object: `Recognizer` on waveforms in memory, on lists, with another decoder and with a model
that is not an nn.Module (the call signature an exported graph would have)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import w2v_lite.asr.recognizer as R
from w2v_lite.asr.decoding import collapse, greedy
from w2v_lite.asr.pretrained import DEFAULT_MODEL_DIR, Preprocessing
from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.data.audio import corpus_items, load, normalize
from w2v_lite.errors import UsageError
from w2v_lite.lengths import output_lengths

CLIP = Path(__file__).resolve().parents[1] / "assets" / "four_seven_two_22k_stereo.wav"
TEXT = "four seven two"


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    return Recognizer.load(DEFAULT_MODEL_DIR)


def test_a_waveform_in_memory_gives_what_its_file_gives(rec):
    from_file = rec.transcribe(CLIP)
    wave = load(CLIP, sampling_rate=rec.sampling_rate)
    in_memory = rec.transcribe(wave)
    assert in_memory.path is None and from_file.path == str(CLIP)
    assert in_memory.text == from_file.text == TEXT
    assert in_memory.frames == from_file.frames and in_memory.words == from_file.words
    assert in_memory.num_frames == output_lengths(wave.numel()) == len(in_memory.frames)


def test_emissions_are_the_model_on_the_normalised_clip(rec):
    """By hand: normalise the clip, run the model, take (T, V); a list gives each clip's own logits."""
    waves = [load(p) for p, _ in corpus_items("test")[:3]]
    with torch.no_grad():
        by_hand = [rec.model(normalize(w[None])).logits[0] for w in waves]
    torch.testing.assert_close(rec.emissions(waves[0]), by_hand[0], rtol=0, atol=0)
    batched = rec.emissions(waves)  # one padded forward: ctc-tiny ignores padding
    assert rec.ignores_padding and [b.shape for b in batched] == [h.shape for h in by_hand]
    for ours, theirs in zip(batched, by_hand, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_a_list_mixes_waveforms_and_files_and_keeps_its_order(rec):
    files = [p for p, _ in corpus_items("test")[:4]]
    items = [files[0], load(files[1]), files[2], load(files[3])]
    results = rec.transcribe(items)
    assert [r.path for r in results] == [str(files[0]), None, str(files[2]), None]
    assert [r.text for r in results] == [rec.transcribe(f).text for f in files]


def test_a_decoder_plugs_in(rec):
    """A decoder returning the text's token ids (as a beam search does) is force-aligned to a frame path;
    for the greedy labels that path is the greedy path itself (the best path overall spells them)."""
    calls = []

    def labels_only(logits: torch.Tensor) -> list[int]:
        calls.append(tuple(logits.shape))
        return collapse(greedy(logits), blank=rec.tokenizer.pad_token_id)

    greedy_result = rec.transcribe(CLIP)
    other = rec.with_decoder(labels_only)
    result = other.transcribe(CLIP)
    assert calls == [(greedy_result.num_frames, rec.tokenizer.vocab_size)]
    assert result.text == TEXT and result.frames == greedy_result.frames and result.words == greedy_result.words
    assert rec.decoder is greedy  # with_decoder made a copy

    silent = rec.with_decoder(lambda logits: []).transcribe(CLIP)
    assert silent.text == "" and silent.words == [] and {f.token_id for f in silent.frames} == {0}
    with pytest.raises(ValueError, match=r"the decoder returned \d+ ids for \d+ frames"):
        rec.with_decoder(lambda logits: [5] * (logits.shape[0] + 1)).transcribe(CLIP)


class Backend:
    """Not an nn.Module: a config and the call an exported graph would offer, counting its calls."""

    def __init__(self, model):
        self.config, self._model, self.calls = model.config, model, []

    def __call__(self, input_values, attention_mask=None):
        self.calls.append((tuple(input_values.shape), attention_mask is not None))
        with torch.no_grad():
            return SimpleNamespace(logits=self._model(input_values, attention_mask=attention_mask).logits)


def test_a_model_that_is_not_a_module_plugs_in(rec):
    backend = Backend(rec.model)
    other = Recognizer(backend, rec.tokenizer, rec.preprocessing)
    assert not isinstance(backend, torch.nn.Module)
    assert other.transcribe(CLIP).text == TEXT
    files = [p for p, _ in corpus_items("test")[:3]]
    assert [r.text for r in other.transcribe(files)] == [r.text for r in rec.transcribe(files)]
    assert backend.calls[-1][0][0] == 3 and backend.calls[-1][1]  # one padded batch, with its mask
    windows = other.transcribe(CLIP, chunk_seconds=2.0)  # in windows, through the same call
    assert windows.num_frames == rec.transcribe(CLIP).num_frames and backend.calls[-1][0][0] == 1


def test_a_model_in_memory_is_fed_as_in_training(rec):
    fresh = Recognizer(rec.model, rec.tokenizer)
    assert fresh.preprocessing == Preprocessing.ours(rec.config) == rec.preprocessing  # ctc-tiny has no file
    assert fresh.transcribe(CLIP).text == TEXT


def test_bad_input(rec):
    with pytest.raises(TypeError, match="got int"):
        rec.emissions(3)
    with pytest.raises(ValueError, match=r"one mono float clip \(L,\), got torch.float32 \(2, 16000\)"):
        rec.transcribe(torch.zeros(2, 16000))
    with pytest.raises(ValueError, match="on_error must be"):
        rec.transcribe(CLIP, on_error="ignore")
    with pytest.raises(UsageError, match="chunk_seconds must be at least 2 s"):
        rec.emissions(torch.zeros(16000), chunk_seconds=1.0)


class TwoArgError(ValueError):
    """An exception whose constructor takes two arguments: ``type(err)(message)`` cannot rebuild it."""

    def __init__(self, code: int, reason: str):
        super().__init__(f"code {code}: {reason}")


def test_an_error_about_one_file_names_it_whatever_its_type(rec, monkeypatch, tmp_path):
    real = R.load

    def flaky(path, sampling_rate):
        if Path(path).name == "b.wav":
            raise TwoArgError(7, "decoder gave up")
        return real(path, sampling_rate=sampling_rate)

    monkeypatch.setattr(R, "load", flaky)
    with pytest.raises(UsageError, match=r"^.*b\.wav: code 7: decoder gave up$") as caught:
        rec.transcribe([CLIP, tmp_path / "b.wav"])
    assert isinstance(caught.value.__cause__, TwoArgError)
    kept = rec.transcribe([CLIP, tmp_path / "b.wav"], on_error="keep")
    assert kept[0].text == TEXT and kept[1].error == "code 7: decoder gave up"


def test_align_takes_a_file_or_a_waveform(rec):
    from_file = rec.align(CLIP, "four seven two")
    from_wave = rec.align(load(CLIP), "four seven two")
    assert [w.word for w in from_file.words] == ["four", "seven", "two"]
    assert from_file.words == from_wave.words and from_file.path == from_wave.path
    with pytest.raises(ValueError, match=r"four_seven_two_22k_stereo\.wav: characters \['2'\]"):
        rec.align(CLIP, "four seven 2")
    with pytest.raises(ValueError, match=r"^characters \['2'\]"):  # a waveform has no name to give
        rec.align(load(CLIP), "four seven 2")
