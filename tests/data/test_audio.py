"""w2v_lite.audio: reading, resampling, padding, normalisation, and the embedded default clip."""

import numpy as np
import pytest
import soundfile as sf
import torch

from w2v_lite import audio


def _sine(n: int, sr: int, freq: float, amp: float) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / sr)).astype(np.float64)


def test_load_resamples_and_mixes_stereo_wav(tmp_path):
    sr, n = 22050, 33075  # 1.5 s
    left, right = _sine(n, sr, 440.0, 0.5), _sine(n, sr, 440.0, 0.1)  # in phase: mono = 0.3 * sine
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), sr, subtype="PCM_16")

    wave = audio.load(path)
    assert wave.dtype == torch.float32 and wave.ndim == 1
    assert wave.shape[0] == round(n * 16000 / sr) == 24000
    # The mono mix of 0.5 and 0.1 amplitude in-phase sines peaks at 0.3 (not 0.5 and not 0.6).
    assert abs(float(wave.abs().max()) - 0.3) < 0.01
    # Same 440 Hz tone after resampling: compare the interior with an ideal 16 kHz sine.
    expected = _sine(24000, 16000, 440.0, 0.3)
    assert np.abs(wave.numpy()[200:-200] - expected[200:-200]).max() < 2e-3


def test_load_non_integer_ratio_length_is_ceil(tmp_path):
    sr, n = 22050, 22051
    path = tmp_path / "odd.wav"
    sf.write(path, _sine(n, sr, 200.0, 0.2), sr, subtype="PCM_16")
    assert audio.load(path).shape[0] == -(-n * 16000 // sr)  # ceil(n * 16000 / 22050) = 16001


def test_load_scales_int16_pcm_exactly(tmp_path):
    pcm = np.array([0, 16384, -16384, 32767, -32768, 1], dtype=np.int16)
    path = tmp_path / "pcm.flac"
    sf.write(path, pcm, 16000, subtype="PCM_16")
    wave = audio.load(path)  # 16 kHz FLAC: no resampling, only int16 / 32768
    torch.testing.assert_close(wave, torch.from_numpy(pcm.astype(np.float32) / 32768.0), rtol=0, atol=0)


def test_load_to_other_rate(tmp_path):
    path = tmp_path / "a.flac"
    sf.write(path, _sine(16000, 16000, 300.0, 0.4), 16000, subtype="PCM_16")
    assert audio.load(path, sampling_rate=8000).shape == (8000,)


def test_load_errors(tmp_path):
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF this is not really audio" * 10)
    with pytest.raises(ValueError, match=r"corrupt\.wav"):
        audio.load(bad)
    with pytest.raises(FileNotFoundError, match=r"missing\.wav"):
        audio.load(tmp_path / "missing.wav")
    with pytest.raises(ValueError, match="directory"):
        audio.load(tmp_path)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.0, np.nan, 0.1], dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(ValueError, match="NaN"):
        audio.load(nan)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000, subtype="PCM_16")
    with pytest.raises(ValueError, match="no samples"):
        audio.load(empty)
    with pytest.raises(ValueError, match="positive"):
        audio.load(audio.default_clip_path(), sampling_rate=0)
    with pytest.raises(TypeError):
        audio.load(audio.default_clip_path(), sampling_rate=16000.0)
    with pytest.raises(TypeError):
        audio.load(123)


def test_default_clip_asset():
    path = audio.default_clip_path()
    assert path.exists() and path.stat().st_size < 200 * 1024
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    wave = audio.load_default()
    assert 2.0 <= wave.shape[0] / audio.SAMPLING_RATE <= 5.0
    assert 0.1 < float(wave.abs().max()) <= 1.0  # real speech, not silence


def test_pad_batch_shapes_and_mask():
    waves = [torch.ones(5), np.full(3, 0.5, dtype=np.float64), torch.full((7,), -1.0)]
    batch = audio.pad_batch(waves)
    assert batch.input_values.shape == (3, 7) and batch.input_values.dtype == torch.float32
    assert batch.attention_mask.dtype == torch.long and batch.sample_lengths.tolist() == [5, 3, 7]
    assert batch.attention_mask.sum(1).tolist() == [5, 3, 7]
    assert batch.attention_mask[1].tolist() == [1, 1, 1, 0, 0, 0, 0]
    assert batch.input_values[0].tolist() == [1.0] * 5 + [0.0, 0.0]
    assert batch.input_values[1, :3].tolist() == [0.5] * 3 and batch.input_values[1, 3:].abs().sum() == 0


def test_pad_batch_errors():
    with pytest.raises(ValueError, match="empty list"):
        audio.pad_batch([])
    with pytest.raises(ValueError, match="1-D"):
        audio.pad_batch([torch.zeros(4), torch.zeros(2, 4)])
    with pytest.raises(ValueError, match="waveform 1 is empty"):
        audio.pad_batch([torch.zeros(4), torch.zeros(0)])
    with pytest.raises(TypeError, match="integer dtype"):
        audio.pad_batch([np.zeros(4, dtype=np.int16)])
    with pytest.raises(TypeError, match="list"):
        audio.pad_batch(torch.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        audio.pad_batch([torch.tensor([0.0, float("nan")])])


def test_normalize_matches_transformers_feature_extractor():
    from transformers import Wav2Vec2FeatureExtractor

    rng = np.random.default_rng(0)
    specs = [(800, 0.3, 0.1), (500, 2.0, -1.0), (1234, 0.01, 0.0)]  # (length, std, mean)
    clips = [(rng.standard_normal(n) * s + m).astype(np.float32) for n, s, m in specs]
    fe = Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)
    ref = fe(clips, sampling_rate=16000, padding=True, return_tensors="np")

    batch = audio.pad_batch(clips)
    ours = audio.normalize(batch.input_values, batch.sample_lengths)
    assert ours.dtype == torch.float32
    np.testing.assert_array_equal(batch.attention_mask.numpy(), ref["attention_mask"])
    np.testing.assert_allclose(ours.numpy(), ref["input_values"], atol=1e-5, rtol=0)
    assert ours[1, 500:].abs().sum() == 0  # padding stays exactly zero
    valid = ours[1, :500].double()
    assert abs(valid.mean().item()) < 1e-6 and abs(valid.std(unbiased=False).item() - 1) < 1e-5


def test_normalize_ignores_padding_content_and_defaults_to_full_length():
    x = torch.randn(2, 50, generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([30, 50])
    garbage = x.clone()
    garbage[0, 30:] = 1e3  # whatever sits in the padding must not change the statistics
    torch.testing.assert_close(audio.normalize(x, lengths), audio.normalize(garbage, lengths))
    torch.testing.assert_close(audio.normalize(x), audio.normalize(x, torch.tensor([50, 50])))


def test_normalize_errors():
    x = torch.zeros(2, 10)
    with pytest.raises(ValueError, match=r"\(B, L\)"):
        audio.normalize(torch.zeros(10), torch.tensor([10]))
    with pytest.raises(ValueError, match="shape"):
        audio.normalize(x, torch.tensor([10]))
    with pytest.raises(ValueError, match=r"\[1, 10\]"):
        audio.normalize(x, torch.tensor([0, 10]))
    with pytest.raises(TypeError):
        audio.normalize(x, torch.tensor([5.0, 10.0]))
    with pytest.raises(TypeError):
        audio.normalize(torch.zeros(2, 10, dtype=torch.long), torch.tensor([5, 10]))
