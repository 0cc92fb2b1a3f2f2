"""`python -m w2v_lite explain`: every printed number comes from the model and output_lengths."""

import numpy as np
import soundfile as sf

from w2v_lite import audio, output_lengths
from w2v_lite.cli import main


def test_explain_default_clip_tiny(capsys):
    assert main(["explain", "--config", "tiny"]) == 0
    out = capsys.readouterr().out
    n = audio.load_default().numel()
    t = output_lengths(n)
    assert f"(1, {n})" in out
    assert f"(1, 64, {t})" in out  # tiny keeps 7 conv layers, 64 channels
    assert f"(1, {t}, 96)" in out  # projected to the tiny width
    assert f"= {t}" in out.splitlines()[-1]
    assert "window 400 samples = 25 ms, hop 320 = 20 ms" in out


def test_explain_seconds(capsys):
    assert main(["explain", "--seconds", "3", "--config", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "(1, 149, 96)" in out and "48000 samples" in out


def test_explain_stereo_file_other_rate(tmp_path, capsys):
    rate = 22050
    wave = 0.3 * np.sin(np.linspace(0, 2000, 2 * rate))
    sf.write(tmp_path / "s.wav", np.stack([wave, -wave], 1), rate, subtype="PCM_16")
    assert main(["explain", str(tmp_path / "s.wav"), "--config", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "(1, 32000)" in out and f"(1, {output_lengths(32000)}, 96)" in out


def test_explain_batch_prints_masks(tmp_path, capsys):
    for name, seconds in (("a", 1.0), ("b", 0.5)):
        sf.write(tmp_path / f"{name}.wav", np.zeros(int(seconds * 16000)) + 0.1, 16000)
    assert main(["explain", "--config", "tiny", "--batch", str(tmp_path / "a.wav"), str(tmp_path / "b.wav")]) == 0
    out = capsys.readouterr().out
    assert "49 of 49 frames valid" in out and "24 of 49 frames valid" in out
    assert "#" * 24 + "." * 25 in out


def test_explain_errors(tmp_path, capsys):
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    assert main(["explain", str(tmp_path / "bad.wav")]) == 2
    assert "bad.wav" in capsys.readouterr().err
    assert main(["explain", "--seconds", "0.01", "--config", "tiny"]) == 2
    assert "fewer than one frame" in capsys.readouterr().err
