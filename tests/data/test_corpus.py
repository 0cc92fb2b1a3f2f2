"""The committed spoken-digits corpus (scripts/make_corpus.py): complete, 16 kHz, split by voice; and the
out-of-corpus evaluation set (scripts/make_eval_set.py): voices, texts, speeds and rates training never saw."""

import importlib.util
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from w2v_lite.data.audio import corpus_dir, corpus_items

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import make_corpus  # noqa: E402
from engines import ACCENT_VOICES, PICO_VOICES, respell  # noqa: E402
from make_corpus import HELD_OUT_VARIANTS, TRAIN_VARIANTS  # noqa: E402

NAME = re.compile(r"^\d{4}_(?P<accent>[a-z0-9-]+)_(?P<variant>[mf]\d)\.flac$")
EXTRA_NAME = re.compile(r"^\d{4}_(?P<accent>[a-z0-9-]+)_(?P<variant>[A-Za-z0-9]+)\.flac$")
EVAL_SET = ROOT / "w2v_lite" / "assets" / "eval_set"
EVAL_NAME = re.compile(r"^\d{2}_(?P<accent>[a-z0-9-]+)_(?P<variant>[A-Za-z0-9]+)_(?P<wpm>\d+)wpm\.flac$")


def _voices(split: str) -> set[str]:
    voices = set()
    for path, _ in corpus_items(split):
        match = (EXTRA_NAME if split == "extra" else NAME).match(path.name)
        assert match, f"{path.name} does not encode its voice as INDEX_ACCENT_VARIANT.flac"
        voices.add(f"{match['accent']}+{match['variant']}")
    return voices


def test_splits_exist_and_every_row_has_a_16khz_mono_file():
    for split, at_least in [("train", 300), ("test", 50), ("extra", 300)]:
        items = corpus_items(split)
        assert len(items) >= at_least
        listed = {path.name for path, _ in items}
        on_disk = {p.name for p in corpus_dir(split).glob("*.flac")}
        assert listed == on_disk, "transcripts.tsv and the .flac files disagree"
        for path, text in items:
            info = sf.info(path)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), path
            assert 0.2 < info.duration < (4.5 if split == "extra" else 3.0), path  # extra: 5 words, slow
            assert re.fullmatch(r"[a-z]+( [a-z]+)*", text), f"{path.name}: {text!r} is not lowercase words"


def test_no_voice_in_both_splits():
    train, test = _voices("train"), _voices("test")
    assert len(test) >= 3 and len(train) > len(test)
    assert not train & test, f"voices in both splits: {sorted(train & test)}"
    assert {v[-2] for v in test} == {"m", "f"}  # held-out speakers of both sexes


def test_extra_split_keeps_the_held_out_voices_out():
    extra = _voices("extra")
    assert not extra & _voices("test"), "a held-out test voice speaks in corpus/extra"
    variants = Counter(v.split("+")[1] for v in extra)
    assert not set(variants) & set(HELD_OUT_VARIANTS), "an eval-set variant speaks in corpus/extra"
    named = sum(n for v, n in variants.items() if v in TRAIN_VARIANTS)
    assert named >= 20 and len(extra) >= 100  # many new named variants next to the train voices


def _eval_rows() -> list[tuple[Path, str]]:
    rows = [line.split("\t") for line in (EVAL_SET / "transcripts.tsv").read_text().splitlines() if line.strip()]
    return [(EVAL_SET / name, text) for name, text in rows]


def test_eval_set_is_complete_and_has_the_rates_of_its_condition():
    rows = _eval_rows()
    assert {p for p, _ in rows} == set(EVAL_SET.rglob("*.flac")), "transcripts.tsv and the files disagree"
    counts = Counter(p.parent.name for p, _ in rows)
    assert counts == {c: 16 for c in ("voices", "words", "slow", "fast", "8khz", "48khz_stereo")}
    expected = {"8khz": (8000, 1), "48khz_stereo": (48000, 2)}
    for path, text in rows:
        info = sf.info(path)
        assert (info.samplerate, info.channels) == expected.get(path.parent.name, (16000, 1)), path
        assert re.fullmatch(r"[a-z]+( [a-z]+)*", text), f"{path.name}: {text!r} is not lowercase words"


def test_eval_set_is_out_of_corpus():
    """New variants only, transcripts absent from training, speeds 110-230 wpm, slow and fast where named."""
    training = {t for split in ("train", "extra") for _, t in corpus_items(split)}
    train_variants = {v.split("+")[1] for split in ("train", "extra") for v in _voices(split)}
    spoken = [(p, t) for p, t in _eval_rows() if p.parent.name in ("voices", "words", "slow", "fast")]
    speeds = {"slow": [], "fast": [], "voices": [], "words": []}
    for path, text in spoken:
        match = EVAL_NAME.match(path.name)
        assert match, path.name
        assert match["variant"] in HELD_OUT_VARIANTS and match["variant"] not in train_variants, path.name
        assert text not in training, f"{path.name}: {text!r} is a training transcript"
        speeds[path.parent.name].append(int(match["wpm"]))
    assert min(speeds["slow"]) >= 110 and max(speeds["slow"]) <= 130
    assert min(speeds["fast"]) >= 200 and max(speeds["fast"]) <= 230
    assert all(140 <= s <= 190 for s in speeds["voices"] + speeds["words"])
    copies = [(p, t) for p, t in _eval_rows() if p.parent.name in ("8khz", "48khz_stereo")]
    sources = {(p.parent.name, p.name): t for p, t in spoken}
    keys = []
    for path, text in copies:  # "NN_CONDITION_SOURCE.flac": a copy of one spoken clip, same transcript
        _, condition, source = path.name.split("_", 2)
        assert sources[condition, source] == text, path.name
        keys.append((condition, source))
    assert len(set(keys)) == len(copies)  # no clip copied twice


def test_assets_stay_small():
    """Everything committed as data (package assets + test assets) stays under 40 MB (issue 19's budget, which
    made room for the flite and festival clips)."""
    folders = [ROOT / "w2v_lite" / "assets", ROOT / "tests" / "assets"]
    size = sum(f.stat().st_size for d in folders for f in d.rglob("*") if f.is_file())
    assert size < 40 * 2**20, f"committed assets are {size / 2**20:.1f} MB; regenerate with fewer clips"


ENGINE_NAME = re.compile(r"^\d{4}_(?P<engine>flite|festival|pico)_(?P<voice>[a-zA-Z0-9-]+)\.flac$")


def _engine_voices(split: str) -> Counter:
    voices: Counter = Counter()
    for path, _ in corpus_items(split):
        match = ENGINE_NAME.match(path.name)
        assert match, f"{path.name} does not encode its voice as INDEX_ENGINE_VOICE.flac"
        voices[f"{match['engine']}+{match['voice']}"] += 1
    return voices


def test_engine_splits_are_16khz_mono_and_split_by_voice():
    """corpus/engines and engines_test: flite and festival clips, no held-out voice among the training ones."""
    for split in ("engines", "engines_test"):
        items = corpus_items(split)
        assert {p.name for p, _ in items} == {p.name for p in corpus_dir(split).glob("*.flac")}
        for path, text in items:
            info = sf.info(path)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), path
            assert 0.2 < info.duration < 5.0, path
            assert re.fullmatch(r"[a-z]+( [a-z]+)*", text), f"{path.name}: {text!r}"
    train, test = _engine_voices("engines"), _engine_voices("engines_test")
    assert not set(train) & set(test), f"voices in both: {sorted(set(train) & set(test))}"
    assert {v.split("+")[0] for v in train} == {v.split("+")[0] for v in test} == {"flite", "festival"}
    assert len(train) >= 6 and min(train.values()) >= 50  # every training voice says enough


def test_accent_split_has_every_other_language_voice_saying_corpus_words():
    """corpus/accents: festival's ten other-language voices, each saying enough clips of the 20 words, 16 kHz."""
    items = corpus_items("accents")
    assert {p.name for p, _ in items} == {p.name for p in corpus_dir("accents").glob("*.flac")}
    for path, text in items:
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), path
        assert 0.2 < info.duration < 6.0, path
        respell(text, "cs-krb")  # only corpus words: every one has a respelling
    voices = _engine_voices("accents")
    assert set(voices) == {f"festival+{v}" for v in ACCENT_VOICES} and min(voices.values()) >= 20
    assert not set(voices) & (set(_engine_voices("engines_test")) | set(_engine_voices("engines")))


def test_pico_split_has_all_six_voices_and_no_other_engine():
    """corpus/pico: SVOX Pico's six voices, each with enough clips of the 20 words, 16 kHz, unclipped."""
    items = corpus_items("pico")
    assert {p.name for p, _ in items} == {p.name for p in corpus_dir("pico").glob("*.flac")}
    for path, text in items:
        wave, rate = sf.read(path, dtype="float32")
        assert rate == 16000 and wave.ndim == 1 and 0.2 < wave.size / rate < 6.0, path
        assert float(np.abs(wave).max()) < 0.99, f"{path.name} clips"  # Pico clips at its default volume
        respell(text, "de-DE")  # only corpus words: every one has a respelling
    voices = _engine_voices("pico")
    assert set(voices) == {f"pico+{v}" for v in PICO_VOICES} and min(voices.values()) >= 20
    others = {v.split("+")[0] for split in ("engines", "engines_test", "accents") for v in _engine_voices(split)}
    assert "pico" not in others


def test_respell_writes_english_words_in_the_voices_spelling():
    assert respell("two eight go", "cs-krb") == "tu ejt gou"
    assert respell("three zero", "fi-lj") == "trii siirou"
    assert respell("yes", "ru-nsh") == "йес"
    assert respell("six go", "fr-FR") == "sixe gô" and respell("six go", "en-GB") == "six go"  # Pico's
    with pytest.raises(ValueError, match="accented voices say only the 20 corpus words"):
        respell("hello", "it-lp")


def test_make_corpus_without_the_engine_says_so_and_deletes_nothing(tmp_path, monkeypatch):
    """A split whose synthesiser is missing is refused in one line before its old clips are removed."""
    old = tmp_path / "pico" / "0000_pico_en-US.flac"
    old.parent.mkdir()
    old.write_bytes(b"an old clip")
    monkeypatch.setattr(make_corpus, "OUT_DIR", tmp_path)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # as if ttspico were not installed
    with pytest.raises(SystemExit, match=r"^error: SVOX Pico not installed; install it with `pip install ttspico"):
        make_corpus.main(["--splits", "pico"])
    assert old.read_bytes() == b"an old clip"


def test_make_corpus_refuses_an_empty_split(tmp_path, monkeypatch, capsys):
    old = tmp_path / "pico" / "0000_pico_en-US.flac"
    old.parent.mkdir()
    old.write_bytes(b"an old clip")
    monkeypatch.setattr(make_corpus, "OUT_DIR", tmp_path)
    with pytest.raises(SystemExit):
        make_corpus.main(["--splits", "pico", "--n-pico", "-5"])
    assert "--n-pico must be at least 1, got -5" in capsys.readouterr().err
    assert old.read_bytes() == b"an old clip"
