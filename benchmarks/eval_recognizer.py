"""CER and WER of a CTC checkpoint per condition of the out-of-corpus set, next to the held-out voices.

    python benchmarks/eval_recognizer.py                                  # the committed ctc-tiny
    python benchmarks/eval_recognizer.py --model runs/ctc-wide --json runs/ctc-wide/eval_conditions.json

Sets: `held-out voices` is w2v_lite/assets/corpus/test (new speakers, corpus conditions); the other rows are
the folders of w2v_lite/assets/eval_set (scripts/make_eval_set.py): new voice variants, new texts, slow and
fast speech, 8 kHz and 48 kHz stereo copies, and `out-of-corpus, all` pools them. Greedy decoding, one unpadded
clip at a time (`evaluate_ctc`, as in training); CER/WER are corpus-level (edits / reference characters).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from w2v_lite.asr.pretrained import DEFAULT_MODEL_DIR  # noqa: E402
from w2v_lite.asr.recognizer import Recognizer  # noqa: E402
from w2v_lite.data.audio import corpus_dir  # noqa: E402
from w2v_lite.data.dataset import AudioFolder, Clip  # noqa: E402
from w2v_lite.train.ctc import evaluate_ctc  # noqa: E402

EVAL_SET = ROOT / "w2v_lite" / "assets" / "eval_set"
ORDER = ["voices", "words", "slow", "fast", "8khz", "48khz_stereo"]  # as scripts/make_eval_set.py lists them


def conditions(folder: Path = EVAL_SET) -> dict[str, list[Clip]]:
    """The eval set's clips grouped by condition (their sub-folder), in sorted order."""
    groups: dict[str, list[Clip]] = defaultdict(list)
    for clip in AudioFolder(folder).clips:
        groups[clip.path.relative_to(folder).parts[0]].append(clip)
    return dict(sorted(groups.items(), key=lambda kv: (ORDER.index(kv[0]) if kv[0] in ORDER else len(ORDER),
                                                       kv[0])))


def evaluate_all(model_dir: Path, eval_set: Path = EVAL_SET) -> dict[str, dict[str, float]]:
    """{set name: {cer, wer, clips, exact}} for the held-out voices, every condition and all conditions."""
    recognizer = Recognizer.load(model_dir)
    model, tokenizer = recognizer.model, recognizer.tokenizer
    results = {"held-out voices": evaluate_ctc(model, tokenizer, AudioFolder(corpus_dir("test")).clips)}
    groups = conditions(eval_set)
    for name, clips in groups.items():
        results[name] = evaluate_ctc(model, tokenizer, clips)
    results["out-of-corpus, all"] = evaluate_ctc(model, tokenizer, [c for g in groups.values() for c in g])
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="CTC checkpoint folder")
    parser.add_argument("--eval-set", type=Path, default=EVAL_SET, help="folder written by make_eval_set.py")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    results = evaluate_all(args.model, args.eval_set)
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
