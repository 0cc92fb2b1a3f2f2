"""Calibrate `alignment.MATCH_THRESHOLD`: how far below the greedy path does the forced path score when the
transcript is right, and when it is someone else's?

    python benchmarks/align_threshold.py

For every held-out corpus clip (w2v_lite/assets/corpus/test) and the committed ctc-tiny: `align` with the
clip's own transcript (matched) and with the transcript of another clip of a different text (shuffled,
seeded). Prints the range of `Alignment.vs_greedy` (nats per frame) for both and how many of each fall
below the threshold.
"""

from __future__ import annotations

import random

import torch

from w2v_lite.asr.alignment import MATCH_THRESHOLD, align
from w2v_lite.asr.pretrained import load_recognizer
from w2v_lite.asr.transcribe import DEFAULT_MODEL_DIR
from w2v_lite.data import audio


def main() -> None:
    torch.set_num_threads(1)
    recognizer = load_recognizer(DEFAULT_MODEL_DIR)
    items = audio.corpus_items("test")
    rng = random.Random(0)
    matched, shuffled = [], []
    for path, text in items:
        wave = audio.load(path)
        matched.append(align(recognizer, wave, text, warn=False).vs_greedy)
        other = rng.choice([t for _, t in items if t != text])
        shuffled.append(align(recognizer, wave, other, warn=False).vs_greedy)
    for name, values in (("matched", matched), ("shuffled", shuffled)):
        values = sorted(values)
        below = sum(v < MATCH_THRESHOLD for v in values)
        print(f"{name:8s} n={len(values)}  min {values[0]:.3f}  5% {values[len(values) // 20]:.3f}  "
              f"median {values[len(values) // 2]:.3f}  95% {values[-1 - len(values) // 20]:.3f}  "
              f"max {values[-1]:.3f}  below {MATCH_THRESHOLD:g}: {below}")


if __name__ == "__main__":
    main()
