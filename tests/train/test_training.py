"""The shared training loop and `w2v-lite train pretrain`: learning, exact resume, bad data, DDP."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from w2v_lite import audio
from w2v_lite.cli import build_parser
from w2v_lite.cli import main as cli_main
from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data.dataset import AudioFolder, Clip
from w2v_lite.model.pretraining import Wav2Vec2ForPreTraining
from w2v_lite.model.quantizer import gumbel_temperature
from w2v_lite.train.loop import STATE_FILE, TrainArgs, train, warmup_linear_decay
from w2v_lite.train.pretrain import PretrainTask, masked_prediction_metrics


def main(argv: list[str]) -> int:
    return cli_main(["train", *argv])

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: one torch thread per test


def _args(data, out, **kw):
    return TrainArgs(**{"data": data, "out": out, "steps": 4, "batch_seconds": 2.0, "lr": 2e-3,
                        "progress": False, **kw})


@pytest.mark.slow
def test_tiny_pretraining_loss_falls(tmp_path, corpus_subset, tiny_config):
    data = corpus_subset(tmp_path / "data", 8)
    task = PretrainTask(temp_decay=0.99)
    steps, lr = 100, 3e-3  # ~15 s on one core; 30 steps only sometimes get below chance
    rows = train(task, tiny_config, _args(data, tmp_path / "out", steps=steps, batch_seconds=3.0, lr=lr))
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    first = sum(r["loss"] for r in rows[:6]) / 6
    last = sum(r["loss"] for r in rows[-6:]) / 6
    assert last < first - 0.1 and last < math.log(21), (first, last)  # below chance: log(K + 1), K = 20
    # what each log row holds, and the schedules behind it
    warmup = steps // 10  # the default warm-up: 10% of the steps
    factor = warmup_linear_decay(warmup, steps)
    for i, row in enumerate(rows):
        assert math.isfinite(row["loss"]) and row["padded_fraction"] < 1 and row["masked_frames"] >= 2
        assert row["loss"] == pytest.approx(row["contrastive_loss"] + 0.1 * row["diversity_loss"], rel=1e-5)
        assert 0 < row["perplexity"] <= 64
        correct = row["accuracy"] * row["masked_frames"]  # accuracy is a share of this batch's masked frames
        assert correct == pytest.approx(round(correct), abs=1e-4)
        assert row["lr"] == pytest.approx(lr * factor(i)) and row["temperature"] == gumbel_temperature(i, 2.0,
                                                                                                         0.5, 0.99)
    assert rows[warmup - 1]["lr"] == pytest.approx(lr) and rows[-1]["lr"] == pytest.approx(lr / (steps - warmup))
    logged = [json.loads(line) for line in (tmp_path / "out" / "log.jsonl").read_text().splitlines()]
    assert logged == rows
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "config.json", "model.safetensors", f"checkpoint-{steps:06d}", "log.jsonl"}
    assert {p.name for p in (tmp_path / "out" / f"checkpoint-{steps:06d}").iterdir()} == {
        "config.json", "model.safetensors", STATE_FILE, "trainer_state.json"}


def test_resume_is_exact(tmp_path, corpus_subset, tiny_config):
    """4 steps in one go == 2 steps, stop, --resume, 2 more (crops, epochs, masks, dropout included)."""
    data = corpus_subset(tmp_path / "data", 6)
    cfg = tiny_config
    kw = dict(max_seconds=0.8, seed=3)
    full = train(PretrainTask(), cfg, _args(data, tmp_path / "full", **kw))
    half = train(PretrainTask(), cfg, _args(data, tmp_path / "split", stop_at=2, **kw))
    assert len(half) == 2 and not (tmp_path / "split" / "eval.json").exists()
    with pytest.raises(ValueError, match="--resume"):  # refuses to overwrite a checkpoint
        train(PretrainTask(), cfg, _args(data, tmp_path / "split", **kw))
    resumed = train(PretrainTask(), cfg, _args(data, tmp_path / "split", resume=True, **kw))
    assert max(r["epoch"] for r in full) >= 1  # the run crosses an epoch boundary
    a, b = load_file(tmp_path / "full" / "model.safetensors"), load_file(tmp_path / "split" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    drop = ("seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in full] == \
           [{k: v for k, v in r.items() if k not in drop} for r in resumed]
    state = torch.load(tmp_path / "split" / "checkpoint-000004" / STATE_FILE, weights_only=True)
    assert state["step"] == 4 and len(state["rng"]) == 1


def test_resume_without_checkpoint_errors(tmp_path, corpus_subset, tiny_config):
    data = corpus_subset(tmp_path / "data", 2)
    with pytest.raises(ValueError, match="no checkpoint-N folder"):
        train(PretrainTask(), tiny_config, _args(data, tmp_path / "out", resume=True))


def test_feature_grad_mult_zero_freezes_conv_stack(tmp_path, corpus_subset, tiny_config):
    data = corpus_subset(tmp_path / "data", 3)
    cfg = tiny_config
    train(PretrainTask(), cfg, _args(data, tmp_path / "out", steps=2, feature_grad_mult=0.0))
    torch.manual_seed(0)  # train() seeds before building, so this is the same initial model
    init = PretrainTask().build_model(cfg, None).state_dict()
    after = load_file(tmp_path / "out" / "model.safetensors")
    conv = [k for k in after if k.startswith("wav2vec2.feature_extractor.")]
    assert conv and all(torch.equal(after[k], init[k]) for k in conv)
    assert not torch.equal(after["project_hid.weight"], init["project_hid.weight"])


def test_empty_data_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no audio files"):
        AudioFolder(tmp_path / "empty")
    assert main(["pretrain", "--config", "tiny", "--data", str(tmp_path / "empty"), "--steps", "1",
                 "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    assert "holds no audio files" in capsys.readouterr().err


def test_unreadable_file_is_reported_by_name_and_skipped(tmp_path, corpus_subset):
    data = corpus_subset(tmp_path / "data", 2)
    (data / "broken_clip.wav").write_bytes(b"RIFF\x00\x00not really a wave file")
    sf.write(data / "too_short.wav", np.full(100, 0.1), 16000)  # valid, but shorter than one frame
    with pytest.warns(UserWarning, match="skipping audio file") as caught:
        folder = AudioFolder(data, min_samples=400)
    assert [str(w.message).split(":")[0] for w in caught] == [
        "skipping audio file broken_clip.wav", "skipping audio file too_short.wav"]
    assert [p.name for p, _ in folder.skipped] == ["broken_clip.wav", "too_short.wav"]
    assert "unreadable" in folder.skipped[0][1] and "100 samples, fewer than the 400" in folder.skipped[1][1]
    assert len(folder) == 2 and folder.clips[0].text == audio.corpus_items("train")[0][1]
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    shutil.copy(data / "broken_clip.wav", only_bad)
    with pytest.warns(UserWarning, match=r"broken_clip\.wav"), pytest.raises(ValueError, match="no usable clip"):
        AudioFolder(only_bad)


def test_crop_is_reproducible(tmp_path, corpus_subset):
    data = corpus_subset(tmp_path / "data", 3)
    folder = AudioFolder(data, max_seconds=0.5)
    assert folder.sample_lengths == [min(c.waveform.numel(), 8000) for c in folder.clips]
    long = max(range(3), key=lambda i: folder.clips[i].waveform.numel())
    a, b, c = folder.clip(long, 0, 0), folder.clip(long, 0, 0), folder.clip(long, 1, 0)
    assert a.waveform.numel() == 8000 and torch.equal(a.waveform, b.waveform)
    assert not torch.equal(a.waveform, c.waveform)  # a new epoch draws a new offset


def test_train_subcommands_share_flags_and_keep_their_own_defaults():
    ctc = build_parser().parse_args(["train", "ctc", "--data", "d", "--out", "o", "--steps", "3", "--init", "scratch"])
    assert ctc.objective == "ctc" and ctc.lr == 3e-3 and ctc.feature_grad_mult == 1.0 and ctc.batch_seconds == 16.0
    pre = build_parser().parse_args(["train", "pretrain", "--data", "d", "--out", "o", "--steps", "3", "--resume"])
    assert pre.resume and pre.feature_grad_mult == 0.1 and pre.temp_decay == 0.999995 and pre.lr == 5e-4


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path, corpus_subset):
    """`torchrun --nproc_per_node=2`: gloo DDP, ranks share the batches, only rank 0 writes; a run stopped at
    step 2 and resumed under torchrun equals the uninterrupted one (both ranks' RNG are in the checkpoint)."""
    data = corpus_subset(tmp_path / "data", 8)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}

    def torchrun(out, *extra):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "w2v_lite", "train", "pretrain", "--config", "tiny", "--data", str(data), "--out", str(out),
               "--steps", "3", "--batch-seconds", "2", "--no-progress", *extra]
        proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]

    out, split = tmp_path / "out", tmp_path / "split"
    torchrun(out)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-000003", "config.json", "log.jsonl",
                                                     "model.safetensors"]
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]  # one line per step: rank 1 wrote nothing
    assert all(math.isfinite(r["loss"]) and r["loss"] > 0 for r in rows)
    info = json.loads((out / "checkpoint-000003" / "trainer_state.json").read_text())
    assert info["world_size"] == 2 and info["step"] == 3
    state = torch.load(out / "checkpoint-000003" / STATE_FILE, weights_only=True)
    assert len(state["rng"]) == 2  # both ranks' RNG for --resume
    torchrun(split, "--stop-at", "2")
    torchrun(split, "--resume")
    a, b = load_file(out / "model.safetensors"), load_file(split / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    resumed = [json.loads(line) for line in (split / "log.jsonl").read_text().splitlines()]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed] == \
           [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_masked_prediction_metrics_same_masks_for_every_model():
    clips = [Clip(p, audio.load(p)) for p, _ in audio.corpus_items("test")[:6]]
    torch.manual_seed(1)
    a = Wav2Vec2ForPreTraining(Wav2Vec2Config.tiny())
    b = Wav2Vec2ForPreTraining(Wav2Vec2Config.tiny()).train()
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    ra, rb = masked_prediction_metrics(a, clips, batch_size=4), masked_prediction_metrics(b, clips)
    assert np.array_equal(np.random.get_state()[1], state) and b.training  # nothing disturbed
    assert ra["masked_frames"] == rb["masked_frames"] > 0
    assert 2 <= ra["perplexity"] <= 64 and ra["codes_used"] <= 64
    for r in (ra, rb):  # accuracy is the share of masked frames whose target beats every distractor
        correct = r["accuracy"] * r["masked_frames"]
        assert correct == pytest.approx(round(correct), abs=1e-6)
    assert ra != rb  # different weights, same frames


def test_masked_prediction_chance_counts_distinct_distractors():
    clips = [Clip(p, audio.load(p)) for p, _ in audio.corpus_items("test")[:4]]
    torch.manual_seed(2)
    model = Wav2Vec2ForPreTraining(Wav2Vec2Config.tiny())
    K = model.config.num_negatives
    r = masked_prediction_metrics(model, clips)
    assert 1 / (K + 1) < r["chance_accuracy"] < 1  # distractors repeat: fewer than K distinct competitors
    with torch.no_grad():  # every frame picks code 0 in both groups: all distractors equal the target
        model.quantizer.weight_proj.weight.zero_()
        model.quantizer.weight_proj.bias.zero_()
        model.quantizer.weight_proj.bias[0 :: model.config.num_codevectors_per_group] = 1.0
    same = masked_prediction_metrics(model, clips)
    assert same["identical_negatives"] == 1.0 and same["chance_accuracy"] == 1.0 and same["accuracy"] == 1.0
