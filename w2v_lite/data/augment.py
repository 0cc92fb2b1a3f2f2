"""Waveform augmentation for CTC training: a room, a microphone and a phone line, drawn per clip.

A recogniser trained on synthetic speech learns clean, dry, close-miked 16 kHz audio. Each transform below
makes a training clip look like audio the corpus lacks, while the transcript stays true:

    shift_edges(w, a, b)        (L,) -> (L+a+b,)  a, b > 0: silence before/after (a delay); < 0: trim that much
    change_speed(w, f)          (L,) -> (~L/f,)   faster (f > 1) or slower speech; pitch moves with it
    shift_formants(w, a)        (L,) -> (L,)      a talker with a shorter (a > 1) or longer vocal tract: the
                                                  spectral envelope stretched by a, pitch and timing kept
    vocode(w, g)                (L,) -> (L,)      a new voice source: the same formants over a synthetic pulse
                                                  train at a new pitch (the buzz of a formant synthesiser)
    colour(w, g)                (L,) -> (L,)      a microphone's frequency response: a random tilt and bumps
    synthetic_rir(rt60, g)      -> (K,)           a room impulse response: a direct path, then exponentially
                                                  decaying noise whose energy falls 60 dB in rt60 seconds
    reverberate(w, rt60, g)     (L,) -> (L,)      the clip played in that room (tail cut at L: same length)
    white_noise / pink_noise    (n, g) -> (n,)    flat spectrum / power falling 3 dB per octave (1/f)
    babble(others, n, g)        -> (n,)           2-4 other training clips summed: "people talking behind"
    add_noise(w, snr_db, g, n)  (L,) -> (L,)      noise `n` (default white) scaled to exactly `snr_db` below w
    clip_gain(w, gain_db)       (L,) -> (L,)      amplify, then hard-clip to [-1, 1] like an overdriven input
    telephone(w, rate)          (L,) -> (L,)      down to `rate` and back up: nothing above rate/2
    Augment()(w, g, others)     (L,) -> (L',)     all of them at random, with probabilities and ranges

Plain gain without clipping is not among them: every batch is normalised to zero mean and unit variance per
clip (`data.audio.normalize`), so a louder or quieter copy of a clip reaches the model unchanged; only the
clipping that a too-high gain causes changes what the model sees.
All randomness comes from the `numpy.random.Generator` passed in, so a seeded generator repeats a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from w2v_lite.data.audio import SAMPLING_RATE, resample

__all__ = ["AUGMENT_PRESETS", "Augment", "add_noise", "babble", "change_speed", "clip_gain", "colour", "pink_noise",
           "periodicity", "reverberate", "shift_edges", "shift_formants", "synthetic_rir", "telephone", "vocode",
           "white_noise"]

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


_N_FFT, _HOP = 512, 256  # 32 ms Hann windows, half overlapping: istft of an unchanged stft returns the clip
_LPC_ORDER = 18  # all-pole envelope: nine resonances up to 8 kHz, the usual order for 16 kHz speech


def lpc_envelope(power: np.ndarray, order: int = _LPC_ORDER) -> np.ndarray:
    """Each frame's all-pole (LPC) spectral envelope: power spectra (F, N) -> (F, N) log magnitude -log|A(f)|.

    Linear prediction fits 1 / A(z), A(z) = 1 + a_1 z^-1 + ... + a_p z^-p, to a frame: the vocal tract's
    resonances (formants) without the harmonics of the pitch. The autocorrelation is the inverse FFT of the
    power spectrum; Levinson-Durbin solves all frames at once (numpy: a third of torch's time on small arrays)."""
    n_fft = 2 * (power.shape[0] - 1)
    r = np.fft.irfft(power, n=n_fft, axis=0)[: order + 1]  # (p + 1, N)
    r[0] = r[0] * (1 + 1e-6) + 1e-12  # a floor for silent frames and a well-conditioned system
    a = np.zeros_like(r)
    a[0] = 1.0
    error = r[0].copy()
    for i in range(1, order + 1):
        k = -np.einsum("ij,ij->j", r[i:0:-1], a[:i]) / error  # reflection coefficient per frame, (N,)
        a[1 : i + 1] += k * a[i - 1 :: -1]
        error *= 1 - k * k
    return -np.log(np.abs(np.fft.rfft(a, n=n_fft, axis=0)) + 1e-12)


def _envelope_filter(waveform: torch.Tensor, log_gain: torch.Tensor | None, alpha: float) -> torch.Tensor:
    """Scale each STFT frame by a real gain and resynthesise: (L,) -> (L,). The gain is exp(`log_gain`) (F,)
    times, when alpha != 1, the frame's own spectral envelope read at f / alpha over that envelope at f."""
    window = torch.hann_window(_N_FFT)
    x = waveform.float()
    if x.numel() < _N_FFT:  # too short to analyse: nothing to shape
        return waveform
    spec = torch.stft(x, _N_FFT, _HOP, window=window, return_complex=True)  # (F, N), F = 257
    gain = torch.zeros(spec.shape[0], 1) if log_gain is None else log_gain[:, None].float()
    if alpha != 1.0:
        # source-filter split: the LPC envelope is the vocal tract (formants), the rest the glottal source
        # (harmonics); only the envelope is moved
        envelope = torch.from_numpy(lpc_envelope((spec.abs() ** 2).double().numpy()).astype(np.float32))
        where = torch.arange(spec.shape[0], dtype=torch.float32).div(alpha).clamp(max=spec.shape[0] - 1)
        low = where.floor().long()
        high = (low + 1).clamp(max=spec.shape[0] - 1)
        frac = (where - low)[:, None]
        moved = envelope[low] * (1 - frac) + envelope[high] * frac
        gain = gain + (moved - envelope).clamp(-4.0, 4.0)  # at most ~35 dB per bin: no blow-ups in valleys
    out = torch.istft(spec * torch.exp(gain), _N_FFT, _HOP, window=window, length=x.numel())
    return out.float()


def shift_formants(waveform: torch.Tensor, alpha: float) -> torch.Tensor:
    """Move every formant of a 16 kHz clip by the factor `alpha`, keeping pitch and timing: (L,) -> (L,).

    Vocal tract length perturbation (VTLP): formant frequencies go as 1 / vocal tract length, so alpha 1.15
    sounds like a shorter tract (a child's or a woman's), 0.9 a longer one. Unlike `change_speed`, which
    moves formants and pitch and duration together, this makes new talkers from the same prosody."""
    if not 0.5 <= alpha <= 2.0:
        raise ValueError(f"formant factor must be in [0.5, 2], got {alpha}")
    return _envelope_filter(waveform, None, alpha)


def periodicity(power: np.ndarray, envelope: np.ndarray) -> np.ndarray:
    """How periodic each frame's LPC residual is: power spectra (F, N), log envelopes (F, N) -> (N,) in [0, 1].

    The residual (the spectrum over its envelope) of a vowel is a row of equal harmonics, whose autocorrelation
    peaks at the pitch period (2.5 to 16.7 ms: 60 to 400 Hz); a fricative's is noise, which peaks nowhere.
    Only 0-3 kHz counts: above it even a vowel's residual is mostly noise."""
    residual = power / np.exp(2.0 * envelope)
    residual[_N_FFT * 3000 // SAMPLING_RATE :] = 0.0  # harmonics are clear below 3 kHz; above, even vowels are noisy
    ac = np.fft.irfft(residual, n=_N_FFT, axis=0)
    lags = slice(SAMPLING_RATE // 400, SAMPLING_RATE // 60 + 1)
    # a windowed frame correlates less with itself the further it is shifted: divide that out, so that a
    # 60 Hz pulse train (two periods per window) scores as high as a 300 Hz one
    window = np.hanning(_N_FFT + 1)[:-1]
    overlap = np.correlate(window, window, "full")[_N_FFT - 1 :] / float(window @ window)
    return np.clip((ac[lags] / overlap[lags, None]).max(axis=0) / np.maximum(ac[0], 1e-20), 0.0, 1.0)


def vocode(waveform: torch.Tensor, rng: np.random.Generator, f0: tuple[float, float] = (70.0, 260.0)
           ) -> torch.Tensor:
    """Resynthesise a 16 kHz clip from its formants with a new, synthetic voice source: (L,) -> (L,).

    Source-filter vocoding: each frame keeps its LPC envelope (the vocal tract: what is said) and power, but
    the source under it becomes a pulse train at a new pitch (base uniform in `f0` Hz, drifting up to +-20%
    over the clip) mixed with noise by how periodic the frame was. Out comes the same words in the buzzy,
    jitter-free voice of a formant synthesiser (espeak-ng's kind), whatever voice went in: a recogniser
    trained on recorded diphone voices learns the envelope, not one family of glottal pulses."""
    x = waveform.float()
    n = x.numel()
    if n < _N_FFT:  # too short to analyse: nothing to resynthesise
        return waveform
    window = torch.hann_window(_N_FFT)
    spec = torch.stft(x, _N_FFT, _HOP, window=window, return_complex=True)  # (F, N)
    power = (spec.abs() ** 2).double().numpy()
    envelope = lpc_envelope(power)
    voiced = np.clip((periodicity(power, envelope) - 0.4) / 0.3, 0.0, 1.0)  # (N,) 0 noise .. 1 pulses
    t = np.arange(n) / n
    pitch = float(rng.uniform(*f0)) * (1.0 + float(rng.uniform(-0.2, 0.2)) * t
                                        + 0.05 * np.sin(2 * np.pi * (float(rng.uniform(0.5, 2.0)) * t + rng.random())))
    phase = np.cumsum(pitch / SAMPLING_RATE)
    pulses = np.diff(np.floor(phase), prepend=0.0)  # 1 where a new period starts
    noise = rng.standard_normal(n)

    def flat(source: np.ndarray) -> np.ndarray:  # its STFT, each frame scaled to unit mean power
        s = torch.stft(torch.from_numpy(source), _N_FFT, _HOP, window=window.double(), return_complex=True).numpy()
        return s / np.sqrt(np.maximum((np.abs(s) ** 2).mean(axis=0), 1e-20))

    source = np.sqrt(voiced) * flat(pulses) + np.sqrt(1.0 - voiced) * flat(noise)
    shaped = source * np.exp(envelope)
    shaped *= np.sqrt(power.mean(axis=0) / np.maximum((np.abs(shaped) ** 2).mean(axis=0), 1e-30))
    out = torch.istft(torch.from_numpy(shaped), _N_FFT, _HOP, window=window.double(), length=n)
    return out.float()


def colour(waveform: torch.Tensor, rng: np.random.Generator, tilt_db: float = 6.0, bump_db: float = 6.0
           ) -> torch.Tensor:
    """A random microphone/loudspeaker response: (L,) -> (L,), same length, mean power kept.

    A tilt uniform in +-`tilt_db` from 0 to 8 kHz (bright or dull), plus one resonance or dip of up to
    +-`bump_db` at a random frequency (200 Hz to 6 kHz, a third to one octave wide): what cheap and small
    microphones and rooms do to the spectrum, which a dry synthetic corpus never shows."""
    freqs = torch.linspace(0.0, SAMPLING_RATE / 2, _N_FFT // 2 + 1, dtype=torch.float64)
    octaves = torch.log2(freqs.clamp(min=50.0) / float(rng.uniform(200.0, 6000.0)))
    width = float(rng.uniform(1 / 3, 1.0))
    db = (float(rng.uniform(-tilt_db, tilt_db)) * freqs / freqs[-1]
          + float(rng.uniform(-bump_db, bump_db)) * torch.exp(-0.5 * (octaves / (width / 2)) ** 2))
    out = _envelope_filter(waveform, db * (np.log(10.0) / 20.0), 1.0)
    power = float(waveform.double().pow(2).mean())
    return out * np.sqrt(power / max(float(out.double().pow(2).mean()), 1e-20))


def telephone(waveform: torch.Tensor, rate: int = 8000) -> torch.Tensor:
    """Band-limit a 16 kHz clip as a round trip through `rate` Hz: (L,) -> (L,), nothing above rate/2."""
    if not 0 < rate < SAMPLING_RATE:
        raise ValueError(f"telephone rate must be between 0 and {SAMPLING_RATE} Hz, got {rate}")
    down = resample(waveform.numpy(), SAMPLING_RATE, rate)
    up = resample(down, rate, SAMPLING_RATE)[: waveform.numel()]
    return torch.from_numpy(np.pad(up, (0, waveform.numel() - up.size)))


def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) float64 Gaussian noise: the same power at every frequency."""
    return rng.standard_normal(n)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) float64 pink noise: white noise shaped in the frequency domain so power goes as 1/f.

    Amplitude is scaled by 1/sqrt(f), i.e. power -3 dB per octave, which is how fans, air conditioning and
    traffic sound; the DC bin is zeroed (no offset)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    scale = np.zeros_like(freqs)
    scale[1:] = 1.0 / np.sqrt(freqs[1:])
    return np.fft.irfft(spectrum * scale, n)


def babble(others: Sequence[torch.Tensor], n: int, rng: np.random.Generator, voices: tuple[int, int] = (2, 4)
           ) -> np.ndarray:
    """(n,) float64 babble: `voices` (low, high) of `others` (other clips, each (L_i,)), each normalised to unit
    power, tiled or cut to n samples from a random start, and summed. Falls back to pink noise without others."""
    if not others:
        return pink_noise(n, rng)
    out = np.zeros(n)
    for i in rng.choice(len(others), size=int(rng.integers(voices[0], voices[1] + 1))):
        voice = others[int(i)].double().numpy()
        voice = voice / max(float(np.sqrt(np.mean(voice**2))), 1e-8)
        reps = int(np.ceil((n + voice.size) / voice.size))
        start = int(rng.integers(0, voice.size))
        out += np.tile(voice, reps)[start : start + n]
    return out


def add_noise(waveform: torch.Tensor, snr_db: float, rng: np.random.Generator,
              noise: np.ndarray | None = None) -> torch.Tensor:
    """Add `noise` (L,) scaled to `snr_db` dB below the clip's mean power (white Gaussian if None): (L,) -> (L,).

    SNR = 10 log10(P_signal / P_noise) with P the mean square over the whole clip, so it holds exactly."""
    if noise is None:
        noise = white_noise(waveform.numel(), rng)
    if noise.shape != (waveform.numel(),):
        raise ValueError(f"noise must have shape ({waveform.numel()},) like the waveform, got {noise.shape}")
    power = float(waveform.double().pow(2).mean())
    noise_power = max(float(np.mean(np.square(noise, dtype=np.float64))), 1e-20)
    scaled = noise * np.sqrt(power / 10 ** (snr_db / 10) / noise_power)
    return waveform + torch.from_numpy(scaled.astype(np.float32))


def synthetic_rir(rt60: float, rng: np.random.Generator, direct_to_reverb_db: float = 0.0) -> np.ndarray:
    """A synthetic room impulse response: (K,) float64, K = rt60 seconds of samples (at least 1 sample).

    Sample 0 is the direct path (1.0). The tail is Gaussian noise under an amplitude envelope
    exp(-3 ln(10) t / rt60), so its energy falls by 60 dB in rt60 seconds (the definition of RT60). The tail
    is scaled so its energy is `direct_to_reverb_db` below the direct path's (0 dB: as loud as the direct sound).
    Real rooms add early reflections and frequency-dependent decay; for a recogniser the long smear matters."""
    if not 0.0 < rt60 <= 3.0:
        raise ValueError(f"rt60 must be in (0, 3] seconds, got {rt60}")
    k = max(int(rt60 * SAMPLING_RATE), 1)
    t = np.arange(k) / SAMPLING_RATE
    tail = rng.standard_normal(k) * np.exp(-3.0 * np.log(10.0) * t / rt60)
    tail[0] = 0.0
    tail *= np.sqrt(10 ** (-direct_to_reverb_db / 10) / max(float(np.sum(tail**2)), 1e-20))
    tail[0] = 1.0
    return tail


def reverberate(waveform: torch.Tensor, rt60: float, rng: np.random.Generator,
                direct_to_reverb_db: float = 0.0) -> torch.Tensor:
    """Convolve with `synthetic_rir(rt60, ...)` (FFT convolution), keep the first L samples: (L,) -> (L,).

    The result is rescaled to the input's mean power, so reverberation does not change loudness."""
    rir = synthetic_rir(rt60, rng, direct_to_reverb_db)
    x = waveform.double().numpy()
    n = x.size + rir.size - 1
    wet = np.fft.irfft(np.fft.rfft(x, n) * np.fft.rfft(rir, n), n)[: x.size]
    wet *= np.sqrt(max(float(np.mean(x**2)), 1e-20) / max(float(np.mean(wet**2)), 1e-20))
    return torch.from_numpy(wet.astype(np.float32))


def clip_gain(waveform: torch.Tensor, gain_db: float) -> torch.Tensor:
    """Multiply by 10^(gain_db/20), then hard-clip to [-1, 1]: (L,) -> (L,). The loud peaks flatten, as when
    a microphone's input gain is set too high; the output never exceeds 1 in magnitude."""
    return (waveform * 10 ** (gain_db / 20)).clamp(-1.0, 1.0)


def shift_edges(waveform: torch.Tensor, start: int, end: int) -> torch.Tensor:
    """(L,) -> (L + start + end,): a positive `start`/`end` adds that many zeros before/after (a recording that
    starts early or stops late), a negative one trims that many samples off. At least one sample stays."""
    if -start - end >= waveform.numel():
        raise ValueError(f"trimming {-start} + {-end} samples leaves nothing of a {waveform.numel()}-sample clip")
    w = waveform[max(-start, 0) : waveform.numel() - max(-end, 0)]
    return torch.nn.functional.pad(w, (max(start, 0), max(end, 0)))


@dataclass(frozen=True)
class Augment:
    """A random room, microphone and line for one clip at a time: `Augment()(wave, rng, others)`.

    Applied in the order sound travels: edges (the recording window), speed, formants and voice source (the
    talker), reverb (the room), noise (the room's other sounds), colour and gain with clipping (the microphone),
    telephone band (the line).

    p_shift:      chance of moving each end by a number of samples uniform in `shift` (negative trims: the
                  corpus keeps 50 ms of silence around speech, so the default trims at most 30 ms)
    p_speed:      chance of a speed change, with a factor uniform in `speed`
    p_formant:    chance of a formant shift (`shift_formants`) by a factor uniform in `formant` (default off)
    p_vocode:     chance of a new voice source (`vocode`) with a base pitch uniform in `f0` Hz (default off)
    p_reverb:     chance of a synthetic room with RT60 uniform in `rt60` s and direct-to-reverb ratio in `drr_db`
    p_noise:      chance of noise at an SNR uniform in `snr_db`: white, pink or babble (one third each; babble
                  needs `others`, the other clips of the batch, and becomes pink noise without them)
    p_colour:     chance of a random microphone response (`colour`): tilt and bump up to +-`colour_db` dB
                  (default off)

    `AUGMENT_PRESETS` names the recipes `--augment [NAME]` offers: "default" (the committed ctc-tiny's), "wide"
    (plus formant shifts at p 0.5 and microphone colour at p 0.3: new talkers and microphones) and "vocode"
    (plus a new voice source at p 0.5).
    p_clip:       chance of a gain of `clip_db` dB above the clip's peak (uniform), then clipping at +-1
    p_telephone:  chance of a round trip through one of `telephone_rates` (Hz)
    """

    p_shift: float = 0.5
    shift: tuple[int, int] = (-480, 3200)
    p_speed: float = 0.8
    speed: tuple[float, float] = (0.8, 1.3)
    p_formant: float = 0.0
    formant: tuple[float, float] = (0.85, 1.2)
    p_vocode: float = 0.0
    f0: tuple[float, float] = (70.0, 260.0)
    p_reverb: float = 0.25
    rt60: tuple[float, float] = (0.1, 0.5)
    drr_db: tuple[float, float] = (0.0, 12.0)
    p_noise: float = 0.3
    snr_db: tuple[float, float] = (12.0, 35.0)
    p_colour: float = 0.0
    colour_db: float = 6.0
    p_clip: float = 0.1
    clip_db: tuple[float, float] = (0.0, 12.0)
    p_telephone: float = 0.2
    telephone_rates: tuple[int, ...] = (8000, 11025)

    def __post_init__(self) -> None:
        for name in ("p_shift", "p_speed", "p_formant", "p_vocode", "p_reverb", "p_noise", "p_colour", "p_clip",
                     "p_telephone"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        for name in ("shift", "speed", "formant", "f0", "rt60", "drr_db", "snr_db", "clip_db"):
            low, high = getattr(self, name)
            if not low <= high:
                raise ValueError(f"{name} must be a (low, high) range, got {(low, high)}")

    def __call__(self, waveform: torch.Tensor, rng: np.random.Generator,
                 others: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        """(L,) float32 at 16 kHz -> (L',) float32; L' differs from L only after a shift or a speed change.

        `others`: other clips (each (L_i,)) to make babble from; the clip itself should not be among them."""
        if rng.random() < self.p_shift:
            start, end = (int(v) for v in rng.integers(self.shift[0], self.shift[1] + 1, size=2))
            if -start - end < waveform.numel() // 2:  # never trim half a (very short) clip
                waveform = shift_edges(waveform, start, end)
        if rng.random() < self.p_speed:
            waveform = change_speed(waveform, float(rng.uniform(*self.speed)))
        # formant, vocode and colour draw nothing while off, so the default recipe's random stream (and the committed
        # ctc-tiny it trains) is the same as before they existed
        if self.p_formant > 0 and rng.random() < self.p_formant:
            waveform = shift_formants(waveform, float(rng.uniform(*self.formant)))
        if self.p_vocode > 0 and rng.random() < self.p_vocode:
            waveform = vocode(waveform, rng, self.f0)
        if rng.random() < self.p_reverb:
            waveform = reverberate(waveform, float(rng.uniform(*self.rt60)), rng, float(rng.uniform(*self.drr_db)))
        if rng.random() < self.p_noise:
            kind, n = int(rng.integers(0, 3)), waveform.numel()
            if kind == 0:
                noise = white_noise(n, rng)
            elif kind == 1:
                noise = pink_noise(n, rng)
            else:
                noise = babble(others, n, rng)
            waveform = add_noise(waveform, float(rng.uniform(*self.snr_db)), rng, noise)
        if self.p_colour > 0 and rng.random() < self.p_colour:
            waveform = colour(waveform, rng, self.colour_db, self.colour_db)
        if rng.random() < self.p_clip:
            peak = max(float(waveform.abs().max()), 1e-8)
            waveform = clip_gain(waveform / peak, float(rng.uniform(*self.clip_db)))
        if rng.random() < self.p_telephone:
            waveform = telephone(waveform, int(rng.choice(self.telephone_rates)))
        return waveform


# what `train ctc --augment [NAME]` draws from (see Augment's docstring; benchmarks/README.md compares them)
AUGMENT_PRESETS = {"default": Augment(), "wide": Augment(p_formant=0.5, p_colour=0.3), "vocode": Augment(p_vocode=0.5)}
