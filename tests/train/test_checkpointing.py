"""Training never loses data: atomic checkpoint folders, crash injection at every write, damaged files,
checks before writes, and the one-line errors of `w2v-lite train`."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import make_read_only, undo_read_only
from safetensors.torch import load_file

from w2v_lite import audio
from w2v_lite.asr.transcribe import DEFAULT_MODEL_DIR
from w2v_lite.cli import main as cli_main
from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data.dataset import AudioFolder
from w2v_lite.model.pretraining import Wav2Vec2ForPreTraining
from w2v_lite.train import checkpointing
from w2v_lite.train.checkpointing import CRASH_ENV, INFO_FILE, LOG_FILE, STATE_FILE
from w2v_lite.train.loop import TrainArgs, train
from w2v_lite.train.pretrain import PretrainTask

ROOT = Path(__file__).resolve().parents[2]
PRETRAINED = ROOT / "w2v_lite" / "assets" / "checkpoints" / "pretrained-tiny"
STEPS, SAVE_EVERY = 4, 2


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: one torch thread per test


def _data(folder: Path, n: int = 4) -> Path:
    folder.mkdir(parents=True)
    items = audio.corpus_items("train")[:n]
    for path, _ in items:
        shutil.copy(path, folder / path.name)
    (folder / "transcripts.tsv").write_text("".join(f"{p.name}\t{t}\n" for p, t in items))
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return _data(tmp_path_factory.mktemp("ckpt") / "data")


def _args(data, out, **kw):
    return TrainArgs(**{"data": data, "out": out, "steps": STEPS, "save_every": SAVE_EVERY, "batch_seconds": 2.0,
                        "max_seconds": 0.8, "lr": 2e-3, "seed": 5, "progress": False, **kw})


def _run(data, out, **kw):
    return train(PretrainTask(), Wav2Vec2Config.tiny(), _args(data, out, **kw))


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class _Crash(BaseException):
    """Raised by the crash hook: like a kill, nothing catches it and no cleanup of ours runs."""


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """An uninterrupted run, and the labels of every write point it passed."""
    out = tmp_path_factory.mktemp("ref") / "run"
    labels = []
    checkpointing.CRASH_HOOK = labels.append
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before `one_thread`: the same reductions as the tests
    try:
        rows = _run(data, out)
    finally:
        checkpointing.CRASH_HOOK = None
        torch.set_num_threads(threads)
    return out, rows, labels


def _assert_same_run(out: Path, rows: list[dict], reference) -> None:
    ref_out, ref_rows, _ = reference
    assert _strip(rows) == _strip(ref_rows)
    assert _strip([json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]) == _strip(ref_rows)
    for folder in (out, out / f"checkpoint-{STEPS:06d}"):
        a, b = load_file(ref_out / "model.safetensors"), load_file(folder / "model.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_folder_layout(reference):
    out, _, labels = reference
    assert sorted(p.name for p in out.iterdir()) == [f"checkpoint-{STEPS:06d}", "config.json", LOG_FILE,
                                                     "model.safetensors"]
    folder = out / f"checkpoint-{STEPS:06d}"
    info = json.loads((folder / INFO_FILE).read_text())
    assert info["step"] == STEPS and info["log_rows"] == STEPS and info["world_size"] == 1
    assert sorted(info["sha256"]) == ["config.json", "model.safetensors", STATE_FILE]
    assert os.path.samefile(out / "model.safetensors", folder / "model.safetensors")  # a hard link, no copy
    model = Wav2Vec2ForPreTraining.from_pretrained(out)  # the top level is a model folder
    assert model.config == Wav2Vec2Config.load(folder / "config.json")
    # the write points: one per log row, and per save its files, the commit, the retirement and the exports
    assert labels.count("commit") == STEPS // SAVE_EVERY and labels.count("retire checkpoint-000002") == 1
    assert labels.count("promote") == 1 and labels.index("promote") > labels.index("commit")  # the first save
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folder left
    assert [label for label in labels if label.startswith("log row")] == [f"log row {i}" for i in range(1, 5)]


def test_crash_at_every_write_point_then_resume(data, reference, tmp_path):
    """Kill the run at each write point in turn; --resume is bit-identical to the uninterrupted run, or (before
    the first checkpoint is complete) a clear refusal after which --overwrite gives the same run."""
    _, _, labels = reference
    refused = []
    for k, label in enumerate(labels, 1):
        out = tmp_path / f"crash{k}"
        _crash_at(k, lambda out=out: _run(data, out))
        promoted = labels.index("promote") + 1
        if k < promoted:  # no complete checkpoint yet: the run lived in its staging folder, --out was never made
            assert not out.exists(), label
            with pytest.raises(ValueError, match="no checkpoint-N folder"):
                _run(data, out, resume=True)
            rows = _run(data, out)  # the killed run's staging folder is cleared
            refused.append(label)
        else:
            rows = _run(data, out, resume=True)
        _assert_same_run(out, rows, reference)
        assert not [p for p in out.iterdir() if p.name.startswith(".")], f"leftovers after crash at {label}"
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [], label
    assert refused and len(refused) < len(labels)


def test_real_kill_between_writes(data, reference, tmp_path):
    """The same with a real process kill (os._exit, no cleanup at all) from W2V_LITE_CRASH_AT, via the CLI."""
    _, _, labels = reference
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "w2v_lite", "train", "pretrain", "--config", "tiny", "--data", str(data),
           "--steps", str(STEPS), "--save-every", str(SAVE_EVERY), "--batch-seconds", "2", "--max-seconds", "0.8",
           "--lr", "2e-3", "--seed", "5", "--no-progress"]
    second_save = labels.index("commit") + 1  # kill points inside the second save, once a checkpoint exists
    points = [k + 1 for k, label in enumerate(labels) if k >= second_save and label in (
        "write trainer_state.json",)]  # weights and state written, not committed (one kill: subprocesses are slow)
    assert len(points) == 1
    for k in points:
        out = tmp_path / f"kill{k}"
        killed = subprocess.run([*cmd, "--out", str(out)], env={**env, CRASH_ENV: str(k)}, capture_output=True,
                                text=True, timeout=300)
        assert killed.returncode == 86, killed.stderr[-2000:]
        assert any(p.name.startswith(".checkpoint-") for p in out.iterdir())  # the kill left a half-done save
        resumed = subprocess.run([*cmd, "--out", str(out), "--resume"], env=env, capture_output=True, text=True,
                                 timeout=300)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        rows = [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]
        _assert_same_run(out, rows, reference)


def test_partial_last_log_line_is_dropped_with_a_warning(data, reference, tmp_path):
    out = tmp_path / "run"
    _run(data, out, stop_at=2)
    with open(out / LOG_FILE, "a") as log:
        log.write('{"step": 3, "loss": 1.2')  # the run died in the middle of writing row 3
    with pytest.warns(UserWarning, match="dropped a partial last line"):
        rows = _run(data, out, resume=True)
    _assert_same_run(out, rows, reference)


def test_damaged_log_in_the_middle_refuses(data, tmp_path):
    out = tmp_path / "run"
    _run(data, out, stop_at=2)
    lines = (out / LOG_FILE).read_text().splitlines()
    (out / LOG_FILE).write_text(lines[0] + "\n")  # row 2 lost
    before = _snapshot(out)
    with pytest.raises(ValueError, match=r"one row for each step 1..2"):
        _run(data, out, resume=True)
    assert _snapshot(out) == before


@pytest.mark.parametrize("name", [STATE_FILE, "model.safetensors", INFO_FILE])
def test_damaged_checkpoint_file_names_it_and_the_last_good_one(data, tmp_path, name):
    out = tmp_path / "run"
    _run(data, out, save_every=1, stop_at=3, keep_checkpoints=2)
    assert [p.name for p in sorted(out.glob("checkpoint-*"))] == ["checkpoint-000002", "checkpoint-000003"]
    damaged = out / "checkpoint-000003" / name
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # truncated
    before = _snapshot(out)
    with pytest.raises(ValueError, match="cannot resume") as err:
        _run(data, out, resume=True)
    message = str(err.value)
    assert str(damaged) in message and "last good checkpoint is" in message and "checkpoint-000002" in message
    assert _snapshot(out) == before  # a refused resume writes nothing
    shutil.rmtree(out / "checkpoint-000003")  # what the message says to do
    rows = _run(data, out, resume=True, keep_checkpoints=2)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]


def test_damaged_only_checkpoint_says_none_is_kept(data, tmp_path):
    out = tmp_path / "run"
    _run(data, out, stop_at=2)
    (out / "checkpoint-000002" / STATE_FILE).write_bytes(os.urandom(200))
    with pytest.raises(ValueError, match=r"trainer_state\.pt is damaged.*no earlier good checkpoint"):
        _run(data, out, resume=True)


# ---- checks before writes: nothing is replaced without --resume / --overwrite ---------------------------------


def _train_cli(*argv):
    return cli_main(["train", *argv, "--no-progress"])


def test_model_folder_is_never_overwritten(data, tmp_path, capsys):
    """A copy of the released ctc-tiny (weights, no trainer state) in --out: refused, byte for byte intact."""
    out = tmp_path / "ctc-tiny"
    shutil.copytree(DEFAULT_MODEL_DIR, out)
    before = _snapshot(out)
    argv = ["ctc", "--init", "scratch", "--data", str(data), "--out", str(out), "--steps", "2", "--batch-seconds", "2"]
    assert _train_cli(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "already holds a model" in err and "--overwrite" in err
    assert _snapshot(out) == before  # vocab.json included: it used to be rewritten before the refusal
    assert _train_cli(*argv, "--overwrite") == 0
    assert json.loads((out / "vocab.json").read_text()) != json.loads(before["vocab.json"])
    # words.txt is not a training artifact (the checkpoint's word list for beam search): kept, like any user file
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-000002", "config.json", LOG_FILE,
                                                     "model.safetensors", "vocab.json", "words.txt"]


def test_refused_ctc_run_keeps_the_checkpoint_resumable(data, tmp_path, capsys):
    """The issue's case: other data, no --resume. The refusal must not touch vocab.json, so --resume still works."""
    out = tmp_path / "run"
    base = ["ctc", "--init", "scratch", "--out", str(out), "--batch-seconds", "2", "--eval-data", str(data)]
    assert _train_cli(*base, "--data", str(data), "--steps", "3", "--stop-at", "2") == 0
    other = _data(tmp_path / "other", 3)
    (other / "transcripts.tsv").write_text("".join(f"{p.name}\tQUITE DIFFERENT xyz!\n" for p in other.glob("*.flac")))
    before = _snapshot(out)
    assert _train_cli(*base, "--data", str(other), "--steps", "3") == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert _snapshot(out) == before
    assert _train_cli(*base, "--data", str(other), "--steps", "3", "--resume") == 2  # new characters: refused
    assert "not in the vocabulary of the checkpoint" in capsys.readouterr().err
    assert _snapshot(out) == before
    assert _train_cli(*base, "--data", str(data), "--steps", "3", "--resume") == 0
    assert [json.loads(line)["step"] for line in (out / LOG_FILE).read_text().splitlines()] == [1, 2, 3]


def test_clip_without_transcript_is_skipped_before_training(data, tmp_path, capsys):
    folder = _data(tmp_path / "d", 3)
    sf.write(folder / "extra.wav", 0.1 * np.sin(np.arange(16000) / 5.0), 16000)  # no line in transcripts.tsv
    out = tmp_path / "run"
    code = _train_cli("ctc", "--init", "scratch", "--data", str(folder), "--out", str(out), "--steps", "2",
                      "--batch-seconds", "2")
    assert code == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("warning: skipping audio file extra.wav: no line for 'extra.wav'")
    with pytest.warns(UserWarning, match="skipping audio file extra.wav"):  # the same in Python
        assert len(AudioFolder(folder, require_text=True)) == 3
    rows = [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]


@pytest.fixture
def read_only_dir(tmp_path):
    """An empty folder nobody may write into: chmod for users, `chattr +i` for root (root ignores modes)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    make_read_only(folder)
    yield folder
    undo_read_only(folder)


def test_read_only_out_is_one_line(data, read_only_dir, capsys):
    for out in (read_only_dir, read_only_dir / "sub"):
        assert _train_cli("pretrain", "--config", "tiny", "--data", str(data), "--out", str(out), "--steps", "1") == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: cannot write to --out {out}: ") and err.count("\n") == 1, err
        assert list(read_only_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--steps", "0"), "steps must be >= 1, got 0"),
        (("--data", "no/such/folder"), "data folder no/such/folder does not exist"),
        (("--init", "no/such/ckpt"), "no config file at no/such/ckpt/config.json"),
        (("--resume",), "--resume: no checkpoint-N folder"),
        (("--config", "huge"), "--config 'huge' is neither a preset"),
        (("--set", "num_attention_heads=-4"), "num_attention_heads must be a positive int, got -4"),
        (("--set", "hidden_size=\"96\""), "hidden_size must be a positive int, got '96'"),
        (("--set", "no_such_field=1"), "unknown config field(s) ['no_such_field']"),
        (("--batch-seconds", "inf"), "--batch-seconds must be a finite number, got inf"),
        (("--grad-clip", "-1"), "--grad-clip must be >= 0, got -1.0"),
        (("--keep-checkpoints", "0"), "--keep-checkpoints must be >= 1, got 0"),
        (("--resume", "--overwrite"), "give only one"),
    ],
)
def test_train_errors_are_one_line_and_write_nothing(data, tmp_path, capsys, extra, message):
    args = {"--config": "tiny", "--data": str(data), "--steps": "2"}
    flags = list(extra)
    for key in list(args):
        if key in flags:
            args.pop(key)
    if "--init" in flags:
        args.pop("--config")
    argv = ["pretrain", *[x for kv in args.items() for x in kv], *flags, "--out", str(tmp_path / "out")]
    assert _train_cli(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists()  # no stray folder


# ---- --overwrite and --init == --out lose nothing: crash injection --------------------------------------------


def _old_run(data: Path, out: Path) -> dict[str, bytes]:
    """A finished run of other numbers (seed 7, 2 steps) in `out`, the model a new run must not lose."""
    _run(data, out, steps=2, save_every=0, seed=7)
    return _snapshot(out)


def _crash_at(k: int, call) -> None:
    """Run `call` with a kill (an uncatchable `_Crash`) at its k-th write point."""
    count = 0

    def hook(point):
        nonlocal count
        count += 1
        if count == k:
            raise _Crash(point)

    checkpointing.CRASH_HOOK = hook
    try:
        with pytest.raises(_Crash):
            call()
    finally:
        checkpointing.CRASH_HOOK = None


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_overwrite_keeps_the_old_model_until_a_complete_new_one_replaces_it(data, reference, tmp_path):
    """Kill `--overwrite` at every write point up to the swap: the old run stays byte for byte and loads; from
    the swap on, --out holds the complete new checkpoint. Either way the run then finishes as if never killed."""
    old = tmp_path / "old"
    before = _old_run(data, old)
    labels = []
    first = tmp_path / "first"
    shutil.copytree(old, first)
    checkpointing.CRASH_HOOK = labels.append
    try:
        rows = _run(data, first, overwrite=True)
    finally:
        checkpointing.CRASH_HOOK = None
    _assert_same_run(first, rows, reference)  # an overwrite run is the same run as a fresh one
    swap = labels.index("promote")
    assert labels[swap - 1] == "stage ready" and labels.index("commit") < swap  # the swap follows the first save
    old_weights = load_file(old / "model.safetensors")
    for k in range(1, swap + 2):  # every point before the swap, and the swap itself
        out = tmp_path / f"kill{k}"
        shutil.copytree(old, out)
        _crash_at(k, lambda out=out: _run(data, out, overwrite=True))
        if k <= swap:
            assert _snapshot(out) == before, labels[k - 1]
            model = Wav2Vec2ForPreTraining.from_pretrained(out)
            assert all(torch.equal(t, old_weights[n]) for n, t in model.state_dict().items() if n in old_weights)
        else:  # killed right after the swap: --out is the new run's first complete checkpoint
            assert checkpointing.load_checkpoint(out).step == SAVE_EVERY
            assert [p.name for p in out.glob("checkpoint-*")] == [f"checkpoint-{SAVE_EVERY:06d}"]
    for k, again in ((swap, {"overwrite": True}), (swap + 1, {"resume": True})):
        out = tmp_path / f"kill{k}"
        rows = _run(data, out, **again)
        _assert_same_run(out, rows, reference)
        assert _hidden(out) == [] and not [n for n in _hidden(tmp_path) if n.startswith(f".kill{k}.")]


def test_init_and_out_the_same_folder(data, tmp_path, capsys):
    """`pretrain --init DIR --out DIR --overwrite` on a copy of pretrained-tiny: killed before the swap, DIR is
    untouched; finished, it holds the model trained on from DIR's old weights (the same as from a copy)."""
    out, copy = tmp_path / "pretrained-tiny", tmp_path / "copy"
    shutil.copytree(PRETRAINED, out)
    shutil.copytree(PRETRAINED, copy)
    before = _snapshot(out)
    argv = ["pretrain", "--data", str(data), "--steps", "2", "--batch-seconds", "2", "--max-seconds", "0.8"]
    labels = []
    checkpointing.CRASH_HOOK = labels.append
    try:
        assert _train_cli(*argv, "--init", str(copy), "--out", str(tmp_path / "separate")) == 0
    finally:
        checkpointing.CRASH_HOOK = None
    for point in ("write model.safetensors", "commit"):  # the first file of the checkpoint; its commit
        _crash_at(labels.index(point) + 1, lambda: _train_cli(*argv, "--init", str(out), "--out", str(out),
                                                              "--overwrite"))
        assert _snapshot(out) == before, point
        Wav2Vec2ForPreTraining.from_pretrained(out)  # still loads
    capsys.readouterr()
    assert _train_cli(*argv, "--init", str(out), "--out", str(out), "--overwrite") == 0
    assert (out / "model.safetensors").read_bytes() == (tmp_path / "separate" / "model.safetensors").read_bytes()
    assert (out / "model.safetensors").read_bytes() != before["model.safetensors"]
    assert _hidden(tmp_path) == []


# ---- --resume must continue the same run: changed arguments are named, --force allows them --------------------


@pytest.fixture(scope="module")
def stopped(data, tmp_path_factory):
    """A run of the reference's arguments stopped after step 2 (copy it before changing it)."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _run(data, out, stop_at=2)
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": 6}, "--resume: --seed was 5 in the checkpoint, now 6; rerun with --seed 5, or add --force to "
                      "continue anyway"),
        ({"lr": 1e-3}, "--lr was 0.002 in the checkpoint, now 0.001; rerun with --lr 0.002"),
        ({"max_seconds": None}, "--max-seconds was 0.8 in the checkpoint, now unset; rerun with --max-seconds 0.8"),
        ({"config_overrides": {"mask_time_prob": 0.3}}, "--set gave {} in the checkpoint, now {\"mask_time_prob\""),
        ({"data": "other"}, "--data holds other clips than the ones the checkpoint was trained on"),
    ],
)
def test_resume_refuses_changed_arguments_and_names_them(data, stopped, tmp_path, change, message):
    out = tmp_path / "run"
    shutil.copytree(stopped, out)
    before = _snapshot(out)
    if change.get("data") == "other":
        change, data = {}, _data(tmp_path / "other", 3)
    with pytest.raises(ValueError, match="add --force to continue anyway") as err:
        _run(data, out, resume=True, **change)
    assert message in str(err.value)
    assert _snapshot(out) == before


def test_resume_of_moved_data_is_exact_and_force_continues_deliberately(data, stopped, reference, tmp_path):
    out, moved = tmp_path / "run", tmp_path / "moved"
    shutil.copytree(stopped, out)
    shutil.copytree(data, moved)  # the same clips elsewhere: the fingerprint matches, the run is exact
    rows = _run(moved, out, resume=True)
    _assert_same_run(out, rows, reference)
    forced = tmp_path / "forced"
    shutil.copytree(stopped, forced)
    with pytest.warns(UserWarning, match="--resume --force: --seed was 5 in the checkpoint, now 6"):
        rows = _run(data, forced, resume=True, seed=6, force=True)
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and _strip(rows) != _strip(reference[1])
    info = json.loads((forced / f"checkpoint-{STEPS:06d}" / INFO_FILE).read_text())
    assert info["exact"]["seed"] == 6  # the new checkpoint records what it was trained with from now on


def test_resume_with_another_objective_and_cli_message(data, stopped, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(stopped, out)
    before = _snapshot(out)
    base = ["--data", str(data), "--out", str(out), "--steps", "4", "--resume", "--batch-seconds", "2"]
    assert _train_cli("ctc", "--init", "scratch", *base) == 2
    err = capsys.readouterr().err
    assert err == ("error: --resume: the checkpoint is from `train pretrain`, this is `train ctc`; rerun with "
                   "`w2v-lite train pretrain`, or add --force to continue anyway\n")
    assert _train_cli("pretrain", *base, "--max-seconds", "0.8", "--lr", "2e-3", "--seed", "1") == 2
    err = capsys.readouterr().err
    assert err == ("error: --resume: --seed was 5 in the checkpoint, now 1; rerun with --seed 5, or add --force "
                   "to continue anyway\n")
    assert _snapshot(out) == before


def test_overwrite_keeps_your_files_and_refuses_when_run_from_inside_out(data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    _old_run(data, out)
    (out / "notes.txt").write_text("my notes")
    (out / "extra").mkdir()
    (out / "extra" / "a.txt").write_text("a")
    before = _snapshot(out)
    monkeypatch.chdir(out)  # the swap would strand the shell in the old folder: refused, nothing written
    with pytest.raises(ValueError, match="--overwrite: the current folder is inside --out"):
        _run(data, out, overwrite=True, steps=1, save_every=0)
    assert _snapshot(out) == before
    monkeypatch.chdir(tmp_path)
    _run(data, out, overwrite=True, steps=1, save_every=0)
    assert (out / "notes.txt").read_text() == "my notes" and (out / "extra" / "a.txt").read_text() == "a"
    assert checkpointing.load_checkpoint(out).step == 1 and not (out / "checkpoint-000002").exists()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    monkeypatch.chdir(fresh)  # a new run from inside an empty --out writes into it directly (nothing to lose)
    _run(data, fresh, steps=1, save_every=0)
    assert checkpointing.load_checkpoint(fresh).step == 1


def test_swap_without_renameat2_recovers_a_crash_between_its_renames(data, tmp_path, monkeypatch):
    """Where the system can't swap atomically, `promote` renames twice; a kill between the renames leaves the
    old folder aside, and the next run puts it back before checking anything."""
    monkeypatch.setattr(checkpointing, "_rename_exchange", lambda a, b: False)
    out = tmp_path / "run"
    before = _old_run(data, out)
    labels = []
    checkpointing.CRASH_HOOK = labels.append
    shutil.copytree(out, tmp_path / "copy")
    try:
        _run(data, tmp_path / "copy", overwrite=True, steps=1, save_every=0)
    finally:
        checkpointing.CRASH_HOOK = None
    _crash_at(labels.index("put aside") + 1, lambda: _run(data, out, overwrite=True, steps=1, save_every=0))
    assert not out.exists() and _hidden(tmp_path) == [".run.w2v-new", ".run.w2v-old"]
    with pytest.raises(ValueError, match="already holds a training run"):  # recovered first, then refused
        _run(data, out, steps=1, save_every=0)
    assert _snapshot(out) == before and _hidden(tmp_path) == [".run.w2v-new"]
    _run(data, out, overwrite=True, steps=1, save_every=0)
    assert checkpointing.load_checkpoint(out).step == 1 and _hidden(tmp_path) == []


def test_resume_at_its_stop_at_says_which_flag_to_raise(data, stopped, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(stopped, out)
    before = _snapshot(out)
    with pytest.raises(ValueError, match=r"at step 2, the --stop-at 2 given; raise --stop-at or drop it"):
        _run(data, out, resume=True, stop_at=2)
    assert _snapshot(out) == before


def test_overwrite_through_a_symlink_swaps_the_folder_it_points_at(data, tmp_path):
    real, link = tmp_path / "real", tmp_path / "link"
    _old_run(data, real)
    link.symlink_to(real, target_is_directory=True)
    _run(data, link, overwrite=True, steps=1, save_every=0)
    assert link.is_symlink() and checkpointing.load_checkpoint(real).step == 1 and _hidden(tmp_path) == []
