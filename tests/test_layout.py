"""The package layout keeps its rules. Imports are read with `ast` (nothing is executed), so a rule breaks
here the moment someone writes the import, even in a branch no test runs.

    errors                     <- everyone                    (imports nothing from w2v_lite)
    config, lengths, cost      <- everyone (cost: FLOPs and bytes from config + lengths, no weights)
    model                      <- asr, train, teach           (model imports only config, lengths, model)
    data                       <- asr, train, teach           (data imports config, lengths; never model)
    asr                        <- train, teach, cli           (asr imports config, lengths, model, data)
    train                      <- teach, cli                  (train imports ... asr, never teach)
    teach                      <- nobody but cli.py, inside the command that uses it: teach.explain in
                                  `explain`, teach.figures in `figures`, teach.classroom_server in
                                  `classroom` (so torch, matplotlib and voila load only when needed)
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "w2v_lite"
TOP_LEVEL_MODULES = {"__init__", "__main__", "cli", "config", "cost_model", "errors", "lengths"}
SUBPACKAGES = ("model", "data", "asr", "train", "teach")
# the layers from the bottom up (README's diagram); no module imports a layer above its own
ORDER = ("errors", "config", "lengths", "cost_model", "model", "data", "asr", "train", "teach", "cli")
# what each layer may import from w2v_lite (besides itself); teach may import anything
MAY_IMPORT = {
    "model": {"errors", "config", "lengths"},
    "data": {"errors", "config", "lengths"},  # model and data are side by side: neither imports the other
    "asr": {"errors", "config", "lengths", "cost_model", "model", "data"},
    "train": {"errors", "config", "lengths", "cost_model", "model", "data", "asr"},
    "errors": set(),
    "config": {"errors"},
    "lengths": {"errors", "config"},
    "cost_model": {"errors", "config", "lengths"},  # arithmetic on config and lengths: no weights, not in model/
}
# `python -m w2v_lite` only hands over to the command line
ENTRY_POINTS = {"w2v_lite.__main__"}
# the only imports of teaching code from outside it: (importer, imported, where)
TEACH_IMPORTS_ALLOWED = {
    ("w2v_lite.cli", "w2v_lite.teach.explain", "function"),  # `explain` only: no torch before another command
    ("w2v_lite.cli", "w2v_lite.teach.figures", "function"),
    ("w2v_lite.cli", "w2v_lite.teach.classroom_server", "function"),  # `classroom` only: voila loads there
}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name, e.g. w2v_lite.model.ctc
    imported: str  # the w2v_lite module (or package) it names
    where: str  # "top" (runs at import time) or "function" (runs when the function is called)
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


MODULES = {module_name(p) for p in library_files()}


def _resolve(base: str, name: str | None) -> str:
    """`from base import name`: the submodule base.name if it exists, else the module or package base."""
    return f"{base}.{name}" if name and f"{base}.{name}" in MODULES else base


def imports_of(path: Path, source: str | None = None) -> list[Import]:
    """Every import of a w2v_lite module in `path` (or in `source`, read as if it were that file), absolute or
    relative, at the top or inside a function."""
    importer = module_name(path)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = "function" if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) else where
            if isinstance(child, ast.Import):
                found.extend(Import(importer, a.name, where, child.lineno) for a in child.names
                             if a.name.split(".")[0] == "w2v_lite")
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: climb from this file's package
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - child.level + 1] + ([base] if base else []))
                if base.split(".")[0] == "w2v_lite":
                    found.extend(Import(importer, _resolve(base, a.name), where, child.lineno) for a in child.names)
            visit(child, inner)

    visit(ast.parse(path.read_text() if source is None else source, filename=str(path)), "top")
    return found


ALL_IMPORTS = [imp for p in library_files() for imp in imports_of(p)]


def layer(module: str) -> str:
    """w2v_lite.model.ctc -> model; w2v_lite.lengths -> lengths; w2v_lite -> the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "w2v_lite"


def test_the_parser_sees_the_imports_it_must_police():
    """Guard for the guard: the import reader finds imports we know exist, in both positions."""
    found = {(i.importer, i.imported, i.where) for i in ALL_IMPORTS}
    assert ("w2v_lite.cli", "w2v_lite.teach.figures", "function") in found
    assert ("w2v_lite.cli", "w2v_lite.errors", "top") in found
    assert ("w2v_lite.model.wav2vec2", "w2v_lite.lengths", "top") in found
    assert ("w2v_lite.asr.recognizer", "w2v_lite.asr.decoding", "top") in found
    assert ("w2v_lite.data.audio", "w2v_lite.lengths", "top") in found


def test_the_import_reader_resolves_relative_and_nested_imports():
    source = "from . import context\nfrom ..data import audio\nimport os\ndef f():\n    import w2v_lite.teach.figures\n"
    got = {(i.importer, i.imported, i.where) for i in imports_of(PACKAGE / "model" / "probe.py", source)}
    assert got == {("w2v_lite.model.probe", "w2v_lite.model.context", "top"),
                   ("w2v_lite.model.probe", "w2v_lite.data.audio", "top"),
                   ("w2v_lite.model.probe", "w2v_lite.teach.figures", "function")}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle ``[a, b, ..., a]`` in a directed graph, or None (depth-first search)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_cycles_and_only_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("name", sorted(MAY_IMPORT))
def test_each_layer_imports_only_the_layers_below_it(name):
    allowed = MAY_IMPORT[name] | {name}
    wrong = [f"{i.importer}:{i.line} imports {i.imported}" for i in ALL_IMPORTS
             if layer(i.importer) == name and layer(i.imported) not in allowed and i.importer not in ENTRY_POINTS]
    assert not wrong, f"{name} may import only {sorted(allowed)}:\n" + "\n".join(wrong)


def test_no_module_imports_a_layer_above_its_own():
    """The order of `ORDER`, for every module (cli included): teach is the one exception, imported by cli."""
    rank = {name: i for i, name in enumerate(ORDER)}
    wrong = [f"{i.importer}:{i.line} imports {i.imported}" for i in ALL_IMPORTS
             if layer(i.importer) in rank and layer(i.imported) in rank
             and rank[layer(i.imported)] > rank[layer(i.importer)]]
    assert not wrong, "upward imports:\n" + "\n".join(wrong)


def test_entry_points_only_call_the_command_line():
    for module in sorted(ENTRY_POINTS):
        assert {i.imported for i in ALL_IMPORTS if i.importer == module} == {"w2v_lite.cli"}, module


def test_model_code_never_imports_data_train_asr_or_teach():
    wrong = [f"{i.importer}:{i.line} imports {i.imported}" for i in ALL_IMPORTS
             if layer(i.importer) == "model" and layer(i.imported) in {"data", "train", "asr", "teach"}]
    assert not wrong, "\n".join(wrong)


def test_nothing_imports_teaching_code_except_the_command_line():
    used = {(i.importer, i.imported, i.where) for i in ALL_IMPORTS
            if layer(i.imported) == "teach" and layer(i.importer) != "teach"}
    assert used <= TEACH_IMPORTS_ALLOWED, sorted(used - TEACH_IMPORTS_ALLOWED)
    assert used == TEACH_IMPORTS_ALLOWED  # every exception is still needed


def test_no_import_cycles():
    """Module -> module edges; imports inside functions count too (a cycle there only fails later)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for i in ALL_IMPORTS:
        if i.imported != i.importer:
            graph[i.importer].add(i.imported)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_plugin_registry_or_dynamic_imports():
    """Static imports only: importlib / __import__ would hide edges from the checks above."""
    for path in library_files():
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert "importlib" not in modules and "__import__" not in names, path


def test_only_the_top_modules_sit_directly_in_the_package():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top == TOP_LEVEL_MODULES, f"move {sorted(top - TOP_LEVEL_MODULES)} into a subpackage"
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages == set(SUBPACKAGES)


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_each_subpackage_says_what_it_holds_and_may_import(name):
    doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
    assert doc, f"w2v_lite/{name}/__init__.py needs a docstring: what it holds and what it may import"
    assert len(doc.strip().split("\n\n")) <= 2, "one paragraph (after an optional summary line)"
    assert "import" in doc, "the docstring must say what the subpackage may import"


def test_importing_the_library_loads_no_plotting_or_widgets():
    """A server that only transcribes must not need matplotlib or ipywidgets (one fresh interpreter imports
    the package and then each entry point, and reports the first import that pulled either in)."""
    modules = ["w2v_lite", "w2v_lite.asr.recognizer", "w2v_lite.asr.transcribe", "w2v_lite.train.cli", "w2v_lite.cli"]
    code = (f"import importlib, sys\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
            "    print(m, sorted(x for x in ('matplotlib', 'ipywidgets') if x in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.stdout.splitlines() == [f"{m} []" for m in modules]


def test_the_classroom_command_gets_to_its_url_without_torch():
    """`w2v-lite classroom` prints its URL before the page's kernel loads torch (issue 17: cold start): the
    package, the command line with the classroom parser and the server module load no torch or matplotlib,
    while `explain` (the control) does load torch when its parser and command run."""
    code = ("import sys, w2v_lite, w2v_lite.cli as cli, w2v_lite.teach.classroom_server\n"
            "args = cli.build_parser('classroom').parse_args(['classroom', '--port', '8866'])\n"
            "heavy = ('torch', 'matplotlib', 'scipy.signal')\n"
            "print(args.func.__name__, sorted(m for m in heavy if m in sys.modules))\n"
            "cli.main(['explain', '--seconds', '0.5', '--config', 'tiny'])\n"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.stdout.splitlines()[0] == "classroom []"
    assert result.stdout.splitlines()[-1] == "True"


@pytest.mark.slow  # a fresh interpreter importing matplotlib: seconds
def test_teaching_code_does_load_matplotlib():
    """The check above can fail: importing the figures module does load matplotlib."""
    code = "import sys, w2v_lite.teach.figures; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.stdout.strip() == "True"
