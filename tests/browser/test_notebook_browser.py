"""The length slider of notebook 01 works in a real browser (`make test-browser`).

Starts JupyterLab on 127.0.0.1 with a random token, opens a copy of notebook 01 in headless Chromium
(Debian's /usr/bin/chromium driven by the `playwright` package), runs all cells, moves the slider with the
keyboard and checks that the frame-count label shows the right count. Fails if the widget never renders
(e.g. the widget manager is missing and only the text fallback "VBox(...)" is shown).

Needs: `apt-get install -y chromium` (or CHROMIUM=/path/to/chrome) and the dev requirements (jupyterlab,
ipywidgets, playwright). No `playwright install` is needed: the system browser is used.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from w2v_lite.teach.widgets import FRAMES_LABEL_CLASS, frames_per_layer_text

pytestmark = pytest.mark.browser  # `make test-browser` runs it; `make test` and `make test-fast` skip it

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "01_samples_to_frames.ipynb"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
# kernel start + every cell of notebook 01, on a busy 2-core machine
RUN_TIMEOUT_MS = int(os.environ.get("W2V_BROWSER_TIMEOUT_MS", 240_000))
ERROR_OUTPUT = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
PROMPTS_JS = "[...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent)"
# a cell failed, or: the live label is drawn and every code cell shows "[n]:" (no "[*]" or "[ ]")
ALL_DONE_JS = (f"() => document.querySelector(\"{ERROR_OUTPUT}\") !== null || "
               f"(document.querySelector('.{FRAMES_LABEL_CLASS}') !== null && "
               f"{PROMPTS_JS}.every(t => /\\[\\d+\\]/.test(t)))")
# after "Clear Outputs of All Cells": no output and no execution count left
CLEARED_JS = (f"() => !document.querySelector('.jp-OutputArea-output') && "
              f"{PROMPTS_JS}.every(t => !/\\d/.test(t))")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server serving a scratch copy of notebook 01: yields (base url, token), then stops."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no browser at {CHROMIUM}: `apt-get install -y chromium`, or set CHROMIUM=/path/to/it")
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)  # the browser run must not touch the committed notebook
    port, token = free_port(), secrets.token_hex(16)
    # a private config and data dir: no user settings, and the notebook-trust database stays in tmp_path
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": python_path, "PYTHONHASHSEED": "0",
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_DATA_DIR": str(tmp_path / "data")}
    # trusted, so JupyterLab draws the stored widgets: proof that the widget manager is up before we run
    subprocess.run([sys.executable, "-m", "jupyter", "trust", str(tmp_path / NOTEBOOK.name)], env=env,
                   check=True, capture_output=True)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
           f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root
    log = open(tmp_path / "lab.log", "wb")  # noqa: SIM115 (the server writes to it until stop() closes it)
    server = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)  # own process group: stop() ends it and its kernels
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                tail = (tmp_path / "lab.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"JupyterLab did not start:\n{tail}")
            time.sleep(0.5)
        yield base, token
    finally:
        stop(server)
        log.close()


def stop(server: subprocess.Popen) -> None:
    """Stop the server and its kernels: the process group we started (it may already be gone)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def test_length_slider_updates_frame_count_in_browser(lab, tmp_path):
    base, token = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        console: list[str] = []
        page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
        try:
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            # JupyterLab may ask which kernel to use: take the notebook's own (python3)
            idle = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
            page.wait_for_selector(f".jp-Dialog .jp-mod-accept, {idle}", timeout=120_000)
            if page.locator(".jp-Dialog .jp-mod-accept").count():
                page.click(".jp-Dialog .jp-mod-accept")
            # the stored slider, drawn from the saved widget state: the widget manager is there and ready
            # (without it this times out: the test fails when widgets cannot render)
            page.wait_for_selector(f".{FRAMES_LABEL_CLASS}", timeout=120_000)
            page.wait_for_selector(idle, timeout=120_000)
            # clear the stored outputs, so that only this run's widgets and prompts count
            page.click(".lm-MenuBar-itemLabel:text-is('Edit')")
            page.click(".lm-Menu-item[data-command='editmenu:clear-all']")  # "Clear Outputs of All Cells"
            page.wait_for_function(CLEARED_JS, timeout=30_000)
            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-item[data-command='runmenu:run-all']")  # "Run All Cells"
            # the widget must really render (the live label, not the "VBox(...)" text fallback)
            page.wait_for_function(ALL_DONE_JS, timeout=RUN_TIMEOUT_MS)
            assert page.locator(ERROR_OUTPUT).count() == 0, page.locator(ERROR_OUTPUT).all_text_contents()
            label = page.wait_for_selector(f".{FRAMES_LABEL_CLASS}", timeout=1_000)
            slider = page.locator(".widget-slider").filter(has=page.locator(".noUi-handle")).first
            readout = slider.locator(".widget-readout")
            start = int(readout.inner_text())
            assert start == 16000  # the notebook shows the slider at 1 s
            assert label.inner_text() == frames_per_layer_text(start)

            handle = slider.locator(".noUi-handle").first
            handle.focus()
            # one step right (80 samples) reaches 16080, the shortest clip with 50 frames; two steps left cross
            # back and stay inside 49 frames
            steps = (("ArrowRight", 16080, 50), ("ArrowLeft", 16000, 49), ("ArrowLeft", 15920, 49))
            for key, value, frames in steps:
                page.keyboard.press(key)
                expected = frames_per_layer_text(value)
                assert expected.endswith(f"→ {frames} frames")  # (value - 400) // 320 + 1
                page.wait_for_function("([sel, text]) => document.querySelector(sel).textContent === text",
                                       arg=[f".{FRAMES_LABEL_CLASS}", expected], timeout=30_000)
                assert int(readout.inner_text()) == value
        except Exception:
            # keep what the browser showed, for the failure report
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            (tmp_path / "failure.html").write_text(page.content())
            (tmp_path / "console.log").write_text("\n".join(console))
            print(f"browser state saved in {tmp_path}")
            raise
        finally:
            browser.close()
