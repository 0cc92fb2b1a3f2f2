"""Re-execute the teaching notebooks in place, reproducibly (`make notebooks`).

    python scripts/make_notebooks.py [notebooks/01_samples_to_frames.ipynb ...] [--timeout 300]

Each notebook runs top to bottom in a fresh `python3` kernel of the current environment, with its own
folder as the working directory, PYTHONHASHSEED=0 and the repository root on PYTHONPATH (so it also works
before `pip install -e .`). Outputs and execution counts are stored, because strict nbval compares them;
per-cell timing metadata is not recorded and split stdout chunks are merged, so a rerun changes only
what really changed, plus the random widget model ids. Widget state is stored in the nbconvert form
(`metadata.widgets`), which GitHub and `nbconvert --to html` render.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbconvert.preprocessors import CoalesceStreamsPreprocessor, ExecutePreprocessor

ROOT = Path(__file__).resolve().parents[1]


def execute(path: Path, timeout: int) -> float:
    """Run one notebook in place; returns the wall time in seconds. Raises on the first failing cell."""
    nb = nbformat.read(path, as_version=4)
    ep = ExecutePreprocessor(timeout=timeout, kernel_name="python3", record_timing=False,
                             store_widget_state=True)
    start = time.perf_counter()
    ep.preprocess(nb, {"metadata": {"path": str(path.parent)}})
    elapsed = time.perf_counter() - start
    # one print can arrive as several stream messages (timing-dependent): store each run as one output
    CoalesceStreamsPreprocessor().preprocess(nb, {})
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Execute the given notebooks (default: notebooks/*.ipynb) and report each one's time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--timeout", type=int, default=300, help="seconds allowed per cell (default 300)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not paths:
        print("no notebooks to execute", file=sys.stderr)
        return 1
    # the kernel inherits this environment
    os.environ["PYTHONHASHSEED"] = "0"
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    for path in paths:
        print(f"{path}: {execute(Path(path).resolve(), args.timeout):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
