"""w2v_lite.data.augment: speed changes move duration and pitch, formant shifts move the envelope but not the
pitch, a microphone colour keeps power, the telephone band cuts the top, noise has the asked SNR and colour,
synthetic rooms decay at their RT60, clipping bounds the signal, edges shift by the asked samples, `Augment` is
reproducible from its generator, and `--augment` training resumes exactly."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from scipy.signal import lfilter

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data import audio
from w2v_lite.data.augment import (
    Augment,
    add_noise,
    babble,
    change_speed,
    clip_gain,
    colour,
    lpc_envelope,
    periodicity,
    pink_noise,
    reverberate,
    shift_edges,
    shift_formants,
    synthetic_rir,
    telephone,
    vocode,
    white_noise,
)
from w2v_lite.data.dataset import AudioFolder
from w2v_lite.data.tokenizer import CharTokenizer
from w2v_lite.train.ctc import CTC_DEFAULTS, CTCTask
from w2v_lite.train.loop import TrainArgs, train

SR = 16000
OFF = {"p_shift": 0.0, "p_speed": 0.0, "p_formant": 0.0, "p_vocode": 0.0, "p_reverb": 0.0, "p_noise": 0.0,
       "p_colour": 0.0, "p_clip": 0.0, "p_telephone": 0.0}


def _sine(freq: float, n: int = SR) -> torch.Tensor:
    return torch.from_numpy((0.5 * np.sin(2 * np.pi * freq * np.arange(n) / SR)).astype(np.float32))


def _peak_hz(wave: torch.Tensor) -> float:
    spectrum = np.abs(np.fft.rfft(wave.numpy()))
    return float(np.fft.rfftfreq(wave.numel(), 1 / SR)[spectrum.argmax()])


def _band_energy(wave: torch.Tensor, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(wave.numpy().astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(wave.numel(), 1 / SR)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


@pytest.mark.parametrize(("factor", "rounded"), [(1.25, 1.25), (0.8, 0.8), (1.26, 1.25), (0.9, 0.9)])
def test_change_speed_scales_duration_and_pitch(factor, rounded):
    fast = change_speed(_sine(400.0), factor)
    assert fast.dtype == torch.float32 and fast.numel() == int(np.ceil(SR / rounded))
    assert _peak_hz(fast) == pytest.approx(400.0 * rounded, abs=1.5)  # 1 Hz bins: 500 Hz at 1.25x


def test_change_speed_refuses_absurd_factors():
    with pytest.raises(ValueError, match=r"speed factor must be in \[0.5, 2\]"):
        change_speed(_sine(400.0), 3.0)


@pytest.mark.parametrize("rate", [8000, 11025])
def test_telephone_removes_everything_above_half_the_rate(rate):
    wave = torch.from_numpy(np.random.default_rng(0).standard_normal(SR).astype(np.float32))  # white: flat
    phone = telephone(wave, rate)
    assert phone.shape == wave.shape and phone.dtype == torch.float32
    top = rate / 2
    stop = top + 600  # the anti-aliasing filter needs a few hundred Hz to fall by 30 dB
    assert _band_energy(phone, stop, SR / 2) < 1e-3 * _band_energy(wave, stop, SR / 2)
    kept = _band_energy(phone, 100, top - 400) / _band_energy(wave, 100, top - 400)
    assert 0.95 < kept < 1.05  # the pass band goes through unchanged
    with pytest.raises(ValueError, match="telephone rate"):
        telephone(wave, 16000)


def test_add_noise_has_the_requested_snr():
    wave = _sine(300.0, 4 * SR)
    noisy = add_noise(wave, 20.0, np.random.default_rng(1))
    noise = (noisy - wave).double()
    snr = 10 * np.log10(float(wave.double().pow(2).mean()) / float(noise.pow(2).mean()))
    assert snr == pytest.approx(20.0, abs=0.1)
    assert abs(float(noise.mean())) < 0.01 * float(noise.std())  # zero-mean noise, not an offset


def test_augment_is_reproducible_and_off_when_probabilities_are_zero():
    wave = audio.load(audio.corpus_items("train")[0][0])
    aug = Augment()
    runs = [[aug(wave, rng) for _ in range(8)] for rng in (np.random.default_rng(5), np.random.default_rng(5))]
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))
    assert len({w.numel() for w in runs[0]}) > 1  # speed changes happened
    assert any(not torch.equal(w, wave) for w in runs[0])
    off = Augment(**OFF)
    assert torch.equal(off(wave, np.random.default_rng(0)), wave)
    always = Augment(**{**OFF, "p_speed": 1.0, "speed": (1.25, 1.25)})
    assert always(wave, np.random.default_rng(0)).numel() == int(np.ceil(wave.numel() / 1.25))


@pytest.mark.parametrize(("field", "value"), [("p_noise", 1.5), ("p_speed", -0.1), ("speed", (1.2, 0.9)),
                                            ("p_reverb", 2.0), ("rt60", (0.9, 0.1)), ("snr_db", (30.0, 5.0)),
                                            ("p_formant", 1.1), ("formant", (1.2, 0.9)), ("p_colour", -1.0)])
def test_augment_rejects_bad_settings(field, value):
    with pytest.raises(ValueError, match=field):
        Augment(**{field: value})


def test_ctc_batches_are_augmented_from_the_torch_rng():
    clips = AudioFolder(audio.corpus_dir("test")).clips[:4]
    tok = CharTokenizer.from_transcripts([c.text for c in clips])
    plain = CTCTask(tok).make_batch(clips)
    task = CTCTask(tok, augment=Augment(p_speed=1.0, p_noise=0.0, p_telephone=0.0))
    torch.manual_seed(0)
    first = task.make_batch(clips)
    torch.manual_seed(0)
    again = task.make_batch(clips)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert torch.equal(first["labels"], plain["labels"])  # the transcripts stay as they were
    assert not torch.equal(first["sample_lengths"], plain["sample_lengths"])


def test_augmented_ctc_training_resumes_exactly(tmp_path):
    """4 steps with --augment in one go == 2 steps, stop, resume, 2 more: the augmentation is in the RNG state."""
    data = tmp_path / "data"
    data.mkdir()
    items = audio.corpus_items("train")[:6]
    for path, _ in items:
        (data / path.name).write_bytes(path.read_bytes())
    (data / "transcripts.tsv").write_text("".join(f"{p.name}\t{t}\n" for p, t in items))
    tok = CharTokenizer.from_transcripts([t for _, t in items])
    cfg = Wav2Vec2Config.tiny()

    def run(out, **kw):
        args = TrainArgs(data=data, out=out, steps=4, batch_seconds=2.0, lr=2e-3, progress=False, seed=1,
                         config_overrides=CTC_DEFAULTS, **kw)
        return train(CTCTask(tok, augment=Augment()), cfg, args)

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        full = run(tmp_path / "full")
        run(tmp_path / "split", stop_at=2)
        resumed = run(tmp_path / "split", resume=True)
    finally:
        torch.set_num_threads(before)
    a, b = load_file(tmp_path / "full" / "model.safetensors"), load_file(tmp_path / "split" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["frames"] for r in full] == [r["frames"] for r in resumed]  # same speed changes, same lengths


def _slope_db_per_octave(noise: np.ndarray) -> float:
    """Least-squares slope of the power spectrum (dB) against log2(frequency), 50 Hz - 7 kHz."""
    power = np.abs(np.fft.rfft(noise)) ** 2
    freqs = np.fft.rfftfreq(noise.size, 1 / SR)
    band = (freqs > 50) & (freqs < 7000)
    return float(np.polyfit(np.log2(freqs[band]), 10 * np.log10(power[band]), 1)[0])


def test_white_noise_is_flat_and_pink_noise_falls_3_db_per_octave():
    rng = np.random.default_rng(0)
    assert _slope_db_per_octave(white_noise(8 * SR, rng)) == pytest.approx(0.0, abs=0.2)
    assert _slope_db_per_octave(pink_noise(8 * SR, rng)) == pytest.approx(-10 * np.log10(2), abs=0.2)


@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
@pytest.mark.parametrize("snr_db", [0.0, 10.0, 25.0])
def test_every_noise_is_added_at_the_requested_snr(kind, snr_db):
    wave = _sine(300.0, 2 * SR)
    rng = np.random.default_rng(3)
    others = [audio.load(p) for p, _ in audio.corpus_items("train")[:5]]
    if kind == "babble":
        noise = babble(others, wave.numel(), rng)
    else:
        noise = {"white": white_noise, "pink": pink_noise}[kind](wave.numel(), rng)
    noisy = add_noise(wave, snr_db, rng, noise)
    added = (noisy - wave).double()
    snr = 10 * np.log10(float(wave.double().pow(2).mean()) / float(added.pow(2).mean()))
    assert snr == pytest.approx(snr_db, abs=0.05)
    with pytest.raises(ValueError, match="noise must have shape"):
        add_noise(wave, snr_db, rng, noise[:-1])


def test_babble_is_other_speech_not_noise():
    """Babble from speech clips keeps speech's uneven loudness (syllables and gaps), unlike stationary noise."""
    others = [audio.load(p) for p, _ in audio.corpus_items("train")[:6]]
    rng = np.random.default_rng(0)

    def spread(x: np.ndarray) -> float:  # loudest / quietest 25 ms frame
        level = np.sqrt((x.reshape(-1, 400) ** 2).mean(axis=1))
        return float(level.max() / level.min())

    assert spread(babble(others, 2 * SR, rng, voices=(2, 2))) > 10
    assert spread(pink_noise(2 * SR, rng)) < 3
    assert babble([], 100, rng).shape == (100,)  # no other clips: pink noise instead


@pytest.mark.parametrize("rt60", [0.2, 0.5, 1.0])
def test_synthetic_rir_energy_falls_60_db_in_rt60(rt60):
    """Schroeder backward integration of the RIR's energy, fitted between -5 and -25 dB (T20) and extrapolated
    to -60 dB, gives back the RT60 asked for."""
    rir = synthetic_rir(rt60, np.random.default_rng(0), direct_to_reverb_db=-20.0)  # tail dominates
    assert rir.size == int(rt60 * SR) and rir[0] == 1.0
    edc = np.cumsum(rir[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0])
    fit = (edc_db < -5) & (edc_db > -25)
    slope = np.polyfit(np.arange(rir.size)[fit] / SR, edc_db[fit], 1)[0]  # dB per second
    assert -60 / slope == pytest.approx(rt60, rel=0.1)


def test_synthetic_rir_direct_to_reverb_ratio():
    rir = synthetic_rir(0.4, np.random.default_rng(1), direct_to_reverb_db=6.0)
    assert 10 * np.log10(rir[0] ** 2 / np.sum(rir[1:] ** 2)) == pytest.approx(6.0, abs=1e-6)
    with pytest.raises(ValueError, match="rt60"):
        synthetic_rir(0.0, np.random.default_rng(1))


def test_reverberate_smears_a_click_into_a_decaying_tail():
    click = torch.zeros(SR)
    click[1000] = 1.0
    out = reverberate(click, 0.3, np.random.default_rng(2), direct_to_reverb_db=0.0)
    assert out.shape == click.shape and out.dtype == torch.float32
    wet = out.double()
    assert float(wet[:1000].abs().max()) < 1e-9  # causal: nothing before the click (FFT rounding only)
    tail = wet[1001:].pow(2)
    early, late = float(tail[: SR // 10].sum()), float(tail[SR // 10 : SR // 5].sum())
    # the second 100 ms of a 0.3 s RT60 tail is 20 dB (60 * 0.1 / 0.3) below the first
    assert 10 * np.log10(early / late) == pytest.approx(20.0, abs=3.0)
    assert float(wet.pow(2).mean()) == pytest.approx(float(click.double().pow(2).mean()), rel=1e-6)  # same power


def test_clip_gain_bounds_the_signal_and_flattens_only_the_peaks():
    wave = _sine(200.0)  # peak 0.5
    loud = clip_gain(wave, 12.0)  # x3.98: peak ~2 -> clipped
    assert float(loud.abs().max()) <= 1.0
    share_clipped = float((loud.abs() == 1.0).float().mean())
    # |3.98 * 0.5 sin| >= 1 where |sin| >= 0.502: 2/3 of the period, by arcsin
    # (80 samples a period: the share is counted in steps of 1/40)
    assert share_clipped == pytest.approx(1 - 2 * np.arcsin(1 / (0.5 * 10 ** 0.6)) / np.pi, abs=0.025)
    quiet = clip_gain(wave, -6.0)
    assert torch.allclose(quiet, wave * 10 ** (-6 / 20))  # no clipping below full scale


def test_shift_edges_adds_silence_or_trims():
    wave = torch.arange(1, 11, dtype=torch.float32)
    assert torch.equal(shift_edges(wave, 3, 2), torch.cat([torch.zeros(3), wave, torch.zeros(2)]))
    assert torch.equal(shift_edges(wave, -2, -3), wave[2:7])
    assert torch.equal(shift_edges(wave, -1, 4), torch.cat([wave[1:], torch.zeros(4)]))
    with pytest.raises(ValueError, match="leaves nothing"):
        shift_edges(wave, -5, -5)


def test_each_augment_switch_does_its_own_transform():
    """With one probability at 1 and the rest 0, Augment applies exactly that transform (same generator draws)."""
    wave = audio.load(audio.corpus_items("train")[1][0])
    others = [audio.load(p) for p, _ in audio.corpus_items("train")[2:5]]
    shifted = Augment(**{**OFF, "p_shift": 1.0, "shift": (1600, 1600)})(wave, np.random.default_rng(0))
    assert shifted.numel() == wave.numel() + 3200 and torch.equal(shifted[1600:-1600], wave)
    clipped = Augment(**{**OFF, "p_clip": 1.0, "clip_db": (6.0, 6.0)})(wave, np.random.default_rng(0))
    assert float(clipped.abs().max()) == 1.0 and float((clipped.abs() == 1.0).float().mean()) > 0.001
    roomy = Augment(**{**OFF, "p_reverb": 1.0})(wave, np.random.default_rng(0))
    assert roomy.shape == wave.shape and not torch.equal(roomy, wave)
    noisy = Augment(**{**OFF, "p_noise": 1.0, "snr_db": (10.0, 10.0)})(wave, np.random.default_rng(0), others)
    added = (noisy - wave).double()
    assert 10 * np.log10(float(wave.double().pow(2).mean()) / float(added.pow(2).mean())) == pytest.approx(
        10.0, abs=0.05)


def test_augment_uses_all_its_transforms_over_many_clips_and_is_seeded():
    wave = audio.load(audio.corpus_items("train")[0][0])
    others = [audio.load(p) for p, _ in audio.corpus_items("train")[1:4]]
    aug = Augment()
    a = [aug(wave, np.random.default_rng(s), others) for s in range(30)]
    b = [aug(wave, np.random.default_rng(s), others) for s in range(30)]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert all(x.dtype == torch.float32 and bool(torch.isfinite(x).all()) for x in a)
    assert any(float(x.abs().max()) == 1.0 for x in a)  # some clipped
    assert len({x.numel() for x in a}) > 10  # shifts and speed changes


def _vowel(f0: float = 100.0, formant: float = 1000.0, n: int = SR) -> torch.Tensor:
    """A pulse train at f0 through one resonance at `formant` Hz (100 Hz bandwidth): a one-formant vowel."""
    pulses = np.zeros(n)
    pulses[:: int(SR / f0)] = 1.0
    radius, angle = np.exp(-np.pi * 100.0 / SR), 2 * np.pi * formant / SR
    out = lfilter([1.0], [1.0, -2 * radius * np.cos(angle), radius**2], pulses)
    return torch.from_numpy((0.1 * out / np.abs(out).max()).astype(np.float32))


def _harmonics(wave: torch.Tensor, f0: float) -> tuple[float, float]:
    """(frequency of the strongest harmonic, pitch from the autocorrelation peak between 60 and 400 Hz)."""
    x = wave.double().numpy()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    freqs = np.fft.rfftfreq(x.size, 1 / SR)
    harmonics = np.arange(f0, 4000.0, f0)
    strongest = harmonics[np.argmax([spectrum[np.abs(freqs - h).argmin()] for h in harmonics])]
    ac = np.correlate(x, x, "full")[x.size - 1 :]
    lags = np.arange(SR // 400, SR // 60)
    return float(strongest), SR / float(lags[np.argmax(ac[lags])])


@pytest.mark.parametrize("alpha", [0.8, 1.2])
@pytest.mark.parametrize(("f0", "formant"), [(100.0, 1000.0), (200.0, 1000.0), (100.0, 2000.0)])
def test_shift_formants_moves_the_envelope_and_keeps_the_pitch(alpha, f0, formant):
    vowel = _vowel(f0, formant)
    assert _harmonics(vowel, f0) == pytest.approx((formant, f0), rel=0.01)
    moved = shift_formants(vowel, alpha)
    assert moved.dtype == torch.float32 and moved.shape == vowel.shape
    assert _harmonics(moved, f0) == pytest.approx((formant * alpha, f0), rel=0.01)  # formant moved, pitch kept
    assert torch.allclose(shift_formants(vowel, 1.0), vowel, atol=1e-6)  # alpha 1: the clip itself
    with pytest.raises(ValueError, match=r"formant factor must be in \[0.5, 2\]"):
        shift_formants(vowel, 3.0)
    assert torch.equal(shift_formants(torch.zeros(SR), 1.2), torch.zeros(SR))  # silence stays silence, no NaN
    short = torch.ones(100)  # shorter than one analysis window: nothing to shape
    assert torch.equal(shift_formants(short, 1.2), short)


def test_colour_is_a_smooth_bounded_response_that_keeps_power():
    noise = torch.from_numpy(white_noise(4 * SR, np.random.default_rng(1)).astype(np.float32))
    responses = []
    for seed in range(6):
        out = colour(noise, np.random.default_rng(seed), tilt_db=6.0, bump_db=6.0)
        assert out.shape == noise.shape and float(out.pow(2).mean()) == pytest.approx(float(noise.pow(2).mean()),
                                                                                      rel=1e-4)
        ratio_db = 10 * np.log10(np.array([_band_energy(out, f, f + 500) / _band_energy(noise, f, f + 500)
                                           for f in range(0, 8000, 500)]))
        assert np.all(np.abs(ratio_db) < 13.0)  # tilt + bump: never more than 12 dB either way (plus the gain)
        responses.append(ratio_db)
        assert torch.equal(out, colour(noise, np.random.default_rng(seed)))  # seeded
    assert np.ptp([r[-1] - r[0] for r in responses]) > 3.0  # bright and dull microphones both drawn


def test_augment_formant_vocode_and_colour_switches():
    wave = audio.load(audio.corpus_items("train")[1][0])
    moved = Augment(**{**OFF, "p_formant": 1.0, "formant": (1.15, 1.15)})(wave, np.random.default_rng(0))
    assert torch.equal(moved, shift_formants(wave, 1.15))
    coloured = Augment(**{**OFF, "p_colour": 1.0})(wave, np.random.default_rng(0))
    assert coloured.shape == wave.shape and not torch.equal(coloured, wave)
    revoiced = Augment(**{**OFF, "p_vocode": 1.0, "f0": (150.0, 150.0)})(wave, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    rng.random(size=3)  # the shift and speed switches (drawn even at p 0), then its own
    assert torch.equal(revoiced, vocode(wave, rng, (150.0, 150.0)))


def test_formant_vocode_and_colour_draw_nothing_while_off():
    """Off by default and drawing no random number then: the default recipe's stream, and so the committed
    ctc-tiny that scripts/train_ctc_tiny.sh re-creates byte for byte, are what they were before they existed."""
    wave = audio.load(audio.corpus_items("train")[1][0])
    assert Augment().p_formant == Augment().p_colour == Augment().p_vocode == 0.0
    rng, reference = np.random.default_rng(3), np.random.default_rng(3)
    Augment(**OFF)(wave, rng)
    reference.random(size=6)  # one draw per switch of the default recipe: shift, speed, reverb, noise, clip, line
    assert rng.random() == reference.random()


def _frame_periodicity(wave: torch.Tensor) -> np.ndarray:
    spec = torch.stft(wave.double(), 512, 256, window=torch.hann_window(512, dtype=torch.float64),
                      return_complex=True)
    power = (spec.abs() ** 2).numpy()
    return periodicity(power, lpc_envelope(power))[2:-2]  # inner frames: the edges see half a window


def test_periodicity_tells_a_vowel_from_noise():
    for f0 in (80.0, 150.0, 300.0):  # a low voice has two periods per 32 ms window, a high one ten
        assert np.median(_frame_periodicity(_vowel(f0, 700.0))) > 0.9
    noise = torch.from_numpy(white_noise(SR, np.random.default_rng(0)).astype(np.float32))
    assert np.median(_frame_periodicity(noise)) < 0.4  # vocode's threshold: no pulses below it


@pytest.mark.parametrize(("f0", "formant", "new_f0"), [(100.0, 1000.0, 200.0), (200.0, 700.0, 90.0),
                                                      (120.0, 2000.0, 160.0)])
def test_vocode_keeps_the_formant_and_replaces_the_pitch(f0, formant, new_f0):
    vowel = _vowel(f0, formant)
    out = vocode(vowel, np.random.default_rng(0), (new_f0, new_f0))
    assert out.dtype == torch.float32 and out.shape == vowel.shape and bool(torch.isfinite(out).all())
    middle = out[SR // 2 - 2048 : SR // 2 + 2048]  # drift is +-20% over the clip and vibrato 5%: small here
    strongest, pitch = _harmonics(middle, new_f0)
    assert pitch == pytest.approx(new_f0, rel=0.15) and abs(pitch - f0) > 0.2 * f0  # a new voice source
    assert strongest == pytest.approx(formant, abs=new_f0)  # the formant stays, on the nearest new harmonic
    assert float(out.pow(2).mean()) == pytest.approx(float(vowel.pow(2).mean()), rel=0.25)  # power per frame
    assert torch.equal(out, vocode(vowel, np.random.default_rng(0), (new_f0, new_f0)))  # seeded


def test_vocode_keeps_noise_noise_and_silence_silence():
    noise = torch.from_numpy(white_noise(SR, np.random.default_rng(1)).astype(np.float32))
    assert np.median(_frame_periodicity(vocode(noise, np.random.default_rng(0)))) < 0.4  # a fricative: no buzz
    assert torch.equal(vocode(torch.zeros(SR), np.random.default_rng(0)), torch.zeros(SR))
    short = torch.ones(100)  # shorter than one analysis window
    assert torch.equal(vocode(short, np.random.default_rng(0)), short)
