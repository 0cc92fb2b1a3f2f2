"""The "Try it" exercises of notebooks 04 and 05: every worked solution (read from the notebook's collapsed
`<details>` block, so the tested code is the code a learner sees) passes its check, and wrong answers,
including answers of the wrong type, get one `not yet:` line instead of a traceback."""

import itertools
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from w2v_lite.asr.transcribe import DEFAULT_MODEL_DIR
from w2v_lite.data.tokenizer import CharTokenizer
from w2v_lite.model.ctc import required_frames
from w2v_lite.model.masking import compute_mask_indices
from w2v_lite.model.quantizer import perplexity
from w2v_lite.teach import check

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def solutions(notebook: str) -> list[str]:
    """The python code of every <details> solution block of a notebook, in order."""
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    blocks = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for details in re.findall(r"<details>(.*?)</details>", cell.source, flags=re.S):
                blocks += re.findall(r"```python\n(.*?)```", details, flags=re.S)
    return blocks


def run_solution(code: str, namespace: dict, capsys) -> str:
    """Execute one worked solution; return what its check printed."""
    capsys.readouterr()
    exec(code, dict(namespace))
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer.load(DEFAULT_MODEL_DIR)


def test_notebook_04_solutions_pass_their_checks(capsys):
    blocks = solutions("04_pretraining.ipynb")
    assert [re.search(r"check\.(exercise_\w+)", b).group(1) for b in blocks] == [
        "exercise_04_1", "exercise_04_2", "exercise_04_3"]
    namespace = {"np": np, "torch": torch, "compute_mask_indices": compute_mask_indices, "perplexity": perplexity,
                 "G": 2, "V": 32, "check": check}
    for code in blocks:
        printed = run_solution(code, namespace, capsys)
        assert printed.startswith("correct: ") and printed.count("\n") == 1, printed


def test_notebook_05_solutions_pass_their_checks(capsys, tok):
    blocks = solutions("05_ctc_finetuning.ipynb")
    assert [re.search(r"check\.(exercise_\w+)", b).group(1) for b in blocks] == [
        "exercise_05_1", "exercise_05_2", "exercise_05_3"]
    namespace = {"tok": tok, "required_frames": required_frames, "itertools": itertools, "check": check}
    for code in blocks:
        printed = run_solution(code, namespace, capsys)
        assert printed.startswith("correct: ") and printed.count("\n") == 1, printed


def _not_yet(exercise, answer, capsys) -> str:
    capsys.readouterr()
    assert exercise(answer) is False
    printed = capsys.readouterr().out
    assert printed.startswith("not yet: ") and printed.count("\n") == 1, printed
    return printed


@pytest.mark.parametrize("answer", ["0.13", [0.13], float("nan"), True])
def test_numeric_checks_refuse_the_wrong_type_with_a_hint(answer, capsys):
    for exercise in (check.exercise_04_1, check.exercise_04_3, check.exercise_05_1, check.exercise_05_3):
        _not_yet(exercise, answer, capsys)


def test_wrong_numbers_get_a_specific_hint(capsys):
    assert "nominal" in _not_yet(check.exercise_04_1, 0.05, capsys)  # the trap: p x M is not the share
    assert "not a share" in _not_yet(check.exercise_04_1, 13, capsys)
    _not_yet(check.exercise_04_1, 0.27, capsys)  # the tiny model's share, not the fine-tuning one
    assert "one group" in _not_yet(check.exercise_04_3, 2, capsys)
    _not_yet(check.exercise_04_3, 64, capsys)
    assert "blank" in _not_yet(check.exercise_05_1, 11, capsys)  # forgot the repeats
    _not_yet(check.exercise_05_1, 12.5, capsys)
    assert "every path" in _not_yet(check.exercise_05_3, 243, capsys)
    _not_yet(check.exercise_05_3, 28, capsys)  # the count for "off" over 6 frames, not "ab" over 5


def test_right_numbers_in_other_types_are_accepted(capsys):
    assert check.exercise_04_1(np.float64(0.131)) and check.exercise_04_3(torch.tensor(4.0))
    assert check.exercise_05_1(np.int64(13)) and check.exercise_05_3(35.0)
    capsys.readouterr()


def test_function_checks(capsys):
    def pool_with_target(mask_row, t):
        return list(np.flatnonzero(mask_row))  # forgets to exclude t

    def pool_raises(mask_row, t):
        raise IndexError("oops")

    assert "expected" in _not_yet(check.exercise_04_2, pool_with_target, capsys)
    assert "IndexError: oops" in _not_yet(check.exercise_04_2, pool_raises, capsys)
    assert "function itself" in _not_yet(check.exercise_04_2, [1, 2], capsys)
    assert check.exercise_04_2(lambda row, t: np.setdiff1d(np.flatnonzero(row), [t]))  # any int sequence, any order

    def drop_then_merge(path):  # the wrong order: blanks first, so `1 _ 1` merges into one
        kept = [c for c in path if c != 0]
        return [c for i, c in enumerate(kept) if i == 0 or c != kept[i - 1]]

    hint = _not_yet(check.exercise_05_2, drop_then_merge, capsys)
    assert "merge repeats first" in hint
    assert "return a list of ints" in _not_yet(check.exercise_05_2, lambda path: "abc", capsys)
    assert "function itself" in _not_yet(check.exercise_05_2, 3, capsys)
