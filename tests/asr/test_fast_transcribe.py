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
