"""Cold start of the classroom page: from running `w2v-lite classroom` to the first figure in a browser.

    python benchmarks/classroom_cold_start.py [--runs 3] [--port 8899] [--root CHECKOUT]

Each run starts `python -m w2v_lite classroom --no-browser --port P` (a fresh process, so a fresh server
and kernel), opens the printed URL in headless Chromium (/usr/bin/chromium via playwright) and times:
the URL printed, the page's HTML received, the first figure drawn (frames over the waveform, the first one
the page computes) and the last one (the CTC path, so every figure is on the page). A figure counts once
its image has pixels (an empty Image widget already has a blob `src`). Then it stops the server. Prints
one line per run and the medians. `--root` runs another checkout's code (e.g. main, for a before/after
pair measured back to back under the same load).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


DRAWN = "sel => { const img = document.querySelector(sel); return !!img && img.naturalWidth > 0; }"


def one_run(port: int, root: Path = ROOT) -> tuple[float, float, float, float]:
    """Seconds from the command to (URL printed, page HTML loaded, first figure drawn, last figure drawn)."""
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "voila.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
        with open(log_path, "wb") as log:
            start = time.perf_counter()
            command = [sys.executable, "-m", "w2v_lite", "classroom", "--no-browser", "--port", str(port)]
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    cwd=root, start_new_session=True)
            try:
                while not re.search(r"classroom page: http", log_path.read_text(errors="replace")):
                    if proc.poll() is not None:
                        raise RuntimeError(log_path.read_text(errors="replace"))
                    time.sleep(0.05)
                printed = time.perf_counter() - start
                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                args=["--no-sandbox", "--disable-gpu"])
                    page = browser.new_page(viewport={"width": 1280, "height": 720})
                    while True:  # the URL is printed just before Voila listens
                        try:
                            page.goto(f"http://127.0.0.1:{port}/", timeout=300_000)
                            break
                        except Exception:
                            time.sleep(0.1)
                    loaded = time.perf_counter() - start
                    page.wait_for_function(DRAWN, arg="img.w2v-classroom-figure-frames", timeout=300_000)
                    figure = time.perf_counter() - start
                    page.wait_for_function(DRAWN, arg="img.w2v-classroom-figure-ctc", timeout=300_000)
                    last = time.perf_counter() - start
                    browser.close()
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
    return printed, loaded, figure, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port", type=int, default=8899)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose w2v_lite runs (default: this one)")
    args = parser.parse_args()
    firsts, lasts = [], []
    for i in range(args.runs):
        printed, loaded, figure, last = one_run(args.port, args.root.resolve())
        firsts.append(figure)
        lasts.append(last)
        print(f"run {i + 1}: URL printed {printed:.1f} s, page HTML {loaded:.1f} s, first figure {figure:.1f} s, "
              f"all figures {last:.1f} s (load average {os.getloadavg()[0]:.1f})", flush=True)
    print(f"median command -> first figure: {statistics.median(firsts):.1f} s, -> all figures: "
          f"{statistics.median(lasts):.1f} s over {args.runs} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
