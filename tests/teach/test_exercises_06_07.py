"""The exercises of notebooks 06 and 07: the reference solutions (kept here, not in the lessons) pass their
checks, and wrong answers get a one-line hint."""

import pytest

from w2v_lite import Wav2Vec2Config, output_lengths, receptive_field
from w2v_lite.teach import check


def windows_needed(seconds: float, chunk_seconds: float, stride_seconds: float) -> int:
    """Notebook 06's reference solution: frames of the clip / kept frames per window, rounded up."""
    config = Wav2Vec2Config.base()
    hop = receptive_field(config)[1]
    rate = config.sampling_rate
    frames = output_lengths(round(seconds * rate))
    keep = round(chunk_seconds * rate / hop) - 2 * round(stride_seconds * rate / hop)
    return -(-frames // keep)  # ceiling division


def attention_score_flops() -> int:
    """Notebook 07's reference solution: 2 T^2 H for one layer's scores, T from the frame formula."""
    base = Wav2Vec2Config.base()
    frames = output_lengths(20 * base.sampling_rate, base)  # 999 frames, not 1000
    return 2 * frames * frames * base.hidden_size


def test_notebook_06_solution_passes(capsys):
    assert check.exercise_06_1(windows_needed) is True
    assert capsys.readouterr().out.startswith("correct: ")
    assert windows_needed(600, 20, 2) == 38  # the lesson's 10-minute example


def test_the_stub_of_notebook_06_is_not_answered_yet(capsys):
    def windows_needed(seconds, chunk_seconds, stride_seconds):  # the exercise cell as the student meets it
        ...

    assert check.exercise_06_1(windows_needed) is False
    assert capsys.readouterr().out.startswith("not answered yet: ")


def test_notebook_07_solution_passes(capsys):
    assert check.exercise_07_1(attention_score_flops()) is True
    assert capsys.readouterr().out.startswith("correct: ")
    assert attention_score_flops() == 2 * 999 * 999 * 768


@pytest.mark.parametrize(("exercise", "answer", "hint"), [
    ("exercise_06_1", lambda s, c, st: 1, "expected"),
    ("exercise_06_1", lambda s, c, st: 1 / 0, "ZeroDivisionError"),
    ("exercise_06_1", 38, "function itself"),
    ("exercise_07_1", 2 * 1000 * 1000 * 768, "999 frames"),
    ("exercise_07_1", 12, "2 T^2 H"),
    ("exercise_07_1", "many", "whole number"),
])
def test_wrong_answers_get_a_hint(exercise, answer, hint, capsys):
    assert getattr(check, exercise)(answer) is False
    out = capsys.readouterr().out
    assert out.startswith("not yet: ") and hint in out and out.count("\n") == 1
