"""Transcription with the committed CTC checkpoint: a new 22.05 kHz stereo espeak-ng recording, frame
timestamps from the receptive field, the CLI parser, and bad input.

tests/data/four_seven_two_22k_stereo.wav was made once with
`espeak-ng -v en-us+f2 -s 150 -p 55 "four seven two"` (22 050 Hz), trimmed, and written as 16-bit stereo
(left = speech, right = 0.6 x speech). en-us+f2 is one of the corpus' held-out voices, and this phrase is
not in the corpus.
"""

import argparse
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from w2v_lite.asr.decoding import load_for_inference, recognize
from w2v_lite.asr.metrics import cer, wer
from w2v_lite.asr.transcribe import DEFAULT_MODEL_DIR, add_transcribe_parser, format_frames, transcribe
from w2v_lite.data.audio import corpus_items, load
from w2v_lite.data.dataset import AudioFolder
from w2v_lite.lengths import output_lengths, receptive_field
from w2v_lite.model.ctc import Wav2Vec2ForCTC
from w2v_lite.train.ctc import evaluate_ctc

CLIP = Path(__file__).resolve().parents[1] / "assets" / "four_seven_two_22k_stereo.wav"
TEXT = "four seven two"


def test_fixture_is_22k_stereo():
    info = sf.info(CLIP)
    assert (info.samplerate, info.channels) == (22050, 2)


def test_transcribes_new_recording():
    (result,) = transcribe([CLIP], DEFAULT_MODEL_DIR)
    assert result.text == TEXT
    assert result.num_samples == load(CLIP).numel()  # resampled to 16 kHz, channels mixed
    assert result.num_frames == output_lengths(result.num_samples)
    assert result.frames is None


def test_frames_have_times_from_the_hop():
    (result,) = transcribe(CLIP, DEFAULT_MODEL_DIR, frames=True)
    window, hop = receptive_field(load_for_inference(DEFAULT_MODEL_DIR)[0].config)
    assert (window, hop) == (400, 320)  # 25 ms windows every 20 ms at 16 kHz
    steps = result.frames
    assert len(steps) == result.num_frames
    assert [s.start_ms for s in steps[:3]] == [0.0, 20.0, 40.0]
    assert steps[-1].start_ms == pytest.approx((result.num_frames - 1) * 20.0)
    assert all(s.end_ms - s.start_ms == pytest.approx(25.0) for s in steps)
    # collapsing the per-frame tokens gives the text back
    _, tok = load_for_inference(DEFAULT_MODEL_DIR)
    assert tok.decode([s.token_id for s in steps]) == result.text
    table = format_frames(steps).splitlines()
    assert table[0].split() == ["frame", "start", "ms", "end", "ms", "token"]
    assert table[2].split()[:3] == ["1", "20", "45"]


def test_timestamps_follow_the_config(tmp_path):
    """A checkpoint with a different stack reports a different hop: nothing is hard-coded to 20 ms."""
    model, tok = load_for_inference(DEFAULT_MODEL_DIR)
    torch.manual_seed(0)
    # last layer: kernel 3, stride 1 -> 560-sample windows (35 ms) every 160 samples (10 ms)
    other = Wav2Vec2ForCTC(model.config.replace(conv_kernel=(10, 3, 3, 3, 3, 2, 3), conv_stride=(5, 2, 2, 2, 2, 2, 1)))
    other.save_pretrained(tmp_path, tokenizer=tok)
    (result,) = transcribe(CLIP, tmp_path, frames=True)
    assert receptive_field(other.config) == (560, 160)
    assert [s.start_ms for s in result.frames[:3]] == [0.0, 10.0, 20.0]
    assert result.frames[0].end_ms == pytest.approx(35.0)
    assert result.num_frames == output_lengths(result.num_samples, other.config)


def test_cli_parser_and_output(capsys):
    parser = argparse.ArgumentParser()
    add_transcribe_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["transcribe", str(CLIP), "--frames"])
    assert args.model == DEFAULT_MODEL_DIR and args.frames
    args.func(args)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{CLIP}\t{TEXT}"
    assert out[1].split()[0] == "frame" and len(out) == 2 + output_lengths(load(CLIP).numel())


def test_clip_shorter_than_one_frame(tmp_path):
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros((500, 2), dtype=np.float32), 22050)  # 500 samples at 22.05 kHz = 363 at 16 kHz
    with pytest.raises(ValueError, match=r"short.wav: the clip has 363 samples, fewer than the 400"):
        transcribe([CLIP, short], DEFAULT_MODEL_DIR)
    model, tok = load_for_inference(DEFAULT_MODEL_DIR)
    with pytest.raises(ValueError, match="one frame"):
        recognize(model, tok, torch.zeros(399))


def test_folder_without_vocab(tmp_path):
    for name in ("config.json", "model.safetensors"):
        shutil.copy(DEFAULT_MODEL_DIR / name, tmp_path / name)
    with pytest.raises(ValueError, match=r"no vocab\.json"):
        transcribe([CLIP], tmp_path)


def test_no_files():
    with pytest.raises(ValueError, match="no audio files"):
        transcribe([], DEFAULT_MODEL_DIR)


@pytest.mark.slow
def test_committed_checkpoint_cer_on_held_out_voices():
    """The committed checkpoint reproduces the CER recorded in benchmarks/README.md (target <= 6%):
    7 character edits in the 630 reference characters of the 60 held-out clips, 7 of 143 words."""
    items = corpus_items("test")
    model, tok = load_for_inference(DEFAULT_MODEL_DIR)
    refs = [text for _, text in items]
    hyps = [recognize(model, tok, load(path))[0] for path, _ in items]
    assert (len(items), sum(map(len, refs)), sum(len(r.split()) for r in refs)) == (60, 630, 143)
    assert cer(refs, hyps) == pytest.approx(7 / 630) and cer(refs, hyps) <= 0.06
    assert wer(refs, hyps) == pytest.approx(7 / 143)


def test_committed_checkpoint_cer_on_the_out_of_corpus_set():
    """CER <= 10% on voices, texts, speeds and rates no training clip has (w2v_lite/assets/eval_set, made by
    scripts/make_eval_set.py): 93 edits in 1373 characters, 65 of 305 words, as in benchmarks/README.md."""
    folder = Path(__file__).resolve().parents[2] / "w2v_lite" / "assets" / "eval_set"
    clips = AudioFolder(folder).clips
    model, tok = load_for_inference(DEFAULT_MODEL_DIR)
    scores = evaluate_ctc(model, tok, clips)
    assert (len(clips), sum(len(c.text) for c in clips), sum(len(c.text.split()) for c in clips)) == (96, 1373, 305)
    assert scores["cer"] == pytest.approx(93 / 1373) and scores["cer"] <= 0.10
    assert scores["wer"] == pytest.approx(65 / 305)
