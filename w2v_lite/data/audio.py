"""Audio in, padded batch out: reading, resampling, padding and normalising waveforms.

wav2vec 2.0 consumes raw 16 kHz mono waveforms. This module turns files on disk into exactly that:

    load(path)              file -> (L,) float32 in [-1, 1] at 16 kHz
    pad_batch([w1, w2, ...]) list of (L_i,) -> PaddedBatch: input_values (B, Lmax), attention_mask (B, Lmax),
                            sample_lengths (B,)
    normalize(x, sample_lengths) (B, Lmax) -> (B, Lmax) zero mean / unit variance over the valid samples only

`normalize` matches transformers' `Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)`.
Reading uses `soundfile` and resampling `scipy.signal.resample_poly` (torchaudio's I/O is gone since 2.9).
"""

from __future__ import annotations

import functools
import io
import math
import os
import re
import select
import stat
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import torch

from w2v_lite.config import SAMPLING_RATE
from w2v_lite.lengths import lengths_to_mask, masked_mean_var

__all__ = [
    "SAMPLING_RATE",
    "MIN_SAMPLING_RATE",
    "MAX_SAMPLING_RATE",
    "MAX_SECONDS",
    "MAX_SAMPLES",
    "DEFAULT_CLIP_TRANSCRIPT",
    "AudioError",
    "PaddedBatch",
    "load",
    "duration",
    "resample",
    "default_clip_path",
    "load_default",
    "corpus_dir",
    "corpus_items",
    "pad_batch",
    "normalize",
]

DEFAULT_CLIP_TRANSCRIPT = "The quick brown fox jumps over the lazy dog."
"""What the embedded default clip says (synthesised by scripts/make_default_clip.py)."""

MIN_SAMPLING_RATE = 1000
"""Lowest accepted rate (Hz): below it a file is almost surely mislabelled (a 1 Hz header turns 10 samples
into 160 000), and it could not carry speech anyway."""

MAX_SAMPLING_RATE = 768_000
"""Highest accepted rate (Hz), the highest any audio interface records at; a header claiming more is
corrupt (a 10 GHz header would ask the resampler for hundreds of GiB)."""

MAX_SECONDS = 4 * 3600.0
"""Longest file `load` reads: 4 hours (230 million samples, 0.9 GB as float32 at 16 kHz). Checked on the
header, before any sample is read; cut longer recordings into parts (e.g. `ffmpeg -f segment`)."""

MAX_SAMPLES = 2**30
"""Most samples (frames x channels) `load` reads from one file, also checked on the header: 1.4 hours of
48 kHz stereo, or 4 hours of 16 kHz in up to 4 channels."""

STREAM_WAIT_SECONDS = 10.0
"""How long `load` waits for the first byte from a FIFO, pipe or device before giving up (a FIFO that no
program writes to would otherwise block forever)."""

_ASSETS = Path(__file__).resolve().parent.parent / "assets"
_VAR_EPS = 1e-7  # same epsilon as transformers' zero_mean_unit_var_norm


class AudioError(ValueError):
    """A file could not be turned into a usable waveform (corrupt, empty, NaN/Inf, ...)."""


class PaddedBatch(NamedTuple):
    """A right-padded batch of waveforms.

    input_values:   (B, Lmax) float32, zeros after each clip's end
    attention_mask: (B, Lmax) long, 1 on real samples and 0 on padding
    sample_lengths: (B,) long, number of real samples per clip
    """

    input_values: torch.Tensor
    attention_mask: torch.Tensor
    sample_lengths: torch.Tensor


def _check_rate(rate: object, name: str) -> int:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)):
        raise TypeError(f"{name} must be an int (samples per second), got {type(rate).__name__}")
    if rate <= 0:
        raise ValueError(f"{name} must be positive, got {rate}; wav2vec 2.0 expects {SAMPLING_RATE}")
    if rate < MIN_SAMPLING_RATE:
        raise ValueError(f"{name} is {rate} Hz, below the {MIN_SAMPLING_RATE} Hz minimum (telephone speech is "
                         f"8000 Hz); wav2vec 2.0 expects {SAMPLING_RATE} Hz audio")
    if rate > MAX_SAMPLING_RATE:
        raise ValueError(f"{name} is {rate} Hz, above the {MAX_SAMPLING_RATE} Hz maximum; wav2vec 2.0 expects "
                         f"{SAMPLING_RATE} Hz audio")
    return int(rate)


_SHORT_DATA = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


def _warn_if_cut_short(path: Path, info: sf.SoundFile) -> None:
    """Warn when a WAV's data chunk declares more bytes than the file holds (a truncated download or copy)."""
    found = _SHORT_DATA.search(info.extra_info or "")
    if found and int(found.group(2)) < int(found.group(1)):
        warnings.warn(f"{path}: the WAV data chunk declares {found.group(1)} bytes but the file holds only "
                      f"{found.group(2)}; the file was cut short, so only its first "
                      f"{info.frames / info.samplerate:.2f} s are used", stacklevel=3)


def _check_header(path: Path, info: sf.SoundFile) -> None:
    """Refuse, from the header alone, a rate outside [MIN_SAMPLING_RATE, MAX_SAMPLING_RATE] or more audio
    than `load` can hold (MAX_SECONDS, MAX_SAMPLES): before a single sample is allocated."""
    rate = info.samplerate
    if rate < MIN_SAMPLING_RATE:
        raise AudioError(f"audio file {path} has a sample rate of {rate} Hz, below the {MIN_SAMPLING_RATE} Hz "
                         f"minimum for speech; check the file's header or re-export it at {SAMPLING_RATE} Hz")
    if rate > MAX_SAMPLING_RATE:
        raise AudioError(f"audio file {path} has a sample rate of {rate} Hz, above the {MAX_SAMPLING_RATE} Hz "
                         f"maximum; the header is corrupt or the file is not audio: re-export it at "
                         f"{SAMPLING_RATE} Hz")
    seconds = info.frames / rate
    if seconds > MAX_SECONDS or info.frames * info.channels > MAX_SAMPLES:
        raise AudioError(f"audio file {path} holds {seconds / 3600:.2f} hours ({info.frames} frames x "
                         f"{info.channels} channels), more than load() reads at once (at most "
                         f"{MAX_SECONDS / 3600:g} hours and {MAX_SAMPLES} samples); cut it into parts, e.g. "
                         "`ffmpeg -i in.wav -f segment -segment_time 1800 part%03d.wav`")


def _printable(path: Path) -> None:
    """Refuse a file name that is not valid UTF-8 (bytes the file system allows, but that could be neither
    printed nor stored in JSON), naming its bytes."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")  # printable, unlike the name itself
        raise AudioError(f"{shown}: the file name is not valid UTF-8 (bytes {os.fsencode(path)!r}); rename the "
                         "file (e.g. `convmv -f latin1 -t utf8 --notest FILE`)") from None


def _read_stream(path: Path) -> bytes:
    """All bytes of a FIFO, pipe or character device, read once (it cannot be read twice). Waits at most
    STREAM_WAIT_SECONDS for the first byte, so a FIFO that no program writes to does not block forever."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opened without O_NONBLOCK waits for a writer
    except OSError as err:
        raise AudioError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        if not poller.poll(int(STREAM_WAIT_SECONDS * 1000)):
            raise AudioError(f"{path}: nothing to read after {STREAM_WAIT_SECONDS:g} s (a FIFO with no program "
                             "writing to it?); start the writer first, or pass a regular file")
        os.set_blocking(fd, True)
        chunks, size = [], 0
        limit = int(MAX_SAMPLES * 4 + 2**20)  # the largest stream a 16-bit header could describe, and a margin
        while chunk := os.read(fd, 2**20):
            size += len(chunk)
            if size > limit:
                raise AudioError(f"{path}: the stream holds more than {limit} bytes, more than load() reads at "
                                 "once; cut it into parts")
            chunks.append(chunk)
    except OSError as err:
        raise AudioError(f"cannot read {path}: {err.strerror or err}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def _open(path: Path) -> str | io.BytesIO:
    """What to decode: a regular file by name (libsndfile opens and reads it once, in C), or the bytes of a
    stream read once. Not a Python file object: soundfile would read it through a cffi callback, and a Ctrl-C
    that lands there is printed and dropped instead of stopping the program."""
    try:
        mode = path.stat().st_mode
    except OSError as err:
        raise AudioError(f"cannot read {path}: {err.strerror or err}") from None
    if stat.S_ISDIR(mode):
        raise AudioError(f"{path} is a directory; pass the path of one audio file (WAV, FLAC, OGG)")
    if stat.S_ISREG(mode):
        if not os.access(path, os.R_OK):
            raise AudioError(f"cannot read {path}: Permission denied")
        return str(path)
    return io.BytesIO(_read_stream(path))  # FIFO, pipe (`<(cat a.wav)`), /dev/stdin, character device


def resample(waveform: np.ndarray, orig_sr: int, target_sr: int = SAMPLING_RATE) -> np.ndarray:
    """Resample along the last axis with a polyphase filter: (..., L) -> (..., ceil(L * target / orig)).

    The up/down factors are the gcd-reduced ratio, e.g. 22050 -> 16000 is up 320 / down 441.
    Returns float32; the input is returned unchanged (as float32) when the rates already agree.
    """
    orig_sr = _check_rate(orig_sr, "orig_sr")
    target_sr = _check_rate(target_sr, "target_sr")
    waveform = np.asarray(waveform)
    if orig_sr == target_sr:
        return waveform.astype(np.float32, copy=False)
    # imported here: scipy.signal costs seconds to import (scipy.stats with it), and 16 kHz clips never need it
    from scipy.signal import resample_poly

    g = math.gcd(orig_sr, target_sr)
    out = resample_poly(waveform.astype(np.float64, copy=False), target_sr // g, orig_sr // g, axis=-1)
    return out.astype(np.float32)


def load(path: str | os.PathLike[str], sampling_rate: int = SAMPLING_RATE) -> torch.Tensor:
    """Read an audio file as a mono float waveform at `sampling_rate`: file -> (L,) float32.

    Integer PCM is scaled to [-1, 1) by soundfile (int16 / 32768). Multichannel audio is mixed to mono by
    averaging the channels. Other rates are resampled with `resample` (length ceil(N * sr / file_sr)).
    The file is opened once: a FIFO, a pipe (`<(cat a.wav)`) or /dev/stdin is read once as a stream
    (waiting at most STREAM_WAIT_SECONDS for a writer). The header is checked before any sample is read:
    rates outside [MIN_SAMPLING_RATE, MAX_SAMPLING_RATE] Hz and files over MAX_SECONDS / MAX_SAMPLES are
    refused.

    Raises FileNotFoundError for a missing file, AudioError (a ValueError) for an unreadable, empty,
    non-finite, too long or wrongly labelled file or a file name that is not UTF-8, TypeError/ValueError
    for a bad `sampling_rate`.
    """
    sampling_rate = _check_rate(sampling_rate, "sampling_rate")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    _printable(path)
    if not path.exists():
        raise FileNotFoundError(f"audio file not found: {path} (check the path, or use load_default())")
    source = _open(path)
    try:
        with sf.SoundFile(source) as f:  # one open: header, then samples
            _check_header(path, f)
            _warn_if_cut_short(path, f)
            file_sr = f.samplerate
            mono = np.empty(f.frames, dtype=np.float32)  # (N,): mixed block by block, never (N, C) at once
            n = 0
            for block in f.blocks(blocksize=2**18, dtype="float32", always_2d=True):  # (n, C)
                mono[n : n + len(block)] = block.mean(axis=1)
                n += len(block)
            mono = mono[:n]
    except (sf.SoundFileError, RuntimeError) as err:
        raise AudioError(
            f"cannot decode audio file {path}: {str(err).rstrip('.')}. Convert it to 16-bit WAV or FLAC "
            "(e.g. `ffmpeg -i in.mp3 -ac 1 -ar 16000 out.wav`)"
        ) from err
    if mono.shape[0] == 0:
        raise AudioError(f"audio file {path} contains no samples; record or choose a non-empty clip")
    if not np.isfinite(mono).all():
        raise AudioError(f"audio file {path} contains NaN or Inf samples; re-export it as PCM WAV/FLAC")
    return torch.from_numpy(np.ascontiguousarray(resample(mono, file_sr, sampling_rate)))


@functools.lru_cache(maxsize=4096)
def _header_seconds(path: str, mtime_ns: int, size: int) -> float:
    with sf.SoundFile(path) as f:
        return f.frames / f.samplerate


def duration(path: str | os.PathLike[str]) -> float:
    """Seconds of audio in a regular file, from its header (read once per file version: cached by path,
    modification time and size), for planning batches; 0.0 when it can't be told without reading the file
    (a FIFO or pipe, which can be read only once), or the file is unreadable (`load` then says why)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return 0.0
        return _header_seconds(os.fsdecode(path), st.st_mtime_ns, st.st_size)
    except (sf.SoundFileError, RuntimeError, OSError, ValueError, ZeroDivisionError):
        return 0.0


def default_clip_path() -> Path:
    """Path of the embedded ~3 s, 16 kHz mono English clip (says `DEFAULT_CLIP_TRANSCRIPT`)."""
    return _ASSETS / "default_clip.flac"


def load_default() -> torch.Tensor:
    """Load the embedded default clip: -> (L,) float32 at 16 kHz, L about 48 000."""
    return load(default_clip_path())


CORPUS_SPLITS = ("train", "test", "extra", "engines", "engines_test", "accents", "pico")


def corpus_dir(split: str) -> Path:
    """Folder of the embedded spoken-digits corpus split: 'train', 'test' (held-out voices), 'extra'
    (more training clips: other voices, speeds and texts), 'engines' (training clips by flite and festival),
    'engines_test' (held-out flite and festival voices), 'accents' (training clips by festival's
    other-language voices, English words respelled) or 'pico' (training clips by SVOX Pico, a fourth engine);
    see scripts/make_corpus.py."""
    if split not in CORPUS_SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, CORPUS_SPLITS))}, got {split!r}")
    return _ASSETS / "corpus" / split


def corpus_items(split: str) -> list[tuple[Path, str]]:
    """(file path, lowercase transcript) pairs of a corpus split, in transcripts.tsv order."""
    folder = corpus_dir(split)
    table = folder / "transcripts.tsv"
    if not table.exists():
        raise FileNotFoundError(f"{table} missing; generate the corpus with `python scripts/make_corpus.py`")
    items = []
    for line in table.read_text(encoding="utf-8").splitlines():
        if line.strip():
            name, text = line.split("\t", 1)
            items.append((folder / name, text))
    return items


def _as_1d_float(item: object, i: int) -> torch.Tensor:
    if isinstance(item, np.ndarray):
        item = torch.from_numpy(item)
    if not isinstance(item, torch.Tensor):
        raise TypeError(f"waveform {i} is a {type(item).__name__}; pass torch.Tensor or numpy arrays")
    if not item.is_floating_point():
        raise TypeError(
            f"waveform {i} has integer dtype {item.dtype}; scale PCM to [-1, 1] first (e.g. use load())"
        )
    if item.ndim != 1:
        raise ValueError(
            f"waveform {i} has shape {tuple(item.shape)}; each waveform must be 1-D (L,) mono samples "
            "(mix channels with .mean(0) or use load())"
        )
    if item.numel() == 0:
        raise ValueError(f"waveform {i} is empty; drop zero-length clips before batching")
    if not torch.isfinite(item).all():
        raise ValueError(f"waveform {i} contains NaN or Inf; clean the audio before batching")
    return item.to(torch.float32)


def pad_batch(waveforms: Sequence[torch.Tensor | np.ndarray]) -> PaddedBatch:
    """Right-pad 1-D waveforms with zeros: list of B (L_i,) -> PaddedBatch with (B, max L_i) tensors.

    The attention mask marks the real samples (1) and the padding (0); `sample_lengths[b] == L_b`.
    """
    if isinstance(waveforms, (torch.Tensor, np.ndarray)):
        raise TypeError("pad_batch takes a list of 1-D waveforms; wrap a single clip as pad_batch([wave])")
    items = [_as_1d_float(w, i) for i, w in enumerate(waveforms)]
    if not items:
        raise ValueError("pad_batch got an empty list; pass at least one waveform")
    sample_lengths = torch.tensor([w.numel() for w in items], dtype=torch.long)
    input_values = torch.zeros(len(items), int(sample_lengths.max()), dtype=torch.float32)
    for b, w in enumerate(items):
        input_values[b, : w.numel()] = w
    attention_mask = lengths_to_mask(sample_lengths, input_values.shape[1]).long()  # right padding
    return PaddedBatch(input_values, attention_mask, sample_lengths)


def normalize(input_values: torch.Tensor, sample_lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Zero-mean, unit-variance per clip over its valid samples: (B, L), (B,) -> (B, L).

    Statistics use only the first `sample_lengths[b]` samples (population variance + 1e-7, as in transformers'
    Wav2Vec2FeatureExtractor); padding stays exactly 0. `sample_lengths=None` means no padding.
    Computed in float64, returned in the input's dtype.
    """
    if not isinstance(input_values, torch.Tensor) or not input_values.is_floating_point():
        raise TypeError("input_values must be a floating-point torch.Tensor of shape (B, L)")
    if input_values.ndim != 2:
        raise ValueError(
            f"input_values must be (B, L), got shape {tuple(input_values.shape)}; use pad_batch() first"
        )
    batch, length = input_values.shape
    if sample_lengths is None:
        sample_lengths = torch.full((batch,), length, dtype=torch.long)
    if not isinstance(sample_lengths, torch.Tensor) or sample_lengths.dtype not in (torch.int32, torch.int64):
        raise TypeError("sample_lengths must be an integer torch.Tensor of shape (B,), e.g. PaddedBatch.sample_lengths")
    if sample_lengths.shape != (batch,):
        raise ValueError(f"sample_lengths must have shape ({batch},) like input_values, "
                         f"got {tuple(sample_lengths.shape)}")
    if bool((sample_lengths < 1).any()) or bool((sample_lengths > length).any()):
        raise ValueError(f"every length must be in [1, {length}], got {sample_lengths.tolist()}")
    x = input_values.double()
    valid = lengths_to_mask(sample_lengths.to(x.device), length)  # (B, L) True on real samples
    mean, var = masked_mean_var(x, valid, dim=1)
    return ((x - mean) / torch.sqrt(var + _VAR_EPS) * valid).to(input_values.dtype)
