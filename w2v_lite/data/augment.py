"""Waveform augmentation for CTC training: speed, telephone band and noise, drawn per clip.

A recogniser trained on one corpus learns its speaking rates and its 16 kHz bandwidth. Each transform below
makes a training clip look like audio the corpus lacks, while the transcript stays true:

    change_speed(w, f)      (L,) -> (~L/f,)  faster (f > 1) or slower speech; pitch moves with it (Kaldi-style)
    telephone(w, rate)      (L,) -> (L,)     down to `rate` and back up: nothing above rate/2 (8 kHz phone audio)
    add_noise(w, snr_db, g) (L,) -> (L,)     white noise at a given signal-to-noise ratio
    Augment()(w, g)         (L,) -> (L',)    the three at random, with probabilities and ranges

Gain is not among them on purpose: every batch is normalised to zero mean and unit variance per clip
(`data.audio.normalize`), so a louder or quieter copy of a clip reaches the model unchanged.
All randomness comes from the `numpy.random.Generator` passed in, so a seeded generator repeats a run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from w2v_lite.data.audio import SAMPLING_RATE, resample

__all__ = ["Augment", "add_noise", "change_speed", "telephone"]

_RATE_STEP = 400  # speed factors are rounded to multiples of 400/16000 = 2.5%: short polyphase filters


def change_speed(waveform: torch.Tensor, factor: float) -> torch.Tensor:
    """Play a 16 kHz clip `factor` times as fast: (L,) -> (ceil(L / factor'),).

    The clip is treated as if it had been recorded at 16 kHz x factor and resampled to 16 kHz, so duration
    and pitch both scale by 1/factor. The factor is rounded to a multiple of 2.5% (factor' above).
    """
    if not 0.5 <= factor <= 2.0:
        raise ValueError(f"speed factor must be in [0.5, 2], got {factor}")
    rate = max(_RATE_STEP, round(SAMPLING_RATE * factor / _RATE_STEP) * _RATE_STEP)
    return torch.from_numpy(resample(waveform.numpy(), rate, SAMPLING_RATE))


def telephone(waveform: torch.Tensor, rate: int = 8000) -> torch.Tensor:
    """Band-limit a 16 kHz clip as a round trip through `rate` Hz: (L,) -> (L,), nothing above rate/2."""
    if not 0 < rate < SAMPLING_RATE:
        raise ValueError(f"telephone rate must be between 0 and {SAMPLING_RATE} Hz, got {rate}")
    down = resample(waveform.numpy(), SAMPLING_RATE, rate)
    up = resample(down, rate, SAMPLING_RATE)[: waveform.numel()]
    return torch.from_numpy(np.pad(up, (0, waveform.numel() - up.size)))


def add_noise(waveform: torch.Tensor, snr_db: float, rng: np.random.Generator) -> torch.Tensor:
    """Add white Gaussian noise `snr_db` dB below the clip's mean power: (L,) -> (L,)."""
    power = float(waveform.double().pow(2).mean())
    noise = rng.standard_normal(waveform.numel()) * np.sqrt(power / 10 ** (snr_db / 10))
    return waveform + torch.from_numpy(noise.astype(np.float32))


@dataclass(frozen=True)
class Augment:
    """Random speed, telephone band and noise for one clip at a time: `Augment()(wave, rng)`.

    p_speed:      chance of a speed change, with a factor uniform in `speed`
    p_telephone:  chance of a round trip through one of `telephone_rates` (Hz)
    p_noise:      chance of white noise at an SNR uniform in `snr_db`
    """

    p_speed: float = 0.8
    speed: tuple[float, float] = (0.8, 1.3)
    p_telephone: float = 0.3
    telephone_rates: tuple[int, ...] = (8000, 11025)
    p_noise: float = 0.2
    snr_db: tuple[float, float] = (15.0, 40.0)

    def __post_init__(self) -> None:
        for name in ("p_speed", "p_telephone", "p_noise"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if not self.speed[0] <= self.speed[1]:
            raise ValueError(f"speed must be a (low, high) range, got {self.speed}")

    def __call__(self, waveform: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """(L,) float32 at 16 kHz -> (L',) float32; L' differs from L only after a speed change."""
        if rng.random() < self.p_speed:
            waveform = change_speed(waveform, float(rng.uniform(*self.speed)))
        if rng.random() < self.p_telephone:
            waveform = telephone(waveform, int(rng.choice(self.telephone_rates)))
        if rng.random() < self.p_noise:
            waveform = add_noise(waveform, float(rng.uniform(*self.snr_db)), rng)
        return waveform
