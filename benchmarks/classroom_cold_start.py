"""Cold start of the classroom page: from running `w2v-lite classroom` to the first figure in a browser.

    python benchmarks/classroom_cold_start.py [--runs 3] [--port 8899]

Each run starts `python -m w2v_lite classroom --no-browser --port P` (a fresh process, so a fresh server
and kernel), opens the printed URL in headless Chromium (/usr/bin/chromium via playwright) and times:
the URL printed, the page's HTML received, and the first figure (the CTC-path image) drawn. Then it stops
the server. Prints one line per run and the median.
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


def one_run(port: int) -> tuple[float, float, float]:
    """Seconds from the command to (URL printed, page HTML loaded, first figure drawn)."""
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "voila.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        with open(log_path, "wb") as log:
            start = time.perf_counter()
            command = [sys.executable, "-m", "w2v_lite", "classroom", "--no-browser", "--port", str(port)]
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
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
                    page.wait_for_selector("img.w2v-classroom-figure-ctc[src]", timeout=300_000)
                    figure = time.perf_counter() - start
                    browser.close()
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
    return printed, loaded, figure


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port", type=int, default=8899)
    args = parser.parse_args()
    firsts = []
    for i in range(args.runs):
        printed, loaded, figure = one_run(args.port)
        firsts.append(figure)
        print(f"run {i + 1}: URL printed {printed:.1f} s, page HTML {loaded:.1f} s, first figure {figure:.1f} s "
              f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    print(f"median command -> first figure: {statistics.median(firsts):.1f} s over {args.runs} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
