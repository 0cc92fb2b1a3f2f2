"""The README's table of bad inputs, one parametrised test per row; the table and `CLI_CASES` / `API_CASES`
must agree row for row (`test_readme_table_matches_the_cases`).

A CLI row runs its command exactly as printed (in a temporary folder holding the files it names) and checks
the exit code, that stderr is one `error:` (or `warning:`) line containing the message, and, for errors,
that no file changed.
"""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import make_read_only, undo_read_only

from w2v_lite import Wav2Vec2Config, Wav2Vec2Model, audio
from w2v_lite.asr.alignment import forced_align
from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.asr.transcribe import DEFAULT_MODEL_DIR
from w2v_lite.cli import main
from w2v_lite.lengths import frame_mask, output_lengths
from w2v_lite.model.pretraining import Wav2Vec2ForPreTraining
from w2v_lite.model.quantizer import gumbel_temperature
from w2v_lite.train.checkpointing import LOG_FILE, staging_folder
from w2v_lite.train.loop import TrainArgs
from w2v_lite.train.pretrain import PretrainTask

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: one torch thread per test


# ---- the files a row needs, made in the current (temporary) folder -------------------------------------------


def _wav(name: str, seconds: float = 1.0, rate: int = 16000) -> None:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(name, 0.3 * np.sin(2 * np.pi * 220 * t), rate, subtype="PCM_16")


def _one_hz() -> None:
    sf.write("one_hz.wav", np.full(2000, 0.1), 1, subtype="PCM_16")  # a header that says 1 Hz


def _cut_short() -> None:
    _wav("full.wav")
    data = Path("full.wav").read_bytes()
    Path("cut_short.wav").write_bytes(data[: len(data) // 2])  # the data chunk still says 1 s


def _model(name: str, **config) -> None:
    shutil.copytree(DEFAULT_MODEL_DIR, name)
    path = Path(name) / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **config}))


def _random_bytes_model() -> None:
    shutil.copytree(DEFAULT_MODEL_DIR, "random_bytes_model")
    Path("random_bytes_model/model.safetensors").write_bytes(np.random.default_rng(0).bytes(4096))


def _list_config_model() -> None:
    shutil.copytree(DEFAULT_MODEL_DIR, "list_config_model")
    Path("list_config_model/config.json").write_text("[1, 2, 3]\n")


def _data(name: str = "data", n: int = 2) -> None:
    if Path(name).exists():
        return
    Path(name).mkdir()
    items = audio.corpus_items("train")[:n]
    for path, _ in items:
        shutil.copy(path, Path(name) / path.name)
    Path(name, "transcripts.tsv").write_text("".join(f"{p.name}\t{t}\n" for p, t in items))


def _data_extra_clip() -> None:
    _data("data_extra_clip")
    _wav("data_extra_clip/extra.wav")  # no line in transcripts.tsv


def _read_only() -> None:
    Path("read_only").mkdir()
    make_read_only(Path("read_only"))


def _stopped_run(name: str) -> None:
    _data()
    assert main(["train", "pretrain", "--config", "tiny", "--data", "data", "--out", name, "--steps", "2",
                 "--stop-at", "1", "--batch-seconds", "2", "--no-progress"]) == 0


def _damaged_run() -> None:
    _stopped_run("damaged_run")
    state = Path("damaged_run/checkpoint-000001/trainer_state.pt")
    state.write_bytes(state.read_bytes()[:1000])  # truncated


def _cut_log_run() -> None:
    _stopped_run("cut_log_run")
    with open("cut_log_run/log.jsonl", "a") as log:
        log.write('{"step": 2, "lo')  # the run died while writing row 2


SETUPS = {
    "a.wav": lambda: _wav("a.wav"), "b.wav": lambda: _wav("b.wav", 0.5), "one_hz.wav": _one_hz,
    "cut_short.wav": _cut_short, "random_bytes_model": _random_bytes_model, "list_config_model": _list_config_model,
    "negative_heads_model": lambda: _model("negative_heads_model", num_attention_heads=-4),
    "string_width_model": lambda: _model("string_width_model", hidden_size="96"),
    "float_layers_model": lambda: _model("float_layers_model", num_hidden_layers=3.0),
    "null_heads_model": lambda: _model("null_heads_model", num_attention_heads=None),
    "data": _data, "data_extra_clip": _data_extra_clip, "read_only": _read_only,
    "ctc-tiny-copy": lambda: shutil.copytree(DEFAULT_MODEL_DIR, "ctc-tiny-copy"),
    "damaged_run": _damaged_run, "cut_log_run": _cut_log_run,
    "stopped_run": lambda: _stopped_run("stopped_run"), "data_one_clip": lambda: _data("data_one_clip", 1),
    "old_run": lambda: _stopped_run("old_run"),
}

# (input, command as typed, result, what stderr says); "error, exit 2" rows must also leave every file unchanged
CLI_CASES = [
    ("a missing file", "w2v-lite explain missing.wav", "error, exit 2", "audio file not found: missing.wav"),
    ("an infinite length", "w2v-lite explain --seconds inf", "error, exit 2", "--seconds must be in (0, 60], got inf"),
    ("an absurd length (64 TB)", "w2v-lite explain --seconds 1e9", "error, exit 2",
     "--seconds must be in (0, 60], got 1000000000.0"),
    ("FILE and --batch together", "w2v-lite explain a.wav --batch a.wav b.wav", "error, exit 2",
     "give either --batch FILE... or FILE a.wav, not both"),
    ("a 1 Hz file", "w2v-lite explain one_hz.wav", "error, exit 2", "sample rate of 1 Hz, below the 1000 Hz minimum"),
    ("a WAV whose data chunk is cut short", "w2v-lite explain cut_short.wav --config tiny", "warning, exit 0",
     "the file was cut short, so only its first 0.50 s are used"),
    ("one missing file among several", "w2v-lite transcribe a.wav missing.wav", "error, exit 2 (a.wav is still "
     "transcribed)", "audio file not found: missing.wav"),
    ("random bytes as model.safetensors", "w2v-lite transcribe a.wav --model random_bytes_model", "error, exit 2",
     "cannot read weights file random_bytes_model/model.safetensors"),
    ("config.json holding a JSON list", "w2v-lite transcribe a.wav --model list_config_model", "error, exit 2",
     "list_config_model/config.json holds a JSON list"),
    ('`"num_attention_heads": -4`', "w2v-lite transcribe a.wav --model negative_heads_model", "error, exit 2",
     "num_attention_heads must be a positive int, got -4"),
    ('`"hidden_size": "96"`', "w2v-lite transcribe a.wav --model string_width_model", "error, exit 2",
     "hidden_size must be a positive int, got '96'"),
    ('`"num_hidden_layers": 3.0`', "w2v-lite transcribe a.wav --model float_layers_model", "error, exit 2",
     "num_hidden_layers must be a positive int, got 3.0"),
    ('`"num_attention_heads": null`', "w2v-lite transcribe a.wav --model null_heads_model", "error, exit 2",
     "num_attention_heads must be a positive int, got None"),
    ("zero steps", "w2v-lite train pretrain --config tiny --data data --out run --steps 0", "error, exit 2",
     "steps must be >= 1, got 0"),
    ("a missing data folder", "w2v-lite train pretrain --config tiny --data missing --out run --steps 2",
     "error, exit 2", "data folder missing does not exist"),
    ("a bad --init", "w2v-lite train pretrain --init missing --data data --out run --steps 2", "error, exit 2",
     "no config file at missing/config.json"),
    ("--resume with nothing to resume", "w2v-lite train pretrain --config tiny --data data --out run --steps 2 "
     "--resume", "error, exit 2", "--resume: no checkpoint-N folder in run"),
    ("an unknown --config (no stray folder)", "w2v-lite train pretrain --config huge --data data --out run --steps 2",
     "error, exit 2", "--config 'huge' is neither a preset"),
    ("--out holding a model (a copy of ctc-tiny)", "w2v-lite train ctc --init scratch --data data --out ctc-tiny-copy "
     "--steps 2", "error, exit 2", "ctc-tiny-copy already holds a model"),
    ("a read-only --out", "w2v-lite train pretrain --config tiny --data data --out read_only --steps 2",
     "error, exit 2", "cannot write to --out read_only"),
    ("a truncated trainer_state.pt", "w2v-lite train pretrain --config tiny --data data --out damaged_run --steps 2 "
     "--resume", "error, exit 2", "damaged_run/checkpoint-000001/trainer_state.pt is damaged"),
    ("a partial last line in log.jsonl", "w2v-lite train pretrain --config tiny --data data --out cut_log_run "
     "--steps 2 --batch-seconds 2 --resume --no-progress", "warning, exit 0", "dropped a partial last line"),
    ("an audio file without a transcript line", "w2v-lite train ctc --init scratch --data data_extra_clip --out run "
     "--steps 1 --no-progress", "warning, exit 0", "skipping audio file extra.wav: no line for 'extra.wav'"),
    ("--resume with another --seed", "w2v-lite train pretrain --config tiny --data data --out stopped_run --steps 2 "
     "--batch-seconds 2 --resume --seed 1", "error, exit 2",
     "--resume: --seed was 0 in the checkpoint, now 1; rerun with --seed 0, or add --force to continue anyway"),
    ("--resume with other --data", "w2v-lite train pretrain --config tiny --data data_one_clip --out stopped_run "
     "--steps 2 --batch-seconds 2 --resume", "error, exit 2", "--data holds other clips than the ones the checkpoint"),
    ("--resume --force with another --seed", "w2v-lite train pretrain --config tiny --data data --out stopped_run "
     "--steps 2 --batch-seconds 2 --resume --seed 1 --force --no-progress", "warning, exit 0",
     "--resume --force: --seed was 0 in the checkpoint, now 1"),
    ("--force without --resume", "w2v-lite train pretrain --config tiny --data data --out run --steps 2 --force",
     "error, exit 2", "--force only lets --resume continue with changed arguments"),
    ("a negative warm-up", "w2v-lite train pretrain --config tiny --data data --out run --steps 10 --warmup-steps -5",
     "error, exit 2", "--warmup-steps must be >= 0, got -5"),
    ("a seed written as a float", "w2v-lite train pretrain --config tiny --data data --out run --steps 2 --seed 1e20",
     "error, exit 2", "argument --seed: invalid int value: '1e20'"),
    ("a seed past int64", "w2v-lite train pretrain --config tiny --data data --out run --steps 2 "
     "--seed 100000000000000000000", "error, exit 2", "--seed must be at most 2**63 - 1"),
    ("a nan temperature decay", "w2v-lite train pretrain --config tiny --data data --out run --steps 2 "
     "--temp-decay nan", "error, exit 2", "--temp-decay must be a finite number, got nan"),
    ("an infinite conv gradient scale", "w2v-lite train pretrain --config tiny --data data --out run --steps 2 "
     "--feature-grad-mult inf", "error, exit 2", "--feature-grad-mult must be a finite number, got inf"),
    ("a nan learning rate", "w2v-lite train ctc --init scratch --data data --out run --steps 2 --lr nan",
     "error, exit 2", "--lr must be a finite number, got nan"),
]


# ---- issue 18, inputs: files as users pass them, broken JSON, numbers, alignment -----------


def _header_only_wav(name: str, rate: int, frames: int, bits: int = 8) -> None:
    """A PCM WAV whose header declares `frames` mono frames at `rate`, the data left as a sparse hole (no disk
    used): what a huge recording looks like to a reader that checks the header first."""
    width = bits // 8
    data = frames * width
    header = (b"RIFF" + (36 + data).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
              + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + rate.to_bytes(4, "little")
              + (rate * width).to_bytes(4, "little") + width.to_bytes(2, "little") + bits.to_bytes(2, "little")
              + b"data" + data.to_bytes(4, "little"))
    with open(name, "wb") as f:
        f.write(header)
        f.truncate(len(header) + data)


def _json_model(name: str, file: str, text: str | bytes) -> None:
    shutil.copytree(DEFAULT_MODEL_DIR, name)
    path = Path(name) / file
    path.write_bytes(text if isinstance(text, bytes) else text.encode())


def _vocab_with(name: str, **changes) -> None:
    vocab = json.loads((DEFAULT_MODEL_DIR / "vocab.json").read_text())
    _json_model(name, "vocab.json", json.dumps({**vocab, **changes}))


def _pickle_model() -> None:
    shutil.copytree(DEFAULT_MODEL_DIR, "pickle_model")
    Path("pickle_model/model.safetensors").unlink()
    torch.save({"weights": _RunsCode()}, "pickle_model/pytorch_model.bin")


class _RunsCode:
    """Unpickling this would call os.system (never done: weights_only=True refuses it)."""

    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def _silence() -> None:
    sf.write("silence.wav", np.zeros(32000), 16000, subtype="PCM_16")  # 2 s of digital zeros


def _corpus_clip(name: str) -> None:
    path, _ = audio.corpus_items("test")[2]  # says "three two"
    shutil.copy(path, name)


def _no_writer_fifo() -> None:
    os.mkfifo("no_writer.wav")


SETUPS.update({
    "one_mhz.wav": lambda: sf.write("one_mhz.wav", np.zeros(1000), 1_000_000, subtype="PCM_16"),
    "four_hours.wav": lambda: _header_only_wav("four_hours.wav", 1000, 4 * 3600 * 1000 + 60_000),
    "-x.wav": lambda: _wav("-x.wav"), "short.wav": lambda: _wav("short.wav", 0.3), "silence.wav": _silence,
    "three_two.flac": lambda: _corpus_clip("three_two.flac"), "no_writer.wav": _no_writer_fifo,
    "bad_json_vocab_model": lambda: _json_model("bad_json_vocab_model", "vocab.json", '{"<pad>": 0,'),
    "latin1_vocab_model": lambda: _json_model("latin1_vocab_model", "vocab.json", b'{"\xe9": 0}'),
    "list_vocab_model": lambda: _json_model("list_vocab_model", "vocab.json", '["<pad>", "a"]'),
    "string_id_vocab_model": lambda: _vocab_with("string_id_vocab_model", e="3"),
    "number_pad_model": lambda: _json_model("number_pad_model", "tokenizer_config.json", '{"pad_token": 5}'),
    "list_preprocessor_model": lambda: _json_model("list_preprocessor_model", "preprocessor_config.json", "[1]"),
    "string_rate_model": lambda: _json_model("string_rate_model", "preprocessor_config.json",
                                             '{"sampling_rate": "16k"}'),
    "list_processor_model": lambda: _json_model("list_processor_model", "processor_config.json",
                                                '{"feature_extractor": [16000]}'),
    "wide_vocab_model": lambda: _model("wide_vocab_model", vocab_size=40),
    "pickle_model": _pickle_model,
})

CLI_CASES += [
    ("a header claiming 1 MHz", "w2v-lite explain one_mhz.wav", "error, exit 2",
     "sample rate of 1000000 Hz, above the 768000 Hz maximum"),
    ("a header claiming 4 hours (nothing allocated)", "w2v-lite explain four_hours.wav", "error, exit 2",
     "more than load() reads at once (at most 4 hours"),
    ("a FIFO no program writes to", "w2v-lite transcribe no_writer.wav a.wav", "error, exit 2 (after 10 s; a.wav is "
     "still transcribed)", "no_writer.wav: nothing to read after 10 s"),
    ("a file named -x.wav", "w2v-lite transcribe -x.wav", "error, exit 2",
     "-x.wav looks like a file whose name starts with '-': put `--` before the file names"),
    ("--model given a file", "w2v-lite transcribe a.wav --model a.wav", "error, exit 2",
     "--model a.wav is a file, not a folder"),
    ("an infinite window", "w2v-lite transcribe a.wav --chunk-seconds inf", "error, exit 2",
     "must be a finite number of seconds"),
    ("a negative infinite length", "w2v-lite explain --seconds -inf", "error, exit 2",
     "--seconds must be in (0, 60], got -inf"),
    ("an unknown device", "w2v-lite train ctc --init scratch --data data --out run --steps 1 --device tpu",
     "error, exit 2", "argument --device: expected cpu, cuda or cuda:N, got 'tpu'"),
    ("vocab.json cut off (bad JSON)", "w2v-lite transcribe a.wav --model bad_json_vocab_model", "error, exit 2",
     "bad_json_vocab_model/vocab.json is not valid JSON"),
    ("vocab.json in Latin-1 (bad UTF-8)", "w2v-lite transcribe a.wav --model latin1_vocab_model", "error, exit 2",
     "latin1_vocab_model/vocab.json is not UTF-8 text (byte 0xe9 at offset 2)"),
    ("vocab.json holding a list", "w2v-lite transcribe a.wav --model list_vocab_model", "error, exit 2",
     "list_vocab_model/vocab.json holds a JSON array, but it must be a JSON object"),
    ('`"e": "3"` in vocab.json', "w2v-lite transcribe a.wav --model string_id_vocab_model", "error, exit 2",
     "string_id_vocab_model/vocab.json: token 'e' has id '3' (a JSON string)"),
    ('`"pad_token": 5` in tokenizer_config.json', "w2v-lite transcribe a.wav --model number_pad_model",
     "error, exit 2", "number_pad_model/tokenizer_config.json: field 'pad_token' must be a token string"),
    ("preprocessor_config.json holding a list", "w2v-lite transcribe a.wav --model list_preprocessor_model",
     "error, exit 2", "list_preprocessor_model/preprocessor_config.json holds a JSON array"),
    ('`"sampling_rate": "16k"` in preprocessor_config.json', "w2v-lite transcribe a.wav --model string_rate_model",
     "error, exit 2", "preprocessor_config.json: field 'sampling_rate' must be a positive int"),
    ('`"feature_extractor": [16000]` in processor_config.json', "w2v-lite transcribe a.wav --model "
     "list_processor_model", "error, exit 2", "processor_config.json: field 'feature_extractor' must be a JSON object"),
    ("vocab_size 40 for 22 tokens", "w2v-lite transcribe a.wav --model wide_vocab_model", "error, exit 2",
     "config.json says vocab_size 40 but vocab.json holds 22 tokens"),
    ("a pickle that runs code as pytorch_model.bin", "w2v-lite transcribe a.wav --model pickle_model", "error, exit 2",
     "it is a pickle that would run code when loaded (it calls posix.system)"),
    ("2 s of digital silence", 'w2v-lite align silence.wav "three two"', "warning, exit 0",
     "the audio is digital silence (every sample is 0)"),
    ("a 0.3 s clip for a long transcript", 'w2v-lite align short.wav "three two one four"', "error, exit 2",
     "the clip is too short for the transcript: it needs at least 19 frames"),
    ("another clip's transcript", 'w2v-lite align three_two.flac "eight nine four"', "warning, exit 0",
     "the transcript and the audio do not seem to match"),
]


@pytest.mark.parametrize(("what", "command", "result", "message"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_row(tmp_path, monkeypatch, capsys, what, command, result, message):
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(command)[1:]
    try:
        for name, make in SETUPS.items():
            if name in argv:
                make()
        capsys.readouterr()
        before = {str(p): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
        folders = sorted(str(p) for p in tmp_path.rglob("*") if p.is_dir())
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse's own refusals (e.g. an int flag given 1e20) exit from the parser
            code = exit_.code
        err = capsys.readouterr().err
        kind = result.split(",")[0]
        assert code == (2 if kind == "error" else 0), err
        lines = err.splitlines()
        assert [line for line in lines if line.startswith(f"{kind}: ") and message in line], err
        if kind == "error":
            assert len(lines) == 1 and "Traceback" not in err
            assert {str(p): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()} == before
            assert sorted(str(p) for p in tmp_path.rglob("*") if p.is_dir()) == folders  # no stray folder
    finally:
        if (tmp_path / "read_only").exists():
            undo_read_only(tmp_path / "read_only")


# ---- Ctrl-C and kill -9 in a real process, after the first log row --------------------------------------------

# (input, command as typed, what is sent and what must hold, what stderr says)
INTERRUPT_CASES = [
    ("Ctrl-C during `--overwrite`", "w2v-lite train pretrain --config tiny --data data --out old_run --steps 100000 "
     "--batch-seconds 2 --overwrite --no-progress", "SIGINT: exit 130, old_run unchanged", "interrupted"),
    ("kill -9 during `--overwrite`", "w2v-lite train pretrain --config tiny --data data --out old_run --steps 100000 "
     "--batch-seconds 2 --overwrite --no-progress", "SIGKILL: old_run unchanged and loads", ""),
]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("what", "command", "result", "message"), INTERRUPT_CASES, ids=[c[0] for c in INTERRUPT_CASES])
def test_interrupt_row(tmp_path, monkeypatch, capsys, what, command, result, message):
    """The signal reaches the process once the new run has logged a row (before its first checkpoint): the old
    run in --out stays byte for byte and loads; the next run clears what the killed one left beside it."""
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(command)[1:]
    for name, make in SETUPS.items():
        if name in argv:
            make()
    out = tmp_path / argv[argv.index("--out") + 1]
    before = _files(out)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "w2v_lite", *argv], cwd=tmp_path, env=env, stderr=subprocess.PIPE,
                            text=True)
    log, deadline = staging_folder(out) / LOG_FILE, time.monotonic() + 240
    try:
        while not (log.is_file() and log.read_text().count("\n") >= 1):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        sent = getattr(signal, result.split(":")[0])
        proc.send_signal(sent)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    if sent == signal.SIGINT:
        assert proc.returncode == 130 and err == f"{message}\n", err
        assert not staging_folder(out).exists()  # an interrupt takes the staging folder with it
    else:
        assert proc.returncode == -signal.SIGKILL and staging_folder(out).exists()  # a kill can't clean up
    assert _files(out) == before
    Wav2Vec2ForPreTraining.from_pretrained(out)
    assert main(["train", "pretrain", "--config", "tiny", "--data", "data", "--out", str(out), "--steps", "1",
                 "--batch-seconds", "2", "--overwrite", "--no-progress"]) == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the next run removed the leftovers


# ---- the Python API -------------------------------------------------------------------------------------------


def _float64_input():
    torch.manual_seed(0)
    model = Wav2Vec2Model(Wav2Vec2Config.tiny()).eval()
    x = torch.randn(1, 4000)
    with torch.no_grad():
        assert torch.equal(model(x.double()).last_hidden_state, model(x).last_hidden_state)
        assert model(x.double()).last_hidden_state.dtype == torch.float32


def _float16_input():
    torch.manual_seed(0)
    model = Wav2Vec2Model(Wav2Vec2Config.tiny()).eval()
    x = torch.randn(1, 4000)
    with torch.no_grad():
        torch.testing.assert_close(model(x.half()).last_hidden_state, model(x.half().float()).last_hidden_state,
                                   atol=0, rtol=0)


def _negative_heads():
    with pytest.raises(ValueError, match="num_attention_heads must be a positive int, got -4"):
        Wav2Vec2Config(num_attention_heads=-4)


def _one_hz_load(tmp_path):
    os.chdir(tmp_path)
    _one_hz()
    with pytest.raises(audio.AudioError, match="below the 1000 Hz minimum"):
        audio.load("one_hz.wav")


def _truncated_load(tmp_path):
    os.chdir(tmp_path)
    _cut_short()
    with pytest.warns(UserWarning, match="cut short"):
        assert audio.load("cut_short.wav").numel() < 16000


def _random_bytes_weights(tmp_path):
    os.chdir(tmp_path)
    _random_bytes_model()
    with pytest.raises(ValueError, match="cannot read weights file"):
        Wav2Vec2Model.from_pretrained("random_bytes_model")


def _nan_decay():
    with pytest.raises(ValueError, match=r"decay must be in \(0, 1\]"):
        gumbel_temperature(0, decay=float("nan"))


def _train_args(message: str, error: type[Exception] = ValueError, **kw) -> Callable[[], None]:
    def check() -> None:
        with pytest.raises(error, match=re.escape(message)):
            TrainArgs("data", "run", steps=10, **kw)
    return check


def _nan_temp_decay():
    with pytest.raises(ValueError, match="--temp-decay must be a finite number, got nan"):
        PretrainTask(temp_decay=float("nan"))


API_CASES = [
    ("float64 audio", "`model(x.double())`", "cast to the model's float32", "", _float64_input),
    ("float16 audio", "`model(x.half())`", "cast to the model's float32", "", _float16_input),
    ("a negative head count", "`Wav2Vec2Config(num_attention_heads=-4)`", "ValueError",
     "num_attention_heads must be a positive int, got -4", _negative_heads),
    ("a 1 Hz file", '`audio.load("one_hz.wav")`', "AudioError (a ValueError)", "below the 1000 Hz minimum",
     _one_hz_load),
    ("a WAV cut short", '`audio.load("cut_short.wav")`', "UserWarning, the part that is there", "cut short",
     _truncated_load),
    ("random bytes as weights", '`Wav2Vec2Model.from_pretrained("random_bytes_model")`', "ValueError",
     "cannot read weights file", _random_bytes_weights),
    ("a nan temperature decay", '`gumbel_temperature(0, decay=float("nan"))`', "ValueError", "decay must be in (0, 1]",
     _nan_decay),
    ("a nan temperature decay for training", '`PretrainTask(temp_decay=float("nan"))`', "ValueError",
     "--temp-decay must be a finite number, got nan", _nan_temp_decay),
    ("a negative warm-up", '`TrainArgs("data", "run", steps=10, warmup_steps=-5)`', "ValueError",
     "--warmup-steps must be >= 0, got -5", _train_args("--warmup-steps must be >= 0, got -5", warmup_steps=-5)),
    ("a seed past int64", '`TrainArgs("data", "run", steps=10, seed=10**20)`', "ValueError",
     "--seed must be at most 2**63 - 1", _train_args("--seed must be at most 2**63 - 1", seed=10**20)),
    ("a fractional seed", '`TrainArgs("data", "run", steps=10, seed=1.5)`', "TypeError",
     "--seed must be a whole number, got 1.5", _train_args("--seed must be a whole number, got 1.5", TypeError,
                                                           seed=1.5)),
    ("an infinite conv gradient scale", '`TrainArgs("data", "run", steps=10, feature_grad_mult=float("inf"))`',
     "ValueError", "--feature-grad-mult must be a finite number, got inf",
     _train_args("--feature-grad-mult must be a finite number, got inf", feature_grad_mult=float("inf"))),
]


# ---- issue 18, inputs -------------------------------------------------------------------------------------


def _fifo_with_writer(name: str, data: bytes) -> threading.Thread:
    """A FIFO `name` and a thread that writes `data` into it once a reader opens it (as `<(cat a.wav)` does)."""
    os.mkfifo(name)

    def write() -> None:
        with open(name, "wb") as f:
            f.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return writer


def _fifo_load(tmp_path):
    os.chdir(tmp_path)
    _wav("a.wav")
    writer = _fifo_with_writer("piped.wav", Path("a.wav").read_bytes())
    assert torch.equal(audio.load("piped.wav"), audio.load("a.wav"))  # one read of the stream is enough
    writer.join(5)


def _pipe_load(tmp_path):
    os.chdir(tmp_path)
    _wav("a.wav")
    read_end, write_end = os.pipe()  # an anonymous pipe, what bash's <(cat a.wav) passes as /dev/fd/N
    writer = threading.Thread(target=lambda: (os.write(write_end, Path("a.wav").read_bytes()), os.close(write_end)))
    writer.start()
    try:
        assert torch.equal(audio.load(f"/dev/fd/{read_end}"), audio.load("a.wav"))
    finally:
        writer.join(5)
        os.close(read_end)


def _no_writer_load(tmp_path, monkeypatch):
    os.chdir(tmp_path)
    os.mkfifo("no_writer.wav")
    monkeypatch.setattr(audio, "STREAM_WAIT_SECONDS", 0.2)
    with pytest.raises(audio.AudioError, match=r"no_writer.wav: nothing to read after 0.2 s"):
        audio.load("no_writer.wav")


def _one_mhz_load(tmp_path):
    os.chdir(tmp_path)
    SETUPS["one_mhz.wav"]()
    with pytest.raises(audio.AudioError, match="above the 768000 Hz maximum"):
        audio.load("one_mhz.wav")


def _four_hours_load(tmp_path):
    os.chdir(tmp_path)
    SETUPS["four_hours.wav"]()
    with pytest.raises(audio.AudioError, match=r"more than load\(\) reads at once"):
        audio.load("four_hours.wav")


def _latin1_name(tmp_path, capsys):
    os.chdir(tmp_path)
    _wav("a.wav")
    name = os.fsdecode(b"caf\xe9.wav")  # a Latin-1 file name: not UTF-8
    shutil.copy("a.wav", name)
    capsys.readouterr()
    assert main(["transcribe", name, "a.wav"]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert "caf\\xe9.wav: the file name is not valid UTF-8 (bytes b'caf\\xe9.wav')" in captured.err
    assert captured.out.startswith("a.wav\t")  # the other file goes on


def _cuda_on_cpu(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this torch build has CUDA: --device cuda is valid here")
    with pytest.raises(SystemExit) as stop:
        main(["train", "ctc", "--init", "scratch", "--data", "data", "--out", "run", "--steps", "1",
              "--device", "cuda"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cuda is not available (this torch build has no CUDA); use --device cpu" in err


def _json_frames(tmp_path, capsys):
    os.chdir(tmp_path)
    _wav("a.wav")
    capsys.readouterr()
    assert main(["transcribe", "a.wav", "--json", "--frames"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert len(row["frames"]) == 49 and row["frames"][1] == {"frame": 1, "start_ms": 20.0, "end_ms": 45.0,
                                                             "token": row["frames"][1]["token"]}


def _explain_batch_long(tmp_path, capsys):
    os.chdir(tmp_path)
    _wav("long.wav", seconds=31.0)
    _wav("a.wav")
    capsys.readouterr()
    assert main(["explain", "--config", "tiny", "--batch", "long.wav", "a.wav"]) == 0
    out = capsys.readouterr().out
    assert "the model ran on the first 1 s of each clip only" in out
    assert f"{output_lengths(496000)} of {output_lengths(496000)} frames valid" in out
    assert f"# x {output_lengths(16000)}, then . x {output_lengths(496000) - output_lengths(16000)} a.wav" in out


def _target_outside_vocab():
    with pytest.raises(ValueError, match=r"target ids \[7\] are outside the vocabulary of 5 tokens"):
        forced_align(torch.zeros(10, 5).log_softmax(-1), [1, 7])


def _frame_mask_list():
    with pytest.raises(TypeError, match=r"frame_lengths must be an integer torch\.Tensor of shape"):
        frame_mask([3, 2], 4)


def _frame_mask_too_long():
    with pytest.raises(ValueError, match=r"frame_lengths must lie in \[0, T = 4\], got \[5, 2\]"):
        frame_mask(torch.tensor([5, 2]), 4)


def _frame_mask_negative():
    with pytest.raises(ValueError, match=r"frame_lengths must lie in \[0, T = 4\], got \[-1, 2\]"):
        frame_mask(torch.tensor([-1, 2]), 4)


def _int16_audio():
    model = Wav2Vec2Model(Wav2Vec2Config.tiny())
    with pytest.raises(TypeError, match=r"raw PCM; scale it to \[-1, 1\] first \(x / 32768 for int16\)"):
        model(np.zeros(4000, dtype=np.int16))


def _infinite_window():
    with pytest.raises(ValueError, match=r"chunk_seconds must be at least 2 s .* and finite, got inf"):
        Recognizer.load().emissions(torch.zeros(16000), chunk_seconds=float("inf"))


API_CASES += [
    ("a WAV through a FIFO", '`audio.load("piped.wav")` (a writer in another thread)', "read once, as a stream", "",
     _fifo_load),
    ("a WAV through a pipe", '`audio.load("/dev/fd/N")` (like `<(cat a.wav)`)', "read once, as a stream", "",
     _pipe_load),
    ("a FIFO no program writes to", '`audio.load("no_writer.wav")`', "AudioError after `STREAM_WAIT_SECONDS`",
     "nothing to read after", _no_writer_load),
    ("a header claiming 1 MHz", '`audio.load("one_mhz.wav")`', "AudioError (a ValueError)",
     "above the 768000 Hz maximum", _one_mhz_load),
    ("a header claiming 4 hours", '`audio.load("four_hours.wav")`', "AudioError, before reading a sample",
     "more than load() reads at once", _four_hours_load),
    ("a file name that is not UTF-8", "`w2v-lite transcribe $'caf\\xe9.wav' a.wav`", "error, exit 2 (a.wav is still "
     "transcribed)", "the file name is not valid UTF-8", _latin1_name),
    ("--device cuda on a CPU build", "`w2v-lite train ctc ... --device cuda`", "error, exit 2",
     "cuda is not available (this torch build has no CUDA)", _cuda_on_cpu),
    ("--json with --frames", "`w2v-lite transcribe a.wav --json --frames`", 'the frames are in the JSON ("frames")', "",
     _json_frames),
    ("explain --batch with a 31 s file", "`w2v-lite explain --batch long.wav a.wav`", "the long-clip rule of explain "
     "FILE", "the model ran on the first 1 s of each clip only", _explain_batch_long),
    ("a target id outside the vocabulary", "`forced_align(log_probs, [1, 7])` with V = 5", "ValueError",
     "target ids [7] are outside the vocabulary of 5 tokens", _target_outside_vocab),
    ("frame_mask given a list", "`frame_mask([3, 2], 4)`", "TypeError",
     "frame_lengths must be an integer torch.Tensor", _frame_mask_list),
    ("frame_mask lengths above T", "`frame_mask(torch.tensor([5, 2]), 4)`", "ValueError",
     "frame_lengths must lie in [0, T = 4], got [5, 2]", _frame_mask_too_long),
    ("frame_mask negative lengths", "`frame_mask(torch.tensor([-1, 2]), 4)`", "ValueError",
     "frame_lengths must lie in [0, T = 4], got [-1, 2]", _frame_mask_negative),
    ("int16 PCM", "`model(np.zeros(4000, dtype=np.int16))`", "TypeError",
     "scale it to [-1, 1] first (x / 32768 for int16)", _int16_audio),
    ("an infinite window", '`recognizer.emissions(wave, chunk_seconds=float("inf"))`', "UsageError (a ValueError)",
     "and finite, got inf", _infinite_window),
]


@pytest.mark.parametrize(("what", "command", "result", "message", "check"), API_CASES, ids=[c[0] for c in API_CASES])
def test_api_row(tmp_path, monkeypatch, capsys, what, command, result, message, check):
    monkeypatch.chdir(tmp_path)  # restored afterwards, whatever the check does
    fixtures = {"tmp_path": tmp_path, "monkeypatch": monkeypatch, "capsys": capsys}
    check(*(fixtures[name] for name in check.__code__.co_varnames[: check.__code__.co_argcount]))


def _readme_rows() -> list[tuple[str, ...]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Bad inputs", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return [tuple(cell.strip() for cell in row) for row in rows[1:]]  # without the header


def test_readme_table_matches_the_cases():
    def cell(text: str) -> str:
        return f"`{text}`" if text and not text.startswith("`") else text

    expected = [(what, cell(command), result, cell(message)) for what, command, result, message in CLI_CASES]
    expected += [(what, cell(command), result, cell(message)) for what, command, result, message in INTERRUPT_CASES]
    expected += [(what, command, result, cell(message)) for what, command, result, message, _ in API_CASES]
    assert _readme_rows() == expected
