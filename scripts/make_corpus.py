"""Synthesise the small spoken-digits corpus used by the pretraining and CTC notebooks.

    python scripts/make_corpus.py                  # writes w2v_lite/assets/corpus/{train,test}/
    python scripts/make_corpus.py --n-train 2000   # a bigger (uncommitted) corpus for longer runs
    python scripts/make_corpus.py --splits extra   # only w2v_lite/assets/corpus/extra/ (wider voices/speeds)
    python scripts/make_corpus.py --splits engines # only corpus/engines{,_test}/ (flite and festival voices)
    python scripts/make_corpus.py --splits accents # only corpus/accents/ (festival's other-language voices)
    python scripts/make_corpus.py --splits pico    # only corpus/pico/ (SVOX Pico: a fourth engine)

Each clip is 1-4 digits spoken as words ("three one four") or one or two short command words ("stop go"),
said by espeak-ng with a random accent + voice variant, speed (130-200 wpm) and pitch (30-70).
Audio is 16 kHz mono 16-bit FLAC; each split has `transcripts.tsv` (filename TAB lowercase transcript).

The `extra` split (300 clips, training only) widens what the recogniser hears: half of it uses espeak-ng's
named voice variants (`TRAIN_VARIANTS`, e.g. `en-us+caleb`), the other half the train voices of `train`, at
speeds 100-250 wpm and pitches 15-85, with 1-5 digits, 1-3 command words or a mix of both. The named
variants in `HELD_OUT_VARIANTS` never speak in any training split: scripts/make_eval_set.py uses them for
the out-of-corpus evaluation set. The `extra` split draws from its own RNG, so adding it leaves `train` and
`test` as they were.

The `engines` (training) and `engines_test` (held out) splits are spoken by the two other Debian synthesisers
(scripts/engines.py has the apt-get line): flite's voices kal (8 kHz, resampled), kal16, awb, rms and slt,
and festival's kal_diphone, ked_diphone and cmu_us_slt_arctic_hts. flite rms and festival ked speak only in
`engines_test`. Texts are the same kinds (digits, command words, mixes); each clip gets a random duration
stretch (0.8-1.3) and mean pitch (80-140 Hz male, 150-230 Hz female; festival's HTS voice keeps its own pitch
and rate). Names are `{index:04d}_{engine}_{voice}.flac`, e.g. `0003_flite_slt.flac`. They draw from their
own RNG, so the espeak-ng splits are unchanged.

The `accents` split (300 clips, training only) is English with a foreign accent: festival's voices for Italian,
Czech, Finnish, Russian and Catalan (ten speakers, scripts/engines.py `ACCENT_VOICES`) read the same kinds of
texts respelled in their own language (`respell`: "two nine" -> "tu najn" in Czech), each with a random
duration stretch (0.8-1.3) and the voice's own pitch. Names are `{index:04d}_festival_{lang}-{voice}.flac`,
e.g. `0004_festival_cs-krb.flac`. Its own RNG too.

The `pico` split (160 clips, training only) is a fourth engine, SVOX Pico (`pip install ttspico`; see
scripts/engines.py): its American and British English voices, and its German, French, Spanish and Italian
voices reading the words respelled, each clip at a random rate (75-135% of the voice's) and pitch (60-130%:
all six are women, so the lower half sounds like lower voices). Names are `{index:04d}_pico_{voice}.flac`,
e.g. `0002_pico_en-GB.flac`. Its own RNG too.

The split is BY VOICE: a voice (accent + variant) used in test never speaks in train, so a test score
measures generalisation to unseen speakers. The voice is encoded in the filename:
`{index:04d}_{accent}_{variant}.flac`, e.g. `0007_en-gb-scotland_f2.flac`. Everything is seeded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engines import (
    ACCENT_VOICES,
    DIGITS,
    FESTIVAL_VOICES,
    FLITE_VOICES,
    PICO_VOICES,
    WORDS,
    draw_style,
    festival_batch,
    flite_say,
    pico_say,
    require,
)
from make_default_clip import ROOT, espeak_say, trim_silence, write_flac

OUT_DIR = ROOT / "w2v_lite" / "assets" / "corpus"
ACCENTS = [  # espeak-ng English voices; combined with a variant (+m3, +f2, ...) this makes one "voice"
    "en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc",
]
MALE = [f"m{i}" for i in range(1, 8)]
FEMALE = [f"f{i}" for i in range(1, 5)]
# espeak-ng's named variants (`espeak-ng --voices=variant`, file names): training-only ones for the `extra`
# split, and held-out ones that only scripts/make_eval_set.py uses. Novelty voices (robots, whispers,
# "Demonic", the announcer) are in neither list.
TRAIN_VARIANTS = [
    "Alex", "Alicia", "Andrea", "aunty", "linda", "steph", "steph2", "anika", "grandma",  # female
    "adam", "antonio", "boris", "caleb", "david", "Denis", "Diogo", "ed", "edward", "Gene", "gustave",
    "Henrique", "Hugo", "iven", "iven2", "Jacky", "john", "Lee", "marcelo", "Marco", "Mario", "max", "Michael",
    "miguel", "Mike", "norbert", "pablo", "paul", "pedro", "quincy", "rob", "robert", "sandro", "shelby",
    "victor", "zac", "klatt", "klatt2", "klatt4", "grandpa", "croak",
]
HELD_OUT_VARIANTS = ["Annie", "belinda", "steph3", "f5", "Andy", "benjamin", "klatt3", "m8", "travis", "michel"]


# the synthesisers (engines.require names) each non-espeak split is made with
NEEDS = {"engines": ("flite", "festival"), "accents": ("accents",), "pico": ("pico",)}


def fresh_folder(name: str) -> Path:
    """OUT_DIR/name, created, with its old clips removed: regenerate from scratch, no leftovers from a bigger run."""
    folder = OUT_DIR / name
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.flac"):
        stale.unlink()
    return folder


def split_voices(
    rng: np.random.Generator, n_test_male: int, n_test_female: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """All (accent, variant) voices split into (train, test), with both sexes among the held-out voices."""
    male = [(a, v) for a in ACCENTS for v in MALE]
    female = [(a, v) for a in ACCENTS for v in FEMALE]
    male = [male[i] for i in rng.permutation(len(male))]
    female = [female[i] for i in rng.permutation(len(female))]
    test = male[:n_test_male] + female[:n_test_female]
    train = male[n_test_male:] + female[n_test_female:]
    return sorted(train), sorted(test)


def random_text(rng: np.random.Generator, p_digits: float = 0.75) -> str:
    """A lowercase transcript: 1-4 digit words, or 1-2 command words."""
    if rng.random() < p_digits:
        return " ".join(DIGITS[d] for d in rng.integers(0, 10, size=rng.integers(1, 5)))
    return " ".join(WORDS[w] for w in rng.integers(0, len(WORDS), size=rng.integers(1, 3)))


def check_variants(variants: list[str]) -> None:
    """Fail if a variant name is unknown: espeak-ng then silently speaks with the bare accent's voice."""
    base = espeak_say("one", voice="en")
    for variant in variants:
        wave = espeak_say("one", voice=f"en+{variant}")
        if wave.shape == base.shape and np.array_equal(wave, base):
            raise SystemExit(f"espeak-ng has no voice variant {variant!r} (see `espeak-ng --voices=variant`)")


def wide_text(rng: np.random.Generator) -> str:
    """A transcript for the `extra` split: 1-5 digits, 1-3 command words, or a mix of both (a third each)."""
    kind = rng.integers(0, 3)
    if kind == 0:
        return " ".join(DIGITS[d] for d in rng.integers(0, 10, size=rng.integers(1, 6)))
    if kind == 1:
        return " ".join(WORDS[w] for w in rng.integers(0, len(WORDS), size=rng.integers(1, 4)))
    vocab = DIGITS + WORDS
    return " ".join(vocab[w] for w in rng.integers(0, len(vocab), size=rng.integers(2, 5)))


def make_split(name: str, n_clips: int, voices: list[tuple[str, str]], rng: np.random.Generator,
               wide: bool = False) -> None:
    """Write `n_clips` clips spoken by `voices` (round-robin, shuffled) plus transcripts.tsv.

    `wide`: texts from `wide_text`, speeds 100-250 wpm and pitches 15-85 (the `extra` split)."""
    folder = fresh_folder(name)
    order = [voices[i % len(voices)] for i in range(n_clips)]
    order = [order[i] for i in rng.permutation(n_clips)]
    rows = []
    for index, (accent, variant) in enumerate(tqdm(order, desc=name, unit="clip")):
        if wide:
            text, speed, pitch = wide_text(rng), int(rng.integers(100, 251)), int(rng.integers(15, 86))
        else:
            text, speed, pitch = random_text(rng), int(rng.integers(130, 201)), int(rng.integers(30, 71))
        wave = trim_silence(espeak_say(text, voice=f"{accent}+{variant}", speed=speed, pitch=pitch))
        filename = f"{index:04d}_{accent}_{variant}.flac"
        write_flac(folder / filename, wave)
        rows.append(f"{filename}\t{text}\n")
    (folder / "transcripts.tsv").write_text("".join(rows), encoding="utf-8")


# (engine, voice) pairs per split: one flite and one festival speaker are held out
ENGINE_TEST_VOICES = [("festival", "ked"), ("flite", "rms")]
ENGINE_TRAIN_VOICES = sorted(
    ({("flite", v) for v in FLITE_VOICES} | {("festival", v) for v in FESTIVAL_VOICES}) - set(ENGINE_TEST_VOICES)
)


def make_engine_split(name: str, n_clips: int, voices: list[tuple[str, str]], rng: np.random.Generator) -> None:
    """Write `n_clips` flite/festival clips spoken by `voices` (round-robin, shuffled) plus transcripts.tsv.

    Texts: half `random_text` (as `train`), half `wide_text` (as `extra`)."""
    folder = fresh_folder(name)
    order = [voices[i % len(voices)] for i in range(n_clips)]
    order = [order[i] for i in rng.permutation(n_clips)]
    jobs = []  # every random draw first, in order, so the threads below cannot change them
    for index, (engine, voice) in enumerate(order):
        text = random_text(rng) if rng.random() < 0.5 else wide_text(rng)
        jobs.append((f"{index:04d}_{engine}_{voice}.flac", engine, voice, text, *draw_style(voice, rng)))

    for filename, engine, voice, text, stretch, f0 in tqdm(jobs, desc=f"{name} (flite)", unit="clip"):
        if engine == "flite":
            write_flac(folder / filename, trim_silence(flite_say(text, voice, stretch, f0)))
    for voice in FESTIVAL_VOICES:  # one festival process per voice: loading the voice is the slow part
        mine = [job for job in jobs if job[1:3] == ("festival", voice)]
        waves = festival_batch(voice, [(text, stretch, f0) for _, _, _, text, stretch, f0 in mine])
        for job, wave in zip(mine, waves, strict=True):
            write_flac(folder / job[0], trim_silence(wave))
    rows = [f"{job[0]}\t{job[3]}\n" for job in jobs]
    (folder / "transcripts.tsv").write_text("".join(rows), encoding="utf-8")


def make_accent_split(name: str, n_clips: int, rng: np.random.Generator) -> None:
    """Write `n_clips` clips by festival's other-language voices (round-robin, shuffled) plus transcripts.tsv."""
    folder = fresh_folder(name)
    voices = sorted(ACCENT_VOICES)
    order = [voices[i % len(voices)] for i in rng.permutation(n_clips)]
    jobs = []  # (filename, voice, text, stretch), every random draw first
    for index, voice in enumerate(order):
        text = random_text(rng) if rng.random() < 0.5 else wide_text(rng)
        jobs.append((f"{index:04d}_festival_{voice}.flac", voice, text, float(rng.uniform(0.8, 1.3))))
    for voice in tqdm(voices, desc=name, unit="voice"):  # one festival process per voice
        mine = [job for job in jobs if job[1] == voice]
        waves = festival_batch(voice, [(text, stretch, None) for _, _, text, stretch in mine])
        for job, wave in zip(mine, waves, strict=True):
            write_flac(folder / job[0], trim_silence(wave))
    (folder / "transcripts.tsv").write_text("".join(f"{job[0]}\t{job[2]}\n" for job in jobs), encoding="utf-8")


def make_pico_split(name: str, n_clips: int, rng: np.random.Generator) -> None:
    """Write `n_clips` clips by SVOX Pico's six voices (round-robin, shuffled) plus transcripts.tsv."""
    folder = fresh_folder(name)
    voices = sorted(PICO_VOICES)
    rows = []
    for index, i in enumerate(tqdm(rng.permutation(n_clips), desc=name, unit="clip")):
        voice = voices[i % len(voices)]
        text = random_text(rng) if rng.random() < 0.5 else wide_text(rng)
        rate, pitch = int(rng.integers(75, 136)), int(rng.integers(60, 131))
        filename = f"{index:04d}_pico_{voice}.flac"
        write_flac(folder / filename, trim_silence(pico_say(text, voice, rate, pitch)))
        rows.append(f"{filename}\t{text}\n")
    (folder / "transcripts.tsv").write_text("".join(rows), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=350)
    parser.add_argument("--n-test", type=int, default=60)
    parser.add_argument("--n-extra", type=int, default=300)
    parser.add_argument("--n-engines", type=int, default=600)
    parser.add_argument("--n-engines-test", type=int, default=80)
    parser.add_argument("--n-accents", type=int, default=300)
    parser.add_argument("--n-pico", type=int, default=160)
    parser.add_argument("--splits", default="train,test,extra,engines,accents,pico",
                        help="comma-separated splits to (re)write; the others are left as they are")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("n_train", "n_test", "n_extra", "n_engines", "n_engines_test", "n_accents", "n_pico"):
        if getattr(args, name) < 1:  # an empty split would replace the committed clips with nothing
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    splits = set(args.splits.split(","))
    if not splits <= {"train", "test", "extra", "engines", "accents", "pico"}:
        parser.error(f"--splits takes train, test, extra, engines, accents and pico, got {args.splits!r}")
    try:  # every engine the splits need, before any old clip is removed
        if splits & {"train", "test", "extra"}:
            espeak_say("one")
        for split in sorted(splits & NEEDS.keys()):
            for engine in NEEDS[split]:
                require(engine)
    except RuntimeError as err:
        sys.exit(f"error: {err}")
    rng = np.random.default_rng(args.seed)
    train_voices, test_voices = split_voices(rng, n_test_male=5, n_test_female=3)
    if splits & {"train", "test"}:  # test is drawn after train from the same RNG: write both together
        make_split("train", args.n_train, train_voices, rng)
        make_split("test", args.n_test, test_voices, rng)
        print(f"{len(train_voices)} train voices, test voices: {', '.join(a + '+' + v for a, v in test_voices)}")
    if "extra" in splits:
        check_variants(TRAIN_VARIANTS + HELD_OUT_VARIANTS)
        named = [(a, v) for a in ACCENTS for v in TRAIN_VARIANTS]
        extra_rng = np.random.default_rng([args.seed, 1])
        voices = [named[i] for i in extra_rng.permutation(len(named))[: len(train_voices)]] + train_voices
        make_split("extra", args.n_extra, sorted(voices), extra_rng, wide=True)
    if "engines" in splits:  # engines and engines_test together, from their own RNG
        engine_rng = np.random.default_rng([args.seed, 2])
        make_engine_split("engines", args.n_engines, ENGINE_TRAIN_VOICES, engine_rng)
        make_engine_split("engines_test", args.n_engines_test, ENGINE_TEST_VOICES, engine_rng)
    if "accents" in splits:
        make_accent_split("accents", args.n_accents, np.random.default_rng([args.seed, 3]))
    if "pico" in splits:
        make_pico_split("pico", args.n_pico, np.random.default_rng([args.seed, 4]))
    size = sum(f.stat().st_size for f in OUT_DIR.rglob("*") if f.is_file())
    print(f"wrote splits {sorted(splits)} to {OUT_DIR} (corpus now {size / 2**20:.1f} MB)")


if __name__ == "__main__":
    main()
