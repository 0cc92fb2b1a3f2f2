"""`python -m w2v_lite train ctc`: vocab.json, init from scratch / pretrained / CTC checkpoints, freezing
the conv stack for the first steps, held-out CER/WER, bad arguments, and torchrun."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from w2v_lite import audio
from w2v_lite.asr.decoding import greedy_decode
from w2v_lite.asr.metrics import cer, wer
from w2v_lite.asr.pretrained import DEFAULT_MODEL_DIR
from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.cli import build_parser
from w2v_lite.cli import main as cli_main
from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data.augment import Augment
from w2v_lite.data.dataset import AudioFolder
from w2v_lite.data.tokenizer import CharTokenizer
from w2v_lite.model.ctc import Wav2Vec2ForCTC
from w2v_lite.model.pretraining import Wav2Vec2ForPreTraining
from w2v_lite.train.ctc import CTC_DEFAULTS, CTCTask, evaluate_ctc, make_task
from w2v_lite.train.loop import TrainArgs, seed_everything, train

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, corpus_subset):
    """6 training clips and 3 held-out ones, in `train/` and `test/` folders side by side."""
    root = tmp_path_factory.mktemp("corpus")
    return corpus_subset(root / "train", 6), corpus_subset(root / "test", 3, split="test")


def _cli(data, out, *extra):
    return cli_main(["train", "ctc", "--data", str(data), "--out", str(out), "--steps", "3", "--batch-seconds", "2",
                 "--no-progress", *extra])


def test_cli_from_scratch_writes_a_usable_checkpoint(corpus, tmp_path):
    train_dir, _ = corpus
    out = tmp_path / "run"
    assert _cli(train_dir, out, "--init", "scratch", "--freeze-steps", "2", "--eval-every", "2") == 0
    # the eval folder defaults to the "test" folder next to --data
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "vocab.json", "eval.json", "log.jsonl"} <= names
    texts = [t for _, t in audio.corpus_items("train")[:6]]
    tok = CharTokenizer.load(out)
    assert tok.vocab == CharTokenizer.from_transcripts(texts).vocab
    config = Wav2Vec2Config.load(out / "config.json")
    assert config.vocab_size == tok.vocab_size and config.hidden_size == Wav2Vec2Config.tiny().hidden_size
    for key, value in CTC_DEFAULTS.items():
        assert getattr(config, key) == value, key
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["conv_frozen"] for r in rows] == [1.0, 1.0, 0.0]
    assert "eval_cer" in rows[2] and "eval_cer" not in rows[1]  # --eval-every 2: before step 3
    result = json.loads((out / "eval.json").read_text())
    assert all(math.isfinite(r["loss"]) for r in rows)
    rec = Recognizer.load(out)
    assert rec.model.lm_head.out_features == rec.tokenizer.vocab_size
    # eval.json scores the saved model on the 3 held-out clips: decode them again and compare
    held_out = AudioFolder(corpus[1]).clips
    refs = [c.text for c in held_out]
    hyps = [rec.transcribe(c.waveform).text for c in held_out]
    assert result["clips"] == 3 == len(refs)
    assert result["cer"] == pytest.approx(cer(refs, hyps)) and result["wer"] == pytest.approx(wer(refs, hyps))


def test_conv_stack_is_frozen_for_the_first_steps(corpus, tmp_path):
    train_dir, _ = corpus
    tok = CharTokenizer.from_transcripts(t for _, t in audio.corpus_items("train")[:6])
    cfg = Wav2Vec2Config.tiny(mask_time_prob=0.0)
    args = TrainArgs(data=train_dir, out=tmp_path / "run", steps=2, batch_seconds=2.0, progress=False)
    seed_everything(args.seed)
    start = CTCTask(tok).build_model(cfg, None)  # the same init `train` draws
    train(CTCTask(tok, freeze_steps=2), cfg, args)
    end = Wav2Vec2ForCTC.from_pretrained(tmp_path / "run")
    before, after = start.state_dict(), end.state_dict()
    conv = [k for k in before if k.startswith("wav2vec2.feature_extractor.")]
    assert conv and all(torch.equal(before[k], after[k]) for k in conv)
    assert not torch.equal(before["lm_head.weight"], after["lm_head.weight"])
    assert not torch.equal(before["wav2vec2.feature_projection.projection.weight"],
                           after["wav2vec2.feature_projection.projection.weight"])


def test_init_from_pretraining_checkpoint_keeps_encoder(corpus, tmp_path):
    torch.manual_seed(0)
    pre = Wav2Vec2ForPreTraining(Wav2Vec2Config.tiny())
    pre.save_pretrained(tmp_path / "pre")
    tok = CharTokenizer.from_transcripts(["one two"])
    for overrides in ({}, {"mask_time_prob": 0.0}):  # with or without a mask embedding
        cfg = pre.config.replace(**overrides)
        model = CTCTask(tok).build_model(cfg, tmp_path / "pre")
        assert model.lm_head.out_features == tok.vocab_size
        for key, value in model.wav2vec2.state_dict().items():
            if key != "masked_spec_embed":
                assert torch.equal(value, pre.wav2vec2.state_dict()[key]), key
        assert ("masked_spec_embed" in model.wav2vec2.state_dict()) == (cfg.mask_time_prob > 0)


def test_init_from_ctc_checkpoint_continues_it(tmp_path):
    rec = Recognizer.load(DEFAULT_MODEL_DIR)
    model, tok = rec.model, rec.tokenizer
    again = CTCTask(tok).build_model(model.config, DEFAULT_MODEL_DIR)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in again.state_dict().items())
    other = CharTokenizer.from_transcripts(["abc"])
    with pytest.raises(ValueError, match="differs from the vocabulary"):
        CTCTask(other).build_model(model.config.replace(vocab_size=other.vocab_size), DEFAULT_MODEL_DIR)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "--init scratch"),
        (("--init", "no/such/dir"), "no such checkpoint folder"),
        (("--init", "scratch", "--max-seconds", "1"), "breaks their transcripts"),
        (("--init", "scratch", "--freeze-steps", "-1"), ">= 0"),
    ],
)
def test_bad_arguments(corpus, tmp_path, extra, message, capsys):
    assert _cli(corpus[0], tmp_path / "run", *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_clip_without_transcript(tmp_path, corpus_subset):
    tok = CharTokenizer.from_transcripts(["one"])
    folder = corpus_subset(tmp_path / "d", 1)
    (folder / "transcripts.tsv").write_text("")
    clips = AudioFolder(folder).clips
    with pytest.raises(ValueError, match="no transcript"):
        CTCTask(tok).make_batch(clips)


def test_evaluate_ctc_scores_greedy_transcripts():
    rec = Recognizer.load(DEFAULT_MODEL_DIR)
    model, tok = rec.model, rec.tokenizer
    clips = AudioFolder(audio.corpus_dir("test")).clips[:4]
    with torch.no_grad():  # by hand: each clip normalised on its own, argmax, collapse
        hyps = [greedy_decode(model(audio.normalize(c.waveform[None])).logits, tok)[0] for c in clips]
    result = evaluate_ctc(model, tok, clips)
    refs = [c.text for c in clips]
    assert result == {"cer": cer(refs, hyps), "wer": wer(refs, hyps), "clips": 4.0,
                      "exact": sum(r == h for r, h in zip(refs, hyps, strict=True)) / 4}


@pytest.mark.slow
def test_torchrun_two_processes_across_the_unfreeze(corpus, tmp_path):
    """Under DDP the conv stack is frozen, then unfrozen mid-run; the ranks stay in step."""
    train_dir, _ = corpus
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "w2v_lite", "train", "ctc", "--init", "scratch", "--data", str(train_dir), "--out", str(out),
           "--steps", "3", "--batch-seconds", "1.5", "--freeze-steps", "1", "--no-progress"]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["conv_frozen"] for r in rows] == [1.0, 0.0, 0.0]
    info = json.loads((out / "checkpoint-000003" / "trainer_state.json").read_text())
    assert (out / "vocab.json").is_file() and (out / "checkpoint-000003" / "vocab.json").is_file()
    assert info["world_size"] == 2


def test_augment_flag_reaches_the_task(corpus, tmp_path):
    base = ["train", "ctc", "--init", "scratch", "--data", str(corpus[0]), "--steps", "1"]
    on = make_task(build_parser().parse_args([*base, "--out", str(tmp_path / "a"), "--augment"]))
    off = make_task(build_parser().parse_args([*base, "--out", str(tmp_path / "b")]))
    wide = make_task(build_parser().parse_args([*base, "--out", str(tmp_path / "c"), "--augment", "wide"]))
    vocode = make_task(build_parser().parse_args([*base, "--out", str(tmp_path / "e"), "--augment", "vocode"]))
    assert on.augment == Augment() and off.augment is None
    assert wide.augment == Augment(p_formant=0.5, p_colour=0.3) and vocode.augment == Augment(p_vocode=0.5)
    # checkpoints record the recipe, so a resume cannot switch it; the default one as before the presets
    assert [t.exact_settings()["augment"] for t in (on, off, wide, vocode)] == [True, False, "wide", "vocode"]
    with pytest.raises(SystemExit):
        build_parser().parse_args([*base, "--out", str(tmp_path / "d"), "--augment", "loud"])
