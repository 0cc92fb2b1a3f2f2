"""The `w2v-lite` command line (`python -m w2v_lite`): every printed number of `explain` comes from the model
and output_lengths; every subcommand has --help with an example; bad arguments give one `error: ...` line
and exit code 2, never a traceback, and leave existing files alone."""

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import w2v_lite.asr.transcribe as transcribe_command
from w2v_lite import audio, output_lengths
from w2v_lite.cli import COMMANDS, build_parser, main
from w2v_lite.errors import UsageError
from w2v_lite.train.loop import TrainArgs

ROOT = Path(__file__).resolve().parents[1]
CLIP = str(ROOT / "tests" / "assets" / "four_seven_two_22k_stereo.wav")
CORPUS = str(ROOT / "w2v_lite" / "assets" / "corpus" / "train")
SUBCOMMANDS = ["explain", "transcribe", "train pretrain", "train ctc", "figures"]


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    """`python -m w2v_lite ARGV` in a fresh process, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "w2v_lite", *argv], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


def run_main(argv: list[str], capsys) -> tuple[int, str]:
    """`main(argv)` in this process -> (exit code, stderr); argparse's own errors raise SystemExit."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


# ---- explain ---------------------------------------------------------------------------------------------


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


# ---- help --------------------------------------------------------------------------------------------------


def test_top_level_help_lists_every_subcommand():
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.split("COMMAND\n", 1)[1].split("\n\n")[0].splitlines()
              if line.startswith("    ") and not line.startswith("     ")]  # one indented name per subcommand
    assert listed == ["explain", "transcribe", "align", "train", "figures", "classroom", "export"], result.stdout
    assert "example:\n  w2v-lite " in result.stdout


def test_train_ctc_help_works_and_shows_an_example():
    result = run_cli("train", "ctc", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: w2v-lite train ctc")
    assert "--freeze-steps" in result.stdout and "--init" in result.stdout
    assert "example:\n  w2v-lite train ctc --init " in result.stdout


@pytest.mark.parametrize("command", [*SUBCOMMANDS, "train", "classroom", "export"])
def test_every_subcommand_help_has_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command.split(), "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: w2v-lite {command}")
    example = out.split("example:\n", 1)[1].strip().splitlines()[0]
    assert example.startswith(f"w2v-lite {command}")


def test_the_parser_knows_exactly_these_subcommands():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    assert sorted(sub.choices) == ["align", "classroom", "explain", "export", "figures", "train", "transcribe"]
    (objectives,) = [a for a in sub.choices["train"]._actions if a.dest == "objective"]
    assert sorted(objectives.choices) == ["ctc", "pretrain"]


# ---- bad arguments: one line, exit code 2, no traceback ----------------------------------------------------

TRAIN = ["--data", CORPUS, "--steps", "1", "--no-progress"]

BAD = [
    # explain
    (["explain", "--seconds", "-1"], "--seconds must be in (0, 60], got -1.0"),
    (["explain", "--seconds", "abc"], "argument --seconds: invalid float value: 'abc'"),
    (["explain", "--config", "nope"], "invalid choice: 'nope'"),
    (["explain", CLIP, "--seconds", "2"], "give either FILE or --seconds, not both"),
    (["explain", "--seconds", "0.01", "--config", "tiny"], "the clip has 160 samples, fewer than the 400"),
    (["explain", "no/such/clip.wav"], "audio file not found: no/such/clip.wav"),
    # transcribe
    (["transcribe"], "the following arguments are required: FILE"),
    (["transcribe", "no/such/clip.wav"], "audio file not found: no/such/clip.wav"),
    (["transcribe", CLIP, "--model", "no/such/model"], "model folder no/such/model does not exist"),
    # train pretrain
    (["train"], "the following arguments are required: OBJECTIVE"),
    (["train", "pretrain"], "the following arguments are required: --data, --out, --steps"),
    (["train", "pretrain", *TRAIN, "--out", "{out}"], "give --config (e.g. tiny) or --init CHECKPOINT_FOLDER"),
    (["train", "pretrain", "--config", "nope", *TRAIN, "--out", "{out}"], "--config 'nope' is neither a preset"),
    (["train", "pretrain", "--config", "tiny", *TRAIN, "--steps", "0", "--out", "{out}"], "steps must be >= 1"),
    (["train", "pretrain", "--config", "tiny", *TRAIN, "--out", "{out}", "--set", "nonsense=1"],
     "unknown config field(s) ['nonsense']"),
    (["train", "pretrain", "--config", "tiny", *TRAIN, "--out", "{out}", "--set", "mask_time_prob=abc"],
     "--set mask_time_prob=abc: the value must be JSON"),
    (["train", "pretrain", "--config", "tiny", *TRAIN, "--out", "{out}", "--resume"],
     "--resume: no checkpoint-N folder"),
    (["train", "pretrain", "--config", "tiny", *TRAIN, "--out", "{out}", "--set", "do_stable_layer_norm=5"],
     "do_stable_layer_norm must be true or false, got 5"),  # the config's TypeError, a user error here
    # train ctc
    (["train", "ctc", "--config", "tiny", *TRAIN, "--out", "{out}"], "ctc needs --init scratch"),
    (["train", "ctc", "--init", "no/such/run", *TRAIN, "--out", "{out}"], "--init no/such/run: no such checkpoint"),
    (["train", "ctc", "--init", "scratch", *TRAIN, "--out", "{out}", "--freeze-steps", "-1"],
     "--freeze-steps must be >= 0, got -1"),
    (["train", "ctc", "--init", "scratch", *TRAIN, "--out", "{out}", "--max-seconds", "2"],
     "--max-seconds crops clips"),
    (["train", "ctc", "--init", "scratch", *TRAIN, "--out", "{out}", "--steps", "0"], "steps must be >= 1"),
    # figures
    (["figures", "--out", "{file}"], "is a file; give a folder for the figures"),
    (["figures", "--bogus"], "unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a[:3]) + f" #{i}" for i, (a, _) in enumerate(BAD)])
def test_bad_arguments_give_one_error_line_and_exit_2(argv, message, tmp_path, capsys):
    out, file = tmp_path / "run", tmp_path / "existing.txt"
    file.write_text("keep me")
    argv = [a.format(out=out, file=file) for a in argv]
    code, err = run_main(argv, capsys)
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err
    # refused: nothing written, nothing overwritten
    assert not out.exists()
    assert file.read_text() == "keep me"


# One real process per subcommand. The in-process test above covers every message; these prove the installed
# entry point turns them into exit code 2 without a traceback. A fresh interpreter costs seconds, so all but
# one are `slow` (`make test` runs them, `make test-fast` keeps train ctc).
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["explain", "--seconds", "-1"], "error: --seconds must be in (0, 60]", marks=pytest.mark.slow),
        pytest.param(["transcribe", "no/such/clip.wav"], "error: audio file not found", marks=pytest.mark.slow),
        pytest.param(["train", "pretrain", "--config", "tiny", "--data", "no/such/folder", "--out", "{out}", "--steps",
                      "1"], "error: data folder no/such/folder does not exist", marks=pytest.mark.slow),
        (["train", "ctc", "--init", "scratch", *TRAIN, "--out", "{out}", "--freeze-steps", "-1"],
         "error: --freeze-steps must be >= 0, got -1"),
        pytest.param(["figures", "--out", "{file}"], "error: --out", marks=pytest.mark.slow),
    ],
    ids=SUBCOMMANDS,
)
def test_each_subcommand_refuses_bad_input_in_a_real_process(argv, message, tmp_path):
    out, file = tmp_path / "run", tmp_path / "existing.txt"
    file.write_text("keep me")
    result = run_cli(*[a.format(out=out, file=file) for a in argv])
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""
    assert not out.exists() and file.read_text() == "keep me"


def test_ctc_training_into_an_existing_run_is_refused_and_keeps_its_files(tmp_path, capsys):
    """A finished run in --out (here: its vocab.json and trainer state) survives a refused second run."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "vocab.json").write_text('{"<pad>": 0}')
    (out / "trainer_state.pt").write_bytes(b"state")
    code, err = run_main(["train", "ctc", "--init", "scratch", *TRAIN, "--out", str(out)], capsys)
    assert code == 2 and "already holds a training run" in err
    assert (out / "vocab.json").read_text() == '{"<pad>": 0}'
    assert sorted(p.name for p in out.iterdir()) == ["trainer_state.pt", "vocab.json"]


# ---- one command pattern, one error type, Ctrl-C ----------------------------------------------------------


def test_every_subcommand_is_registered_through_commands():
    """Each entry of COMMANDS adds one parser that sets `func`; nothing else adds a subcommand."""
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    added = [add(sub) for add in COMMANDS]
    assert [p.prog.split()[-1] for p in added] == ["explain", "transcribe", "align", "train", "figures", "classroom",
                                                   "export"]
    (real,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(real.choices) == list(sub.choices)
    assert all(p.get_default("func") is not None for p in added if p.prog.split()[-1] != "train")


def test_train_flags_take_their_defaults_from_train_args():
    """Every TrainArgs field is a flag whose default is the dataclass's (ctc changes three, on purpose)."""
    args = build_parser().parse_args(["train", "pretrain", "--data", "d", "--out", "o", "--steps", "3"])
    for f in dataclasses.fields(TrainArgs):
        if f.default is not dataclasses.MISSING:
            assert getattr(args, f.name) == f.default, f.name
    assert args.overrides == [] and (args.data, args.out, args.steps) == (Path("d"), Path("o"), 3)
    args = build_parser().parse_args(["train", "ctc", "--data", "d", "--out", "o", "--steps", "3", "--no-progress",
                                      "--resume", "--max-seconds", "2.5"])
    assert (args.progress, args.resume, args.max_seconds, args.lr) == (False, True, 2.5, 3e-3)


def _raising(exc: BaseException):
    def load(*args, **kwargs):
        raise exc
    return load


def test_a_usage_error_is_one_line_and_a_type_error_is_a_traceback(monkeypatch, capsys):
    monkeypatch.setattr(transcribe_command.Recognizer, "load", _raising(UsageError("bad flag, do this instead")))
    assert main(["transcribe", CLIP]) == 2
    assert capsys.readouterr().err == "error: bad flag, do this instead\n"
    monkeypatch.setattr(transcribe_command.Recognizer, "load", _raising(TypeError("a bug")))
    with pytest.raises(TypeError, match="a bug"):  # escapes main: the interpreter prints its traceback
        main(["transcribe", CLIP])


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    monkeypatch.setattr(transcribe_command.Recognizer, "load", _raising(KeyboardInterrupt()))
    assert main(["transcribe", CLIP]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_sigint_during_a_long_transcription_exits_130(tmp_path):
    """A real Ctrl-C: SIGINT to `python -m w2v_lite transcribe` once its progress bar is up (5 minutes of
    audio, so the model is still running)."""
    long_clip = tmp_path / "long.wav"
    sf.write(long_clip, 0.1 * np.random.default_rng(0).standard_normal(5 * 60 * 16000).astype(np.float32), 16000)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-m", "w2v_lite", "transcribe", str(long_clip)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        started = ""
        while "transcribe:" not in started and proc.poll() is None:  # tqdm's first draw: the model runs
            started += proc.stderr.read(1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.splitlines()[-1].endswith("interrupted") and "Traceback" not in err
    assert out == ""
