"""A folder of audio clips in memory, for training: `Clip` (one utterance) and `AudioFolder` (all of a
folder's audio files with their transcripts; unreadable ones are reported by name and skipped)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from w2v_lite.data.audio import SAMPLING_RATE, AudioError, load

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


@dataclass
class Clip:
    """One utterance: its file, waveform (L,) float32 at 16 kHz, and transcript (None if unknown)."""

    path: Path
    waveform: torch.Tensor
    text: str | None = None


class AudioFolder:
    """Every .wav/.flac/.ogg file under `folder` (recursively, sorted), loaded into memory at 16 kHz.

    Transcripts come from `folder/transcripts.tsv` (lines "file name<TAB>text") when it exists.
    A file that cannot be decoded, or is shorter than `min_samples`, is *skipped*: it is named in a
    `UserWarning` and listed in `.skipped` as (path, reason); with `require_text`, so is a file without a
    transcript line. An empty folder, or one with no usable
    clip, raises ValueError. `clip(i, epoch, seed)` crops clips longer than `max_seconds` at a random
    offset that depends only on (seed, epoch, i), so crops are reproducible across resumes.
    """

    def __init__(self, folder: str | Path, max_seconds: float | None = None, min_samples: int = 1,
                 require_text: bool = False) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"data folder {folder} does not exist; pass a folder of audio files")
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        if not files:
            raise ValueError(f"data folder {folder} holds no audio files ({', '.join(AUDIO_SUFFIXES)}); "
                             "point it at e.g. w2v_lite/assets/corpus/train")
        if max_seconds is not None and max_seconds <= 0:
            raise ValueError(f"max_seconds must be > 0 (or None for no cropping), got {max_seconds}")
        self.max_samples = None if max_seconds is None else int(max_seconds * SAMPLING_RATE)
        if self.max_samples is not None and self.max_samples < min_samples:
            raise ValueError(f"max_seconds={max_seconds} crops clips to fewer than the {min_samples} samples "
                             "a training clip needs; raise max_seconds")
        texts = read_transcripts(folder / "transcripts.tsv")
        self.clips: list[Clip] = []
        self.skipped: list[tuple[Path, str]] = []
        for path in files:
            try:
                wave = load(path)
            except AudioError as err:
                self._skip(path, f"unreadable audio ({err})")
                continue
            name = str(path.relative_to(folder))
            if require_text and name not in texts:
                self._skip(path, f"no line for {name!r} in {folder / 'transcripts.tsv'}")
                continue
            if wave.numel() < min_samples:
                self._skip(path, f"only {wave.numel()} samples, fewer than the {min_samples} a clip needs")
                continue
            self.clips.append(Clip(path, wave, texts.get(name)))
        if not self.clips:
            raise ValueError(f"no usable clip in {folder}: all {len(files)} files were skipped")

    def _skip(self, path: Path, reason: str) -> None:
        self.skipped.append((path, reason))
        warnings.warn(f"skipping audio file {path.name}: {reason}", stacklevel=3)

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def sample_lengths(self) -> list[int]:
        """Samples per clip after cropping: [N ints] (what the batch sampler sees)."""
        cap = self.max_samples or max(c.waveform.numel() for c in self.clips)
        return [min(c.waveform.numel(), cap) for c in self.clips]

    def clip(self, index: int, epoch: int = 0, seed: int = 0) -> Clip:
        """Clip `index`, cropped to `max_seconds` at an offset drawn from rng(seed, epoch, index)."""
        item = self.clips[index]
        if self.max_samples is None or item.waveform.numel() <= self.max_samples:
            return item
        excess = item.waveform.numel() - self.max_samples
        start = int(np.random.default_rng([seed, epoch, index]).integers(0, excess + 1))
        return Clip(item.path, item.waveform[start : start + self.max_samples], item.text)


def read_transcripts(table: Path) -> dict[str, str]:
    """`transcripts.tsv` ("relative file name<TAB>text" per line) -> {name: text}; {} if absent."""
    if not table.is_file():
        return {}
    texts = {}
    for number, line in enumerate(table.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            name, tab, text = line.partition("\t")
            if not tab:
                raise ValueError(f"{table} line {number} has no tab: expected 'file name<TAB>text', got {line[:60]!r}")
            texts[name] = text
    return texts
