"""The student edition of the notebooks: `make student` -> build/student/NN_*.ipynb.

Every notebook is copied with its outputs, execution counts and stored widget state cleared, and its worked
solutions removed, so that a class gets the questions without the answers:

* markdown: every ``<details> ... </details>`` block (where the notebooks fold their solutions away), and
  nbgrader's ``=== BEGIN MARK SCHEME === ... === END MARK SCHEME ===`` answers;
* code: every block between nbgrader's ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines. nbgrader puts
  ``raise NotImplementedError()`` there; here the student notebooks must still run top to bottom, with each
  check answering "not answered yet", so a top-level block becomes its answer variables set to None (every
  name the solution assigns, defines or imports), and an indented block (a function body) becomes
  ``pass``, so the function returns None.

Cells left empty are dropped; cell ids are kept. A teacher who uses nbgrader can release the same sources
with `nbgrader generate_assignment`, which reads the same markers.

    python scripts/make_student.py [NOTEBOOK ...] [--out build/student]
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
DETAILS = re.compile(r"<details\b.*?</details>[ \t]*\n?", re.DOTALL | re.IGNORECASE)
MARK_SCHEME = re.compile(r"=== BEGIN MARK SCHEME ===.*?=== END MARK SCHEME ===[ \t]*\n?", re.DOTALL)
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
PLACEHOLDER = "None  # your answer"


def strip_markdown(source: str) -> str:
    """Markdown without its <details> blocks and mark schemes (blank-line runs they leave are merged)."""
    text = MARK_SCHEME.sub("", DETAILS.sub("", source))
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _assigned_names(block: str) -> list[str]:
    """Names a solution block binds at its top level, in order: assignments, defs, classes, imports."""
    try:
        tree = ast.parse(block)
    except SyntaxError:  # not a whole statement list on its own: bind nothing
        return []
    names: list[str] = []

    def add(target: ast.AST) -> None:
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                add(element)

    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                add(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            add(node.target)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(a.asname or a.name).split(".")[0] for a in node.names]
        elif isinstance(node, (ast.For, ast.While, ast.With, ast.If)):
            add(getattr(node, "target", None) or ast.Pass())
    return list(dict.fromkeys(names))


def strip_code(source: str) -> str:
    """Code with each BEGIN/END SOLUTION block replaced by `name = None` lines (top level) or `pass`."""
    lines = source.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() != BEGIN:
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        try:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == END)
        except StopIteration:
            raise ValueError(f"{BEGIN!r} without a matching {END!r}:\n{source}") from None
        block = "\n".join(raw[len(indent):] if raw.startswith(indent) else raw for raw in lines[i + 1 : end])
        if indent:
            out.append(f"{indent}pass  # your code here")
        else:
            names = _assigned_names(block)
            out += [f"{name} = {PLACEHOLDER}" for name in names] or ["# your code here"]
        i = end + 1
    return "\n".join(out)


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` without outputs, execution counts, widget state and worked solutions."""
    nb = nbformat.from_dict(nb)  # a deep copy
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = strip_markdown(cell.source)
        elif cell.cell_type == "code":
            cell.source = strip_code(cell.source)
            cell.outputs = []
            cell.execution_count = None
        if cell.source.strip():
            cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("widgets", None)
    return nb


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    args = parser.parse_args(argv)
    sources = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not sources:
        print("error: no notebooks to convert", file=sys.stderr)
        return 2
    try:
        editions = {path.name: student_notebook(nbformat.read(path, as_version=4)) for path in sources}
    except (OSError, ValueError) as err:  # nothing is written unless every notebook converts
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, nb in editions.items():
        nbformat.write(nb, args.out / name)
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
