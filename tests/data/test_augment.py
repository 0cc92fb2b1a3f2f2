"""w2v_lite.data.augment: speed changes move duration and pitch, the telephone band cuts the top, noise has
the asked SNR, `Augment` is reproducible from its generator, and `--augment` training resumes exactly."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data import audio
from w2v_lite.data.augment import Augment, add_noise, change_speed, telephone
from w2v_lite.data.dataset import AudioFolder
from w2v_lite.data.tokenizer import CharTokenizer
from w2v_lite.train.ctc import CTC_DEFAULTS, CTCTask
from w2v_lite.train.loop import TrainArgs, train

SR = 16000


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
    off = Augment(p_speed=0.0, p_telephone=0.0, p_noise=0.0)
    assert torch.equal(off(wave, np.random.default_rng(0)), wave)
    always = Augment(p_speed=1.0, speed=(1.25, 1.25), p_telephone=0.0, p_noise=0.0)
    assert always(wave, np.random.default_rng(0)).numel() == int(np.ceil(wave.numel() / 1.25))


@pytest.mark.parametrize(("field", "value"), [("p_noise", 1.5), ("p_speed", -0.1), ("speed", (1.2, 0.9))])
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
