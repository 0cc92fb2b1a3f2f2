"""Synthesise the out-of-corpus evaluation set: voices, texts, speeds and sample rates training never saw.

    python scripts/make_eval_set.py        # writes w2v_lite/assets/eval_set/{condition}/*.flac + transcripts.tsv

The held-out split `corpus/test` only changes the speaker; this set changes everything the corpus holds
fixed. Every clip is spoken by one of espeak-ng's named voice variants in `HELD_OUT_VARIANTS`
(scripts/make_corpus.py), which no training split uses, with an English accent of the corpus. Every
transcript uses the corpus vocabulary (digits and the ten command words) but is absent from the training
transcripts (`corpus/train` and `corpus/extra`). One folder per condition, 16 clips each:

    voices        1-4 digits or 1-2 command words (as in the corpus), 140-190 wpm
    words         2-3 command words, or digits and words mixed, 140-190 wpm
    slow          like `voices`, at 110-130 wpm
    fast          like `voices`, at 200-230 wpm
    8khz          copies of 16 clips of the four conditions above, resampled to 8 kHz (telephone band)
    48khz_stereo  copies of 16 other clips, resampled to 48 kHz, in two channels at different gains

`transcripts.tsv` at the top lists "condition/file.flac<TAB>text", so `AudioFolder(eval_set)` reads the whole
set and the folder name is the condition. Pitch is 30-70 as in the corpus. Everything is seeded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_corpus import ACCENTS, DIGITS, HELD_OUT_VARIANTS, OUT_DIR, WORDS, check_variants
from make_default_clip import ROOT, espeak_say, trim_silence, write_flac

from w2v_lite.data.audio import SAMPLING_RATE, resample

EVAL_DIR = ROOT / "w2v_lite" / "assets" / "eval_set"
SPOKEN = {"voices": (140, 190), "words": (140, 190), "slow": (110, 130), "fast": (200, 230)}  # wpm ranges
COPIES = {"8khz": 8000, "48khz_stereo": 48000}
PER_CONDITION = 16


def training_texts() -> set[str]:
    """Every transcript of the training splits (corpus/train and corpus/extra)."""
    texts = set()
    for split in ("train", "extra"):
        for line in (OUT_DIR / split / "transcripts.tsv").read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.add(line.split("\t", 1)[1])
    return texts


def new_text(rng: np.random.Generator, condition: str, seen: set[str]) -> str:
    """A transcript of `condition` that is neither in training nor already in this set."""
    while True:
        if condition == "words":
            if rng.random() < 0.5:
                text = " ".join(WORDS[w] for w in rng.integers(0, len(WORDS), size=rng.integers(2, 4)))
            else:
                vocab = DIGITS + WORDS
                text = " ".join(vocab[w] for w in rng.integers(0, len(vocab), size=rng.integers(2, 5)))
        elif rng.random() < 0.75:
            text = " ".join(DIGITS[d] for d in rng.integers(0, 10, size=rng.integers(1, 5)))
        else:
            text = " ".join(WORDS[w] for w in rng.integers(0, len(WORDS), size=rng.integers(1, 3)))
        if text not in seen:
            seen.add(text)
            return text


def write_copy(path: Path, wave: np.ndarray, rate: int) -> None:
    """A 16 kHz clip resampled to `rate`; at 48 kHz as stereo (right channel at 0.7x the left), 16-bit FLAC."""
    out = resample(wave, SAMPLING_RATE, rate)
    if rate == 48000:
        out = np.stack([out, 0.7 * out], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.clip(out, -1.0, 1.0), rate, subtype="PCM_16", format="FLAC")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=EVAL_DIR)
    args = parser.parse_args(argv)
    check_variants(HELD_OUT_VARIANTS)
    rng = np.random.default_rng([args.seed, 11])
    seen = training_texts()
    for stale in args.out.rglob("*.flac"):  # regenerate from scratch
        stale.unlink()
    rows, spoken = [], []
    voices = [(a, v) for a in ACCENTS for v in HELD_OUT_VARIANTS]
    for condition, (slow, fast) in SPOKEN.items():
        for index in tqdm(range(PER_CONDITION), desc=condition, unit="clip"):
            accent, variant = voices[rng.integers(len(voices))]
            text = new_text(rng, condition, seen)
            speed, pitch = int(rng.integers(slow, fast + 1)), int(rng.integers(30, 71))
            wave = trim_silence(espeak_say(text, voice=f"{accent}+{variant}", speed=speed, pitch=pitch))
            name = f"{condition}/{index:02d}_{accent}_{variant}_{speed}wpm.flac"
            write_flac(args.out / name, wave)
            rows.append(f"{name}\t{text}\n")
            spoken.append((name, text, wave))
    # each copy condition takes 4 clips of every spoken condition, and the two take different clips
    picks = [rng.permutation(PER_CONDITION)[:8] + k * PER_CONDITION for k in range(len(SPOKEN))]
    for c, (condition, rate) in enumerate(COPIES.items()):
        chosen = sorted(int(i) for p in picks for i in p[4 * c : 4 * c + 4])
        for index, i in enumerate(chosen):
            source, text, wave = spoken[i]
            name = f"{condition}/{index:02d}_{Path(source).parent.name}_{Path(source).stem}.flac"
            write_copy(args.out / name, wave, rate)
            rows.append(f"{name}\t{text}\n")
    (args.out / "transcripts.tsv").write_text("".join(rows), encoding="utf-8")
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"wrote {len(rows)} clips to {args.out} ({size / 2**20:.1f} MB)")


if __name__ == "__main__":
    main()
