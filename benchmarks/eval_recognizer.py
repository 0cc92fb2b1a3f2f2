"""CER and WER of a CTC checkpoint per condition of the out-of-corpus set, next to the held-out voices.

    python benchmarks/eval_recognizer.py                                  # the committed ctc-tiny
    python benchmarks/eval_recognizer.py --model runs/ctc-wide --json runs/ctc-wide/eval_conditions.json
    python benchmarks/eval_recognizer.py --holdout flite                  # leave one engine out (see below)
    python benchmarks/eval_recognizer.py --folder tests/assets/seven_voices   # any folder + transcripts.tsv

Sets: `held-out voices` is w2v_lite/assets/corpus/test (new speakers, corpus conditions); the other rows are
the folders of w2v_lite/assets/eval_set (scripts/make_eval_set.py): new voice variants, new texts, slow and
fast speech, 8 kHz and 48 kHz stereo copies, and `out-of-corpus, all` pools them. Greedy decoding, one unpadded
clip at a time (`evaluate_ctc`, as in training); CER/WER are corpus-level (edits / reference characters).
`held-out engine voices` is corpus/engines_test (flite rms and festival ked_diphone, never trained on).

Leave one engine out: `--holdout ENGINE` (espeak, flite or festival) scores a model that never heard ENGINE on
every committed corpus clip ENGINE speaks (for espeak: the test split, since train and extra are 650 more of
the same; for flite and festival: engines and engines_test, the English voices). Without `--model` it trains
one first, with the committed recipe (scripts/train_ctc_tiny.sh: from pretrained-tiny, --augment, seed 0, one
thread) on every other engine's training clips, into runs/holdout-ENGINE (reused when it is already there;
`--steps` sets its length). `--recipe wide` trains the wide recipe instead (the `accents` split too, whose
clips are festival's, and `--augment wide`) into runs/holdout-ENGINE-wide; `--recipe vocode` the accents and
pico splits with `--augment vocode` into runs/holdout-ENGINE-vocode. `--set FIELD=JSON --out DIR` adds config
overrides (SpecAugment, say) to a hold-out's training. ENGINE is espeak, flite, festival or pico (SVOX Pico,
scored on corpus/pico).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from w2v_lite.asr.decoding import Lexicon, beam_search  # noqa: E402
from w2v_lite.asr.metrics import cer, wer  # noqa: E402
from w2v_lite.asr.pretrained import DEFAULT_MODEL_DIR  # noqa: E402
from w2v_lite.asr.recognizer import Recognizer  # noqa: E402
from w2v_lite.asr.transcribe import model_words  # noqa: E402
from w2v_lite.data.audio import corpus_dir, corpus_items  # noqa: E402
from w2v_lite.data.dataset import AudioFolder, Clip  # noqa: E402
from w2v_lite.train.ctc import evaluate_ctc  # noqa: E402

EVAL_SET = ROOT / "w2v_lite" / "assets" / "eval_set"
ENGINES = ("espeak", "flite", "festival", "pico")
# what scripts/train_ctc_tiny.sh trains on, per recipe: (corpus splits, --augment preset)
RECIPES = {"default": (("train", "extra", "engines"), "default"),
           "wide": (("train", "extra", "engines", "accents"), "wide"),
           "vocode": (("train", "extra", "engines", "accents", "pico"), "vocode")}
PRETRAINED = ROOT / "w2v_lite" / "assets" / "checkpoints" / "pretrained-tiny"
ORDER = ["voices", "words", "slow", "fast", "8khz", "48khz_stereo"]  # as scripts/make_eval_set.py lists them


def conditions(folder: Path = EVAL_SET) -> dict[str, list[Clip]]:
    """The eval set's clips grouped by condition (their sub-folder), in sorted order."""
    groups: dict[str, list[Clip]] = defaultdict(list)
    for clip in AudioFolder(folder).clips:
        groups[clip.path.relative_to(folder).parts[0]].append(clip)
    return dict(sorted(groups.items(), key=lambda kv: (ORDER.index(kv[0]) if kv[0] in ORDER else len(ORDER),
                                                       kv[0])))


def engine_of(path: Path) -> str:
    """Which synthesiser spoke a corpus clip, from its name: INDEX_ENGINE_VOICE for flite, festival and pico,
    else espeak (INDEX_ACCENT_VARIANT)."""
    parts = path.stem.split("_")
    return parts[1] if len(parts) >= 3 and parts[1] in ENGINES[1:] else "espeak"


def engine_clips(engine: str, splits: tuple[str, ...]) -> list[tuple[Path, str, str]]:
    """(file, split, transcript) of every clip `engine` speaks in the given corpus splits."""
    return [(path, split, text) for split in splits for path, text in corpus_items(split)
            if engine_of(path) == engine]


def holdout_eval_clips(engine: str) -> list[Clip]:
    """The clips a model that never heard `engine` is scored on (see the module docstring)."""
    splits = {"espeak": ("test",), "pico": ("pico",)}.get(engine, ("engines", "engines_test"))
    names = {path for path, _, _ in engine_clips(engine, splits)}
    return [c for s in splits for c in AudioFolder(corpus_dir(s)).clips if c.path in names]


def write_holdout_data(engine: str, out: Path, splits: tuple[str, ...]) -> int:
    """Copy every clip of `splits` NOT spoken by `engine` into out/SPLIT/ with one transcripts.tsv -> clip count."""
    if out.exists():
        shutil.rmtree(out)
    rows = []
    for other in ENGINES:
        if other == engine:
            continue
        for path, split, text in engine_clips(other, splits):
            (out / split).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out / split / path.name)
            rows.append(f"{split}/{path.name}\t{text}\n")
    (out / "transcripts.tsv").write_text("".join(sorted(rows)), encoding="utf-8")
    return len(rows)


def train_holdout(engine: str, out: Path, steps: int, recipe: str = "default", overrides: tuple[str, ...] = ()
                  ) -> Path:
    """Train a ctc-tiny recipe without `engine` into `out` (skipped if out/model.safetensors exists) -> out.
    `overrides`: FIELD=JSON config settings passed on as `--set` (e.g. SpecAugment's mask_time_prob=0.2)."""
    if (out / "model.safetensors").is_file():
        print(f"reusing {out} (delete it to retrain)", file=sys.stderr)
        return out
    data = out.parent / f"{out.name}-data"
    splits, augment = RECIPES[recipe]
    n = write_holdout_data(engine, data, splits)
    print(f"training {out} on {n} clips without {engine} ({recipe} recipe, {steps} steps, one thread)",
          file=sys.stderr)
    cmd = [sys.executable, "-m", "w2v_lite", "train", "ctc", "--init", str(PRETRAINED), "--data", str(data),
           "--eval-data", str(corpus_dir("test")), "--augment", augment, "--steps", str(steps), "--seed", "0",
           "--out", str(out), "--no-progress", *(arg for o in overrides for arg in ("--set", o))]
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return out


def make_scorer(model_dir: Path, beam: int = 1, words: bool = True) -> Callable[[list[Clip]], dict[str, float]]:
    """clips -> {cer, wer, clips, exact} for the checkpoint: greedy (`evaluate_ctc`, as in training) for
    beam 1, else prefix beam search with `beam` prefixes, kept to the checkpoint's words.txt if `words`."""
    recognizer = Recognizer.load(model_dir)
    model, tokenizer = recognizer.model, recognizer.tokenizer
    if beam == 1:
        return lambda clips: evaluate_ctc(model, tokenizer, clips)
    listed = model_words(model_dir) if words else None
    lexicon = Lexicon(listed, tokenizer) if listed else None

    def score(clips: list[Clip]) -> dict[str, float]:
        refs = [c.text or "" for c in clips]
        hyps = [beam_search(recognizer.emissions(c.waveform), tokenizer, beam, lexicon)[0].text for c in clips]
        exact = sum(r == h for r, h in zip(refs, hyps, strict=True)) / len(refs)
        return {"cer": cer(refs, hyps), "wer": wer(refs, hyps), "clips": float(len(refs)), "exact": exact}

    return score


def evaluate_all(model_dir: Path, eval_set: Path = EVAL_SET, beam: int = 1, words: bool = True
                 ) -> dict[str, dict[str, float]]:
    """{set name: {cer, wer, clips, exact}} for the held-out voices, every condition and all conditions."""
    evaluate = make_scorer(model_dir, beam, words)
    results = {"held-out voices": evaluate(AudioFolder(corpus_dir("test")).clips)}
    if (corpus_dir("engines_test") / "transcripts.tsv").is_file():
        results["held-out engine voices"] = evaluate(AudioFolder(corpus_dir("engines_test")).clips)
    groups = conditions(eval_set)
    for name, clips in groups.items():
        results[name] = evaluate(clips)
    results["out-of-corpus, all"] = evaluate([c for g in groups.values() for c in g])
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None,
                        help="CTC checkpoint folder (default: the committed ctc-tiny; with --holdout: train one)")
    parser.add_argument("--holdout", choices=ENGINES, default=None,
                        help="score a model that never heard this engine on that engine's clips")
    parser.add_argument("--steps", type=int, default=3000, help="training steps of a --holdout model")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="default",
                        help="training recipe of a --holdout model: the committed one; wide (adds the accents "
                             "split and --augment wide); vocode (accents and pico splits, --augment vocode); its "
                             "folder is runs/holdout-ENGINE[-RECIPE]")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=JSON",
                        help="config override for a --holdout model's training (repeatable); needs --out")
    parser.add_argument("--out", type=Path, default=None, help="folder of a --holdout model trained with --set")
    parser.add_argument("--beam", type=int, default=1, help="prefix beam search with N prefixes (1: greedy)")
    parser.add_argument("--no-words", action="store_true", help="beam search without the model's words.txt")
    parser.add_argument("--eval-set", type=Path, default=EVAL_SET, help="folder written by make_eval_set.py")
    parser.add_argument("--folder", type=Path, default=None,
                        help="score only this folder of clips (with a transcripts.tsv), one row per clip")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.beam < 1:
        parser.error(f"--steps and --beam must be at least 1, got {args.steps} and {args.beam}")
    torch.set_num_threads(1)
    start = time.perf_counter()
    if args.holdout is not None:
        if args.overrides and args.out is None and args.model is None:
            parser.error("--set changes the recipe: name the model's folder with --out")
        suffix = "" if args.recipe == "default" else f"-{args.recipe}"
        folder = args.out or ROOT / "runs" / f"holdout-{args.holdout}{suffix}"
        model_dir = args.model or train_holdout(args.holdout, folder, args.steps, args.recipe, tuple(args.overrides))
        r = make_scorer(model_dir, args.beam, not args.no_words)(holdout_eval_clips(args.holdout))
        print(f"model: {model_dir} (never heard {args.holdout})")
        print(f"| held out: {args.holdout} | {int(r['clips'])} clips | CER {100 * r['cer']:.1f}% | "
              f"WER {100 * r['wer']:.1f}% | exact {100 * r['exact']:.0f}% |")
        print(f"({time.perf_counter() - start:.1f} s)", file=sys.stderr)
        if args.json is not None:
            args.json.write_text(json.dumps({f"holdout {args.holdout}": r}, indent=2) + "\n")
        return
    args.model = args.model or DEFAULT_MODEL_DIR
    if args.folder is not None:
        try:
            clips = AudioFolder(args.folder).clips
        except ValueError as err:  # missing or empty folder: one line, not a traceback
            parser.error(str(err))
        score, recognizer = make_scorer(args.model, args.beam, not args.no_words), Recognizer.load(args.model)
        print(f"model: {args.model}\n| clip | transcript | CER |\n|---|---|---|")
        for clip in clips:
            print(f"| {clip.path.name} | {recognizer.transcribe(clip.waveform).text} | "
                  f"{100 * score([clip])['cer']:.0f}% |")
        print(f"| all {len(clips)} | | {100 * score(clips)['cer']:.1f}% |")
        return
    results = evaluate_all(args.model, args.eval_set, args.beam, not args.no_words)
    print(f"model: {args.model}")
    print("| set | clips | CER | WER | exact |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {int(r['clips'])} | {100 * r['cer']:.1f}% | {100 * r['wer']:.1f}% | "
              f"{100 * r['exact']:.0f}% |")
    print(f"({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
