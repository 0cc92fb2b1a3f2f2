"""Synthesise the embedded default clip: one English sentence, ~3 s, 16 kHz mono 16-bit FLAC.

    python scripts/make_default_clip.py            # writes w2v_lite/assets/default_clip.flac

Uses espeak-ng (apt package `espeak-ng`) with a fixed voice, speed and pitch, so reruns give the same
audio. `espeak_say` is shared with scripts/make_corpus.py.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from w2v_lite.data.audio import DEFAULT_CLIP_TRANSCRIPT, SAMPLING_RATE, default_clip_path, resample  # noqa: E402

VOICE, SPEED, PITCH = "en-us", 150, 50  # fixed so the clip is reproducible


def espeak_say(text: str, voice: str = VOICE, speed: int = SPEED, pitch: int = PITCH) -> np.ndarray:
    """Speak `text` with espeak-ng and return it at 16 kHz: -> (L,) float32 in [-1, 1].

    espeak-ng writes 22 050 Hz mono 16-bit WAV; it is resampled with w2v_lite.audio.resample.
    """
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng not found; install it with `apt-get install espeak-ng`")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "say.wav"
        cmd = [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text]
        subprocess.run(cmd, check=True, capture_output=True)
        data, sr = sf.read(wav, dtype="float32")
    if data.ndim == 2:
        data = data.mean(axis=1)
    return resample(data, sr, SAMPLING_RATE)


def trim_silence(wave: np.ndarray, threshold: float = 1e-3, margin: int = 800) -> np.ndarray:
    """Drop leading/trailing near-silence, keeping `margin` samples (50 ms) on each side: (L,) -> (L',)."""
    loud = np.flatnonzero(np.abs(wave) > threshold)
    if loud.size == 0:
        return wave
    return wave[max(loud[0] - margin, 0) : loud[-1] + margin + 1]


def write_flac(path: Path, wave: np.ndarray) -> None:
    """Write a (L,) float waveform as 16 kHz mono 16-bit FLAC (clipped to [-1, 1])."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.clip(wave, -1.0, 1.0), SAMPLING_RATE, subtype="PCM_16", format="FLAC")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_clip_path())
    args = parser.parse_args(argv)
    wave = trim_silence(espeak_say(DEFAULT_CLIP_TRANSCRIPT))
    write_flac(args.out, wave)
    print(f"wrote {args.out}: {wave.size / SAMPLING_RATE:.2f} s, {args.out.stat().st_size / 1024:.1f} KB")


if __name__ == "__main__":
    main()
