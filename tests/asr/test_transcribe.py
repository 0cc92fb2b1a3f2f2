"""Transcription with the committed CTC checkpoint: a new 22.05 kHz stereo espeak-ng recording, frame
timestamps from the receptive field, the CLI parser, and bad input.

tests/data/four_seven_two_22k_stereo.wav was made once with
`espeak-ng -v en-us+f2 -s 150 -p 55 "four seven two"` (22 050 Hz), trimmed, and written as 16-bit stereo
(left = speech, right = 0.6 x speech). en-us+f2 is one of the corpus' held-out voices, and this phrase is
not in the corpus.
"""

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from w2v_lite.asr.metrics import cer, wer
from w2v_lite.asr.pretrained import DEFAULT_MODEL_DIR
from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.asr.transcribe import add_transcribe_parser, format_frames
from w2v_lite.cli import main
from w2v_lite.data.audio import corpus_items, load
from w2v_lite.data.dataset import AudioFolder
from w2v_lite.lengths import output_lengths, receptive_field
from w2v_lite.model.ctc import Wav2Vec2ForCTC
from w2v_lite.teach.long_audio import gapped_clip
from w2v_lite.train.ctc import evaluate_ctc

CLIP = Path(__file__).resolve().parents[1] / "assets" / "four_seven_two_22k_stereo.wav"
TEXT = "four seven two"


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    return Recognizer.load(DEFAULT_MODEL_DIR)


def test_fixture_is_22k_stereo():
    info = sf.info(CLIP)
    assert (info.samplerate, info.channels) == (22050, 2)


def test_transcribes_new_recording(rec):
    (result,) = rec.transcribe([CLIP])
    assert result.text == TEXT and result.path == str(CLIP)
    assert result.num_samples == load(CLIP).numel()  # resampled to 16 kHz, channels mixed
    assert result.num_frames == output_lengths(result.num_samples) == len(result.frames)


def test_frames_have_times_from_the_hop(rec):
    result = rec.transcribe(CLIP)
    window, hop = receptive_field(rec.config)
    assert (window, hop) == (400, 320)  # 25 ms windows every 20 ms at 16 kHz
    steps = result.frames
    assert len(steps) == result.num_frames
    assert [s.start_ms for s in steps[:3]] == [0.0, 20.0, 40.0]
    assert steps[-1].start_ms == pytest.approx((result.num_frames - 1) * 20.0)
    assert all(s.end_ms - s.start_ms == pytest.approx(25.0) for s in steps)
    # collapsing the per-frame tokens gives the text back
    assert rec.tokenizer.decode([s.token_id for s in steps]) == result.text
    table = format_frames(steps).splitlines()
    assert table[0].split() == ["frame", "start", "ms", "end", "ms", "token"]
    assert table[2].split()[:3] == ["1", "20", "45"]


def test_timestamps_follow_the_config(tmp_path, rec):
    """A checkpoint with a different stack reports a different hop: nothing is hard-coded to 20 ms."""
    model, tok = rec.model, rec.tokenizer
    torch.manual_seed(0)
    # last layer: kernel 3, stride 1 -> 560-sample windows (35 ms) every 160 samples (10 ms)
    other = Wav2Vec2ForCTC(model.config.replace(conv_kernel=(10, 3, 3, 3, 3, 2, 3), conv_stride=(5, 2, 2, 2, 2, 2, 1)))
    other.save_pretrained(tmp_path, tokenizer=tok)
    result = Recognizer.load(tmp_path).transcribe(CLIP)
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


def test_clip_shorter_than_one_frame(tmp_path, rec):
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros((500, 2), dtype=np.float32), 22050)  # 500 samples at 22.05 kHz = 363 at 16 kHz
    with pytest.raises(ValueError, match=r"short.wav: the clip has 363 samples, fewer than the 400"):
        rec.transcribe([CLIP, short])
    with pytest.raises(ValueError, match=r"^the clip has 399 samples, fewer than the 400 \(25 ms\) one frame"):
        rec.transcribe(torch.zeros(399))
    with pytest.raises(ValueError, match=r"^waveform 1: the clip has 399 samples"):
        rec.transcribe([torch.zeros(16000), torch.zeros(399)])


def test_folder_without_vocab(tmp_path):
    for name in ("config.json", "model.safetensors"):
        shutil.copy(DEFAULT_MODEL_DIR / name, tmp_path / name)
    with pytest.raises(ValueError, match=r"no vocab\.json"):
        Recognizer.load(tmp_path)


def test_no_files(rec):
    with pytest.raises(ValueError, match="no audio files"):
        rec.transcribe([])


@pytest.mark.slow
def test_committed_checkpoint_cer_on_held_out_voices():
    """The committed checkpoint reproduces the CER recorded in benchmarks/README.md (issue 19: not worse than
    the espeak-only model's 7 edits): 6 character edits in the 630 reference characters of the 60 held-out
    clips, 2 of 143 words."""
    items = corpus_items("test")
    refs = [text for _, text in items]
    hyps = [r.text for r in Recognizer.load(DEFAULT_MODEL_DIR).transcribe([path for path, _ in items])]
    assert (len(items), sum(map(len, refs)), sum(len(r.split()) for r in refs)) == (60, 630, 143)
    assert cer(refs, hyps) == pytest.approx(6 / 630) and cer(refs, hyps) <= 7 / 630
    assert wer(refs, hyps) == pytest.approx(2 / 143)


def test_committed_checkpoint_cer_on_the_out_of_corpus_set():
    """CER <= 6.8% (the espeak-only model's) on voices, texts, speeds and rates no training clip has
    (w2v_lite/assets/eval_set, made by scripts/make_eval_set.py): 92 edits in 1373 characters, 56 of 305
    words, as in benchmarks/README.md."""
    folder = Path(__file__).resolve().parents[2] / "w2v_lite" / "assets" / "eval_set"
    clips = AudioFolder(folder).clips
    rec = Recognizer.load(DEFAULT_MODEL_DIR)
    scores = evaluate_ctc(rec.model, rec.tokenizer, clips)
    assert (len(clips), sum(len(c.text) for c in clips), sum(len(c.text.split()) for c in clips)) == (96, 1373, 305)
    assert scores["cer"] == pytest.approx(92 / 1373) and scores["cer"] <= 93 / 1373
    assert scores["wer"] == pytest.approx(56 / 305)


def test_committed_checkpoint_hears_other_synthesisers():
    """Issue 19's sentence, "two nine three four zero", spoken by Debian's seven other voices (flite kal,
    kal16, awb, rms, slt; festival kal_diphone, cmu_us_slt_arctic_hts; tests/assets/seven_voices, made with
    scripts/engines.py). The espeak-only model read them as "s e nine tgo do ot", "hhree ro thee tho se", ...
    (57% CER); this one makes 2 character edits in 168."""
    folder = Path(__file__).resolve().parents[1] / "assets" / "seven_voices"
    clips = AudioFolder(folder).clips
    rec = Recognizer.load(DEFAULT_MODEL_DIR)
    refs, hyps = [c.text or "" for c in clips], [r.text for r in rec.transcribe([c.waveform for c in clips])]
    assert len(clips) == 7 and set(refs) == {"two nine three four zero"}
    assert cer(refs, hyps) == pytest.approx(2 / 168)
    assert sum(h == r for h, r in zip(hyps, refs, strict=True)) == 5


# ---- many files, timestamps, JSON, the model's own rate, the align command --------------------------------



def test_many_files_one_bad_keeps_going(tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    missing = tmp_path / "missing.wav"
    code = main(["transcribe", str(CLIP), str(bad), str(missing), str(CLIP), "--json"])
    captured = capsys.readouterr()
    assert code == 2  # non-zero at the end
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [d["text"] for d in lines] == [TEXT, TEXT]  # both good files transcribed, in order
    errors = captured.err.splitlines()
    assert errors[0].startswith("error: ") and str(bad) in errors[0] and "cannot decode audio file" in errors[0]
    assert errors[1].startswith("error: audio file not found: ") and str(missing) in errors[1]
    assert errors[2] == "error: 2 of 4 files could not be transcribed (see the lines above)"
    assert "Traceback" not in captured.err


def test_missing_single_file_is_one_line(tmp_path, capsys):
    assert main(["transcribe", str(tmp_path / "nope.wav")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: ") and "audio file not found" in err[0] and len(err) == 1


def test_api_keeps_errors_when_asked(tmp_path, rec):
    results = rec.transcribe([tmp_path / "nope.wav", CLIP], on_error="keep")
    assert results[0].error.startswith("audio file not found") and results[0].text == ""
    assert results[1].text == TEXT and results[1].error is None
    with pytest.raises(FileNotFoundError, match=r"nope\.wav"):
        rec.transcribe([CLIP, tmp_path / "nope.wav"])


def test_other_input_is_a_type_error(rec):
    with pytest.raises(TypeError, match=r"waveform tensor \(L,\), an audio file path or a list of them, got int"):
        rec.transcribe(3)
    with pytest.raises(TypeError, match=r"got ndarray"):
        rec.transcribe([CLIP, np.zeros(16000)])


def test_batched_equals_one_at_a_time(monkeypatch, rec):
    """ctc-tiny ignores padding (mask-aware GroupNorm + mask), so length-sorted batches give the same text."""
    files = [p for p, _ in corpus_items("test")[:12]]
    calls = []
    real = rec._batch_emissions
    monkeypatch.setattr(rec, "_batch_emissions", lambda waves: calls.append(len(waves)) or real(waves))
    batched = rec.transcribe(files)
    assert sum(calls) == 12 and len(calls) < 12  # really in padded batches
    durations = [load(f).numel() for f in files]
    assert max(durations) * max(calls) <= 60 * 16000 * 1.01  # at most 60 s of padded audio per batch
    calls.clear()
    single = rec.transcribe(files, batched=False)
    assert calls == []  # one at a time
    assert [r.path for r in batched] == [str(f) for f in files]  # results in the given order
    assert [r.text for r in batched] == [r.text for r in single]
    assert [r.num_frames for r in batched] == [output_lengths(load(f).numel()) for f in files]


def test_timestamps_and_json(capsys, rec):
    assert main(["transcribe", str(CLIP), "--timestamps"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{CLIP}\t{TEXT}" and out[1].split() == ["start", "s", "end", "s", "word"]
    rows = [line.split() for line in out[2:]]
    assert [r[2] for r in rows] == TEXT.split()
    result = rec.transcribe(CLIP)
    for w in result.words:  # a word spans its letters' frames: times are frame * 20 ms
        assert w.start == pytest.approx(0.02 * w.start_frame) and w.end == pytest.approx(0.02 * w.end_frame)
        ids = [s.token_id for s in result.frames]
        assert rec.tokenizer.decode(ids[w.start_frame:w.end_frame]) == w.word  # the span spells the word
        assert ids[w.start_frame] != ids[w.start_frame - 1]  # and starts where its first letter does
    assert main(["transcribe", str(CLIP), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record == {"file": str(CLIP), "text": TEXT, "words": [w.as_dict() for w in result.words]}


def test_frames_follow_the_models_own_rate(tmp_path, rec):
    """A checkpoint trained at 8 kHz: files are resampled to 8 kHz, so a frame (320 samples) is 40 ms, and a
    1 s file has output_lengths(8000) frames whose times stay inside the file (not doubled)."""
    model, tok = rec.model, rec.tokenizer
    Wav2Vec2ForCTC(model.config.replace(sampling_rate=8000)).save_pretrained(tmp_path / "ckpt", tokenizer=tok)
    one_second = tmp_path / "one.wav"
    sf.write(one_second, 0.1 * np.random.default_rng(0).standard_normal(16000).astype(np.float32), 16000)
    result = Recognizer.load(tmp_path / "ckpt").transcribe(one_second)
    assert result.num_samples == 8000 and result.num_frames == output_lengths(8000) == 24
    assert [s.start_ms for s in result.frames[:2]] == [0.0, 40.0]
    assert result.frames[-1].end_ms <= 1000.0


def test_long_clip_is_chunked_automatically(tmp_path, rec):
    """A 44 s file (above the 40 s threshold) is encoded in 20 s windows: all its frames, and nearly the text
    of one window over the whole clip (= the full pass; ctc-tiny, trained on short clips, is poor on long
    silences either way)."""
    clip = gapped_clip(words=12, gap_seconds=3.0)
    assert clip.audio.numel() > 40 * 16000
    sf.write(tmp_path / "long.wav", clip.audio.numpy(), 16000, subtype="FLOAT")
    result = rec.transcribe(tmp_path / "long.wav")
    assert result.num_frames == output_lengths(clip.audio.numel())
    full = rec.transcribe(tmp_path / "long.wav", chunk_seconds=60.0)
    assert result.text != "" and cer(full.text, result.text) <= 0.2
    windows = rec.transcribe(CLIP, chunk_seconds=2.0)
    assert windows.num_frames == rec.transcribe(CLIP).num_frames
    with pytest.raises(ValueError, match=r"chunk_seconds must be at least 2 s"):  # windows without context
        rec.transcribe(CLIP, chunk_seconds=0.5)


def test_align_command(capsys, tmp_path):
    clip = gapped_clip(words=3, gap_seconds=0.3)
    sf.write(tmp_path / "three.wav", clip.audio.numpy(), 16000, subtype="FLOAT")
    assert main(["align", str(tmp_path / "three.wav"), clip.transcript, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["text"] == clip.transcript and [w["word"] for w in record["words"]] == clip.words
    assert all(abs(w["start"] - s) <= 0.1 for w, s in zip(record["words"], clip.starts))
    assert main(["align", str(tmp_path / "three.wav"), "one two three " * 20]) == 2  # too many letters
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "needs at least" in err and len(err.splitlines()) == 1
    assert main(["align", str(tmp_path / "three.wav"), "one 2"]) == 2
    assert "characters ['2'] are not in the model's vocabulary" in capsys.readouterr().err
    assert main(["align", str(tmp_path / "nope.wav"), "one"]) == 2
