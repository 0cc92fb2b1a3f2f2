"""`transcribe --fast`: the int8 path on the committed CTC checkpoint keeps its accuracy."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from w2v_lite.asr.metrics import cer
from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.asr.transcribe import add_transcribe_parser
from w2v_lite.data.audio import corpus_items, load

CLIP = Path(__file__).resolve().parents[1] / "assets" / "four_seven_two_22k_stereo.wav"


def test_fast_flag_transcribes_the_same_text(capsys):
    parser = argparse.ArgumentParser()
    add_transcribe_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["transcribe", str(CLIP), "--fast"])
    assert args.fast
    args.func(args)
    assert capsys.readouterr().out.strip() == f"{CLIP}\t{Recognizer.load().transcribe(CLIP).text}"


def test_int8_changes_held_out_cer_by_at_most_half_a_point():
    items = corpus_items("test")
    refs = [text for _, text in items]
    waves = [load(path) for path, _ in items]
    fp32 = cer(refs, [r.text for r in Recognizer.load().transcribe(waves, batched=False)])
    int8 = cer(refs, [r.text for r in Recognizer.load(fast=True).transcribe(waves, batched=False)])
    assert abs(int8 - fp32) <= 0.005, (fp32, int8)
    assert int8 == pytest.approx(fp32, abs=0.005)


@pytest.fixture(scope="module")
def held_out() -> tuple[list[str], list]:
    items = corpus_items("test")
    return [text for _, text in items], [load(path) for path, _ in items]


def test_onnxruntime_backend_transcribes_the_test_set_exactly_as_eager(held_out):
    """The fp32 graph is exact (max diff ~1e-5), so every held-out transcript equals eager's, batched or not."""
    refs, waves = held_out
    eager = Recognizer.load()
    graph = Recognizer.load(backend="onnxruntime")
    assert type(graph.model).__name__ == "OnnxModel"
    for batched in (False, True):
        expected = [r.text for r in eager.transcribe(waves, batched=batched)]
        assert [r.text for r in graph.transcribe(waves, batched=batched)] == expected
    assert cer(refs, expected) < 0.05  # and they are good transcripts, not equal garbage


def test_onnxruntime_int8_keeps_held_out_cer_within_half_a_point(held_out):
    refs, waves = held_out
    fp32 = cer(refs, [r.text for r in Recognizer.load().transcribe(waves)])
    int8 = cer(refs, [r.text for r in Recognizer.load(fast=True, backend="onnxruntime").transcribe(waves)])
    assert abs(int8 - fp32) <= 0.005, (fp32, int8)


def test_backend_flag_on_the_command_line(capsys):
    parser = argparse.ArgumentParser()
    add_transcribe_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["transcribe", str(CLIP), "--backend", "onnxruntime"])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == f"{CLIP}\t{Recognizer.load().transcribe(CLIP).text}"


def test_unknown_backend_is_a_usage_error():
    with pytest.raises(ValueError, match="backend must be 'torch' or 'onnxruntime'"):
        Recognizer.load(backend="tensorrt")
