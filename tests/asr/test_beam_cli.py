"""`transcribe --beam N --words ... --no-words --quiet` and the bundled model's note: --beam 1 is the greedy
output, a word list keeps the text to its words (the bundled model's 20 by default with a beam), word times
and --frames follow the beam's path, and `transcribe` / `align` say once what the bundled model knows."""

import re
from pathlib import Path

import pytest

from w2v_lite.asr.decoding import beam_decoder, greedy
from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.asr.transcribe import BUNDLED_NOTE, DEFAULT_MODEL_DIR, model_words, read_words, with_beam
from w2v_lite.cli import main
from w2v_lite.data.audio import corpus_items, load

CLIP = Path(__file__).resolve().parents[1] / "assets" / "four_seven_two_22k_stereo.wav"
TEST = [p for p, _ in corpus_items("test")][:12]
DIGITS_AND_COMMANDS = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                       "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"}


def test_the_bundled_model_ships_its_20_words():
    assert set(model_words(DEFAULT_MODEL_DIR)) == DIGITS_AND_COMMANDS
    assert model_words(Path("/nonexistent")) is None


def test_beam_1_gives_the_greedy_text_and_path():
    rec = Recognizer.load()
    plain = rec.transcribe(TEST)
    beam1 = rec.with_decoder(beam_decoder(rec.tokenizer, 1)).transcribe(TEST)
    assert [r.text for r in beam1] == [r.text for r in plain]
    assert [[f.token_id for f in r.frames] for r in beam1] == [[f.token_id for f in r.frames] for r in plain]
    assert with_beam(rec, 1).decoder is greedy  # --beam 1 keeps the greedy decoder itself


def test_word_list_output_uses_only_its_words_and_times_follow_the_beam_path():
    words = sorted(DIGITS_AND_COMMANDS)
    rec = with_beam(Recognizer.load(), 8, words)
    tok = rec.tokenizer
    for result in rec.transcribe(TEST):
        assert set(result.text.split()) <= DIGITS_AND_COMMANDS
        path = [f.token_id for f in result.frames]
        assert tok.decode(path) == result.text  # the frames shown spell the text shown
        assert [w.word for w in result.words] == result.text.split()
        assert all(a.end <= b.start for a, b in zip(result.words, result.words[1:], strict=False))


def test_cli_beam_uses_the_model_words_by_default_and_no_words_turns_them_off(capsys):
    clip = str(TEST[0])
    assert main(["transcribe", clip, "--quiet", "--beam", "1"]) == 0
    greedy = capsys.readouterr().out
    assert main(["transcribe", clip, "--quiet"]) == 0
    assert capsys.readouterr().out == greedy
    assert main(["transcribe", clip, "--quiet", "--beam", "6", "--words", "stop,go"]) == 0
    assert set(capsys.readouterr().out.split("\t")[1].split()) <= {"stop", "go"}


def test_words_from_a_file_or_a_list(tmp_path):
    table = tmp_path / "words.txt"
    table.write_text("yes\nno\n  stop\n")
    assert read_words(str(table)) == ["yes", "no", "stop"]
    assert read_words("yes,no stop") == ["yes", "no", "stop"]
    with pytest.raises(ValueError, match="no words"):
        read_words(" , ")


def test_a_word_list_file_that_is_missing_a_folder_or_not_utf8_is_named(tmp_path):
    """A path that is not a readable file is refused as a file, not read as a one-word list."""
    for spec in (str(tmp_path / "missing.txt"), "words.txt", str(tmp_path)):
        with pytest.raises(ValueError, match=f"--words {re.escape(spec)}: no such file"):
            read_words(spec)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        read_words(str(latin1))


def test_the_bundled_model_says_what_it_knows_once_and_quiet_hides_it(capsys):
    assert main(["transcribe", str(CLIP)]) == 0
    err = capsys.readouterr().err
    assert err.count(BUNDLED_NOTE) == 1 and "--model" in err and "20 words" in err
    assert main(["transcribe", str(CLIP), str(CLIP), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["align", str(CLIP), "four seven two"]) == 0
    assert capsys.readouterr().err.count(BUNDLED_NOTE) == 1
    assert main(["align", str(CLIP), "four seven two", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_other_models_get_no_note(tmp_path, capsys):
    copy = tmp_path / "model"
    copy.mkdir()
    for f in ("config.json", "model.safetensors", "vocab.json"):
        (copy / f).write_bytes((DEFAULT_MODEL_DIR / f).read_bytes())
    assert main(["transcribe", str(CLIP), "--model", str(copy)]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(("argv", "match"), [(["--beam", "0"], "at least 1"), (["--beam", "x"], "whole number"),
                                             (["--words", "yes", "--no-words"], "contradict"),
                                             (["--words", "a_b"], "lacks")])
def test_bad_beam_flags_are_one_error_line(argv, match, capsys):
    try:
        code = main(["transcribe", str(CLIP), "--quiet", *argv])
    except SystemExit as stop:  # argparse's own checks exit instead of returning
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and match in err[0]


def test_a_beam_recognizer_leaves_the_plain_one_as_it_was():
    rec = Recognizer.load()
    before = rec.transcribe(load(CLIP, sampling_rate=16000)).text
    with_beam(rec, 8, sorted(DIGITS_AND_COMMANDS)).transcribe(CLIP)
    assert rec.decoder is greedy and rec.transcribe(load(CLIP, sampling_rate=16000)).text == before
