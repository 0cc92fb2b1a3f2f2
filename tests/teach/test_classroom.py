"""The classroom page without a browser: what it shows for good input, and the one sentence it shows for
bad input (too short, silent, unreadable, a denied microphone). The browser side: tests/browser."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from w2v_lite.data import audio
from w2v_lite.lengths import output_lengths

classroom = pytest.importorskip("w2v_lite.teach.classroom")  # needs the notebooks extra (anywidget)

PNG = b"\x89PNG\r\n\x1a\n"


def one_sentence(text: str) -> bool:
    return "\n" not in text and "Traceback" not in text and text.rstrip().endswith((".", ")"))


@pytest.fixture(scope="module")
def page_and_result():
    """One page that has analysed a corpus clip (the analysis runs the model and draws four figures)."""
    page = classroom.ClassroomPage()
    path, text = audio.corpus_items("test")[7]
    result = page.show(audio.load(path), "clip 7")
    return page, result, text


def test_analysis_shows_frames_transcript_and_figures(page_and_result):
    page, result, reference = page_and_result
    path, _ = audio.corpus_items("test")[7]
    n = sf.info(path).frames  # 16 kHz file: samples straight from its header
    assert result.num_samples == n and result.num_frames == output_lengths(n) == len(result.path)
    assert result.formula.endswith(f"= {(n - 400) // 320 + 1}")
    assert result.text == reference  # the committed model gets this digits clip right
    assert [w.word for w in result.words] == reference.split()
    assert all(0 <= a.start < a.end <= n / 16000 for a in result.words)
    assert result.table[-1][1] == f"(1, {result.num_frames}, 96)"  # ctc-tiny width 96
    assert set(result.figures) == {"frames", "batch", "attention", "ctc"}
    for key, image in page.images.items():
        assert bytes(image.value).startswith(PNG) and bytes(image.value) == result.figures[key]
    assert page.status.value.count("done: clip 7 gave") == 1
    assert f"T = {result.num_frames} frames" in page.summary.value
    assert "seven" in page.transcript.value


@pytest.mark.parametrize(("waveform", "expected"), [
    (torch.full((300,), 0.5), "too short: it has 300 samples"),
    (torch.zeros(16000), "is silent"),
    (torch.full((16000,), float("nan")), "not numbers"),
    (torch.full((int(classroom.MAX_SECONDS * 16000) + 1,), 0.1), "this page shows clips up to"),
])
def test_bad_input_gives_one_plain_sentence_and_keeps_the_figures(page_and_result, waveform, expected):
    page, result, _ = page_and_result
    assert page.show(waveform, "the input") is None
    status = page.status.value.split(">", 1)[1].rsplit("<", 1)[0]  # the sentence inside the status div
    assert expected in status and one_sentence(status)
    assert bytes(page.images["ctc"].value) == result.figures["ctc"]  # the last good figures stay


def test_an_unreadable_upload_is_one_sentence():
    with pytest.raises(classroom.InputProblem, match=r'^"notes.wav" could not be read as audio') as err:
        classroom.read_upload("notes.wav", b"not audio at all")
    assert one_sentence(str(err.value))


def test_an_upload_in_another_format_and_rate_is_read_like_a_file():
    path, _ = audio.corpus_items("test")[7]
    x = audio.load(path).numpy()
    buffer = io.BytesIO()
    sf.write(buffer, np.stack([x, x], 1), 16000, format="FLAC")  # stereo FLAC
    waveform = classroom.read_upload("clip.flac", buffer.getvalue())
    assert waveform.shape == (len(x),) and torch.allclose(waveform, torch.from_numpy(x), atol=1e-4)


def test_microphone_samples_arrive_as_bytes_and_reach_the_page(monkeypatch):
    page = classroom.ClassroomPage()
    shown = []
    monkeypatch.setattr(page, "show", lambda waveform, name: shown.append((waveform, name)))
    samples = np.linspace(-0.5, 0.5, 8000, dtype="<f4")
    # what ipywidgets does with a message from the browser: buffers arrive as memoryview
    page.mic.set_state({"samples": memoryview(samples.tobytes()), "error": "", "count": 1})
    assert len(shown) == 1 and shown[0][1] == "the microphone recording"
    assert torch.equal(shown[0][0], torch.from_numpy(samples))


def test_a_denied_microphone_is_one_sentence_on_the_page():
    page = classroom.ClassroomPage()
    sentence = "The browser did not give the page a microphone (NotAllowedError): allow it, or upload a file."
    page.mic.set_state({"error": sentence, "count": 1})
    assert sentence in page.status.value


def test_cli_refuses_a_taken_port_in_one_line():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "w2v_lite", "classroom", "--port", str(port), "--no-browser"],
                              capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr == f"error: port {port} on 127.0.0.1 is in use; pick another with --port\n"


def test_import_w2v_lite_stays_light():
    code = "import sys, w2v_lite; print(any(m in sys.modules for m in ('voila', 'anywidget', 'matplotlib')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_cli_without_voila_names_the_notebooks_extra():
    code = ("import sys; sys.modules['voila'] = None; sys.modules['voila.app'] = None\n"
            "from w2v_lite.cli import main; sys.exit(main(['classroom', '--no-browser']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("error: the classroom page needs voila and anywidget: "
                           "pip install 'w2v_lite[notebooks]'\n")
