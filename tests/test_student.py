"""The student edition (`make student`, scripts/make_student.py): no worked solution survives, no output is
kept, and every student notebook still runs top to bottom."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
spec = importlib.util.spec_from_file_location("make_student", ROOT / "scripts" / "make_student.py")
make_student = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_student)


def build(out: Path) -> dict[str, nbformat.NotebookNode]:
    """Run the script as `make student` does, into `out`; the notebooks it wrote, by file name."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_student.py"), "--out", str(out)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return {p.name: nbformat.read(p, as_version=4) for p in sorted(out.glob("*.ipynb"))}


SOLUTION_BLOCKS = (r"<details>(.*?)</details>", r"### BEGIN SOLUTION\n(.*?)### END SOLUTION",
                   r"=== BEGIN MARK SCHEME ===(.*?)=== END MARK SCHEME ===")


def solution_lines(nb: nbformat.NotebookNode) -> list[str]:
    """Lines found only in a teacher notebook's worked solutions (found here without the script's code):
    substantive lines inside <details>, BEGIN/END SOLUTION and mark-scheme blocks that appear nowhere else
    in the notebook (so `def collapse(path):`, shared by question and solution, does not count)."""
    lines, elsewhere = [], []
    for cell in nb.cells:
        rest = cell.source
        for pattern in SOLUTION_BLOCKS:
            for block in re.findall(pattern, cell.source, flags=re.S):
                for line in block.splitlines():
                    line = re.sub(r"<summary>.*?</summary>", "", line).strip()
                    if len(line) >= 12 and not line.startswith("```"):
                        lines.append(line)
            rest = re.sub(pattern, "", rest, flags=re.S)
        elsewhere.append(rest)
    outside = "\n".join(elsewhere)
    return [line for line in lines if line not in outside]


def test_student_edition_contains_no_solution_text(tmp_path):
    student = build(tmp_path)
    assert sorted(student) == [p.name for p in NOTEBOOKS]
    checked = 0
    for path in NOTEBOOKS:
        teacher = nbformat.read(path, as_version=4)
        edition = student[path.name]
        text = "\n".join(cell.source for cell in edition.cells)
        assert "<details" not in text and "BEGIN SOLUTION" not in text and "MARK SCHEME" not in text
        for line in solution_lines(teacher):
            assert line not in text, f"{path.name} still holds solution text: {line!r}"
            checked += 1
        code = [c for c in edition.cells if c.cell_type == "code"]
        assert all(c.outputs == [] and c.execution_count is None for c in code)
        assert "widgets" not in edition.metadata
        # the questions stay: every teacher cell id without a solution is still there
        assert {c.id for c in edition.cells} <= {c.id for c in teacher.cells}
        assert sum(c.cell_type == "code" for c in teacher.cells) == len(code)
    assert checked > 20  # the notebooks do fold solutions away, so this test checked something


def test_markdown_loses_details_and_mark_schemes_only():
    source = ("**1.** How many frames?\n\n<details><summary>Solution</summary>\n\n49 frames.\n\n</details>\n\n"
              "**2.** Why?\n=== BEGIN MARK SCHEME ===\nBecause 400 + 320 * 48.\n=== END MARK SCHEME ===\nEnd.")
    assert make_student.strip_markdown(source) == "**1.** How many frames?\n\n**2.** Why?\nEnd."


def test_solution_code_becomes_answers_set_to_none():
    source = ("import torch\n### BEGIN SOLUTION\nfewest = int(13)\na, b = 1, 2\ndef collapse(path):\n"
              "    return path\n### END SOLUTION\n_ = check.exercise_05_1(fewest)")
    assert make_student.strip_code(source) == (
        "import torch\nfewest = None  # your answer\na = None  # your answer\nb = None  # your answer\n"
        "collapse = None  # your answer\n_ = check.exercise_05_1(fewest)")


def test_an_indented_solution_leaves_a_function_that_returns_none():
    source = "def collapse(path):\n    ### BEGIN SOLUTION\n    return [c for c in path if c]\n    ### END SOLUTION\n"
    stripped = make_student.strip_code(source)
    assert stripped == "def collapse(path):\n    pass  # your code here"
    namespace: dict = {}
    exec(stripped, namespace)
    assert namespace["collapse"]([0, 1]) is None


def test_an_unclosed_solution_block_is_refused_and_nothing_is_written(tmp_path):
    bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n")])
    nbformat.write(bad, tmp_path / "bad.ipynb")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_student.py"), str(tmp_path / "bad.ipynb"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "END SOLUTION" in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_every_student_notebook_executes_without_error(tmp_path):
    from nbconvert.preprocessors import ExecutePreprocessor

    student = build(tmp_path)
    env_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    os.environ["PYTHONPATH"], os.environ["PYTHONHASHSEED"] = env_path, "0"
    for name, nb in student.items():
        # run from notebooks/, as the teacher copies do, so relative paths resolve the same way
        runner = ExecutePreprocessor(timeout=600, kernel_name="python3")
        runner.preprocess(nb, {"metadata": {"path": str(ROOT / "notebooks")}})
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{name}: {errors[0]['ename']}"
