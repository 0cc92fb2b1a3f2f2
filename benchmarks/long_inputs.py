"""Make the inputs of the memory checks in benchmarks/README.md: a 30-minute WAV (the held-out corpus clips
repeated, with 0.2 s of silence between) and a 25,000-character transcript of random words spelled with
ctc-tiny's letters (seeded).

    python benchmarks/long_inputs.py /tmp/long          # writes /tmp/long/long.wav and /tmp/long/transcript.txt
    /usr/bin/time -v w2v-lite align /tmp/long/long.wav "$(cat /tmp/long/transcript.txt)" --json > /dev/null
    /usr/bin/time -v w2v-lite explain --batch /tmp/long/long.wav
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from w2v_lite.data import audio

SECONDS, CHARACTERS = 1800, 25_000


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    pieces, total = [], 0
    gap = np.zeros(3200, dtype=np.float32)
    clips = [audio.load(path).numpy() for path, _ in audio.corpus_items("test")]
    while total < SECONDS * audio.SAMPLING_RATE:
        for clip in clips:
            pieces += [clip, gap]
            total += len(clip) + len(gap)
    wave = np.concatenate(pieces)[: SECONDS * audio.SAMPLING_RATE]
    sf.write(out / "long.wav", wave, audio.SAMPLING_RATE, subtype="PCM_16")
    rng = random.Random(0)
    letters = "defghilnoprstuvwxyz"  # ctc-tiny's letters
    words: list[str] = []
    while sum(map(len, words)) + len(words) < CHARACTERS:
        words.append("".join(rng.choice(letters) for _ in range(rng.randint(2, 8))))
    text = " ".join(words)[:CHARACTERS].strip()
    (out / "transcript.txt").write_text(text + "\n")
    print(out / "long.wav", f"{len(wave) / audio.SAMPLING_RATE:.0f} s;", out / "transcript.txt", len(text), "chars")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/long")
