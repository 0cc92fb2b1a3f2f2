"""The classroom page in a real browser (`make test-browser`): `w2v-lite classroom` serves it with Voilà,
headless Chromium (Debian's /usr/bin/chromium driven by playwright) opens it, uploads a WAV and records
from Chromium's fake microphone, which plays a corpus clip (`--use-file-for-fake-audio-capture`).

The expected numbers come from outside the page: the frame count from `lengths.output_lengths` of the
file's own length, the transcript from the corpus's transcript table. Screenshots go to build/browser/
(not committed): what a teacher sees on a 1280 x 720 projector.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from w2v_lite.data import audio
from w2v_lite.lengths import output_lengths

pytestmark = pytest.mark.browser  # `make test-browser` runs it; `make test` and `make test-fast` skip it

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
# kernel start, torch import and the first analysis, on a busy 2-core machine
LOAD_MS = int(os.environ.get("W2V_BROWSER_TIMEOUT_MS", 240_000))
STATUS, SUMMARY, TRANSCRIPT = ".w2v-classroom-status", ".w2v-classroom-summary", ".w2v-classroom-transcript"
CTC_FIGURE = "img.w2v-classroom-figure-ctc"
FIGURES = ("frames", "batch", "attention", "ctc")
UPLOAD_CLIP = 7  # corpus test clip "seven nine one zero" (1.4 s), which ctc-tiny transcribes correctly
ERRORS = ("[data-mime-type='application/vnd.jupyter.error'], [data-mime-type='application/vnd.jupyter.stderr'], "
          ".voila-error")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """WAV files the browser reads: the upload (16 kHz mono), the fake microphone's input, bad files."""
    folder = tmp_path_factory.mktemp("clips")
    path, _ = audio.corpus_items("test")[UPLOAD_CLIP]
    x = audio.load(path).numpy()
    sf.write(folder / "upload.wav", x, 16000, subtype="PCM_16")
    # the fake device loops the file: speech with a little silence around it
    sf.write(folder / "mic.wav", np.concatenate([np.zeros(3200, "f4"), x, np.zeros(3200, "f4")]), 16000,
             subtype="PCM_16")
    (folder / "notes.wav").write_text("these are lecture notes, not audio\n")
    return {"upload": folder / "upload.wav", "mic": folder / "mic.wav", "bad": folder / "notes.wav"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`python -m w2v_lite classroom --no-browser --port P`: yields the URL it printed, then stops it."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no browser at {CHROMIUM}: `apt-get install -y chromium`, or set CHROMIUM=/path/to/it")
    log_path = tmp_path_factory.mktemp("voila") / "voila.log"
    port = free_port()
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": python_path, "PYTHONHASHSEED": "0",
           "JUPYTER_DATA_DIR": str(log_path.parent / "data")}  # the notebook-signing key stays in tmp
    log = open(log_path, "wb")  # noqa: SIM115 (the server writes to it until the fixture ends)
    proc = subprocess.Popen([sys.executable, "-m", "w2v_lite", "classroom", "--no-browser", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=log_path.parent,
                            start_new_session=True)  # own process group: stopping it ends its kernels too
    try:
        deadline = time.monotonic() + 90
        url = None
        while url is None:
            found = re.search(r"classroom page: (http://127\.0\.0\.1:\d+/)", log_path.read_text(errors="replace"))
            if found:
                url = found.group(1)
            elif proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"w2v-lite classroom did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            else:
                time.sleep(0.2)
        assert url == f"http://127.0.0.1:{port}/"
        for _ in range(300):  # the URL is printed before Voilà listens
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.3)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def status(page: Page) -> str:
    return page.locator(STATUS).inner_text()


def wait_for_status(page: Page, pattern: str, timeout: int = 120_000) -> str:
    """Wait until the status line matches `pattern` (a JS regex) and return it."""
    try:
        page.wait_for_function("([sel, p]) => new RegExp(p).test(document.querySelector(sel)?.innerText ?? '')",
                               arg=[STATUS, pattern], timeout=timeout)
    except PlaywrightTimeout:
        screenshot(page, "failure")
        raise AssertionError(f"status never matched {pattern!r}; it says {status(page)!r}") from None
    return status(page)


def figure_sources(page: Page) -> dict[str, str]:
    return {k: page.locator(f"img.w2v-classroom-figure-{k}").get_attribute("src") or "" for k in FIGURES}


def screenshot(page: Page, name: str) -> None:
    """The whole page (Voilà scrolls inside its own container, so grow the viewport to the content)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))  # what a 1280 x 720 projector shows first
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))")
    page.set_viewport_size({"width": 1280, "height": min(int(height) + 40, 6000)})
    page.screenshot(path=str(SHOTS / f"{name}_full.png"))
    page.set_viewport_size({"width": 1280, "height": 720})


def no_error_output(page: Page) -> None:
    assert page.locator(ERRORS).count() == 0, page.locator(ERRORS).all_inner_texts()
    text = page.inner_text("body")
    for bad in ("Traceback", "error when executing", "Error:"):
        assert bad not in text, f"{bad!r} on the page"


def open_page(browser, url: str, microphone: bool) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 720},
                                  permissions=["microphone"] if microphone else [])
    page = context.new_page()
    page.goto(url, timeout=LOAD_MS)
    # the first analysis is drawn: the page comes first and fills in figure by figure, the CTC path last; an
    # empty Image widget already has a blob src, so wait for pixels
    page.wait_for_function("sel => (document.querySelector(sel)?.naturalWidth ?? 0) > 0", arg=CTC_FIGURE,
                           timeout=LOAD_MS)
    return page


@pytest.fixture(scope="module")
def playwright():
    with sync_playwright() as p:  # one per module: the sync API cannot nest
        yield p


@pytest.fixture(scope="module")
def page(playwright, server, clips):
    """One page in a browser whose fake microphone plays clips["mic"] (the tests below share its kernel)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        *FLAGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={clips['mic']}"])
    try:
        yield open_page(browser, server, microphone=True)
    finally:
        browser.close()


def test_page_loads_with_the_embedded_clip_and_no_error(page):
    text = wait_for_status(page, "^done")
    clip = audio.load_default()
    assert text == f"done: the embedded clip gave {output_lengths(clip.numel())} frames."
    summary = page.locator(SUMMARY).inner_text()
    assert f"{clip.numel()} samples" in summary and f"T = {output_lengths(clip.numel())} frames" in summary
    assert all(figure_sources(page).values()), "a figure is missing"
    assert "knows 20 words" in page.inner_text("body")  # the recogniser's limits are stated on the page
    assert page.locator(".jp-InputArea, .jp-InputPrompt").count() == 0  # no code shown
    no_error_output(page)
    screenshot(page, "classroom_loaded")


def test_uploading_a_wav_updates_figures_and_transcript(page, clips):
    before = figure_sources(page)
    with page.expect_file_chooser() as chooser:
        page.click(".widget-upload")
    chooser.value.set_files(str(clips["upload"]))
    frames = output_lengths(sf.info(clips["upload"]).frames)
    text = wait_for_status(page, "^done: the uploaded file")
    assert text == f'done: the uploaded file "upload.wav" gave {frames} frames.'
    transcript = audio.corpus_items("test")[UPLOAD_CLIP][1]  # from the corpus's transcript table
    assert f'"{transcript}"' in page.locator(TRANSCRIPT).inner_text()
    after = figure_sources(page)
    assert all(after[k] != before[k] for k in FIGURES), "a figure was not redrawn"
    no_error_output(page)
    screenshot(page, "classroom_upload")


def test_an_unreadable_upload_gives_one_sentence(page, clips):
    with page.expect_file_chooser() as chooser:
        page.click(".widget-upload")
    chooser.value.set_files(str(clips["bad"]))
    text = wait_for_status(page, "could not be read")
    assert len(re.findall(r"[.!?](\s|$)", text.strip())) == 1 and "\n" not in text.strip()  # one sentence
    no_error_output(page)


def test_a_fake_microphone_recording_reaches_the_model(page):
    page.click(".w2v-mic-button")
    text = wait_for_status(page, "^done: the microphone recording")
    summary = page.locator(SUMMARY).inner_text()
    samples = int(re.search(r"(\d+) samples", summary).group(1))
    frames = int(re.search(r"T = (\d+) frames", summary).group(1))
    assert abs(samples - 3 * 16000) < 0.2 * 16000  # a 3 s recording at 16 kHz
    assert frames == output_lengths(samples)
    assert text == f"done: the microphone recording gave {frames} frames."
    no_error_output(page)
    screenshot(page, "classroom_microphone")


def test_a_denied_microphone_gives_one_sentence(playwright, server):
    # a (fake) microphone exists, but no fake-ui flag and no permission: Chromium refuses getUserMedia as a
    # user who clicks "Block" would (without any device it would say NotFoundError instead)
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=[*FLAGS, "--use-fake-device-for-media-stream"])
    try:
        page = open_page(browser, server, microphone=False)
        page.click(".w2v-mic-button")
        text = wait_for_status(page, "microphone \\(")
        assert text.startswith("The browser did not give the page a microphone (NotAllowedError)")
        no_error_output(page)
    finally:
        browser.close()
