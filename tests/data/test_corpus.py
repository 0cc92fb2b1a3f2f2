"""The committed spoken-digits corpus (scripts/make_corpus.py): complete, 16 kHz, split by voice."""

import re

import soundfile as sf

from w2v_lite.data.audio import corpus_dir, corpus_items

NAME = re.compile(r"^\d{4}_(?P<accent>[a-z0-9-]+)_(?P<variant>[mf]\d)\.flac$")


def _voices(split: str) -> set[str]:
    voices = set()
    for path, _ in corpus_items(split):
        match = NAME.match(path.name)
        assert match, f"{path.name} does not encode its voice as INDEX_ACCENT_VARIANT.flac"
        voices.add(f"{match['accent']}+{match['variant']}")
    return voices


def test_splits_exist_and_every_row_has_a_16khz_mono_file():
    for split, at_least in [("train", 300), ("test", 50)]:
        items = corpus_items(split)
        assert len(items) >= at_least
        listed = {path.name for path, _ in items}
        on_disk = {p.name for p in corpus_dir(split).glob("*.flac")}
        assert listed == on_disk, "transcripts.tsv and the .flac files disagree"
        for path, text in items:
            info = sf.info(path)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), path
            assert 0.2 < info.duration < 3.0, path
            assert re.fullmatch(r"[a-z]+( [a-z]+)*", text), f"{path.name}: {text!r} is not lowercase words"


def test_no_voice_in_both_splits():
    train, test = _voices("train"), _voices("test")
    assert len(test) >= 3 and len(train) > len(test)
    assert not train & test, f"voices in both splits: {sorted(train & test)}"
    assert {v[-2] for v in test} == {"m", "f"}  # held-out speakers of both sexes


def test_corpus_stays_small():
    size = sum(f.stat().st_size for f in corpus_dir("train").parent.rglob("*") if f.is_file())
    assert size < 9 * 2**20, f"committed corpus is {size / 2**20:.1f} MB; regenerate with fewer clips"
