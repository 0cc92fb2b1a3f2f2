"""`explain` on a long clip: the table comes from output_lengths, and the model runs on a short excerpt only."""

import torch

from w2v_lite import Wav2Vec2Config, Wav2Vec2Model, layer_lengths, output_lengths
from w2v_lite.cli import main
from w2v_lite.teach.explain import EXCERPT_SECONDS, explain_rows, long_clip_rows


def test_long_clip_rows_are_the_arithmetic_and_match_a_real_pass():
    torch.manual_seed(0)
    model = Wav2Vec2Model(Wav2Vec2Config.tiny()).eval()
    clip = torch.randn(7 * 16000, generator=torch.Generator().manual_seed(0))
    rows, note = long_clip_rows(model, clip, excerpt_seconds=1.0)
    assert rows == explain_rows(model, clip)  # the same table as a full forward pass, without running one
    lengths = layer_lengths(clip.numel())
    assert [r[1] for r in rows[1:8]] == [f"(1, 64, {n})" for n in lengths[1:]]
    assert "the model ran once on the first 1 s only" in note


def test_cli_long_file_runs_the_model_on_an_excerpt(monkeypatch, capsys):
    seen = []
    forward = Wav2Vec2Model.forward

    def spy(self, input_values, *args, **kwargs):
        seen.append(input_values.shape[-1])
        return forward(self, input_values, *args, **kwargs)

    monkeypatch.setattr(Wav2Vec2Model, "forward", spy)
    assert main(["explain", "--seconds", "60", "--config", "tiny"]) == 0
    out = capsys.readouterr().out
    assert seen == [round(EXCERPT_SECONDS * 16000)]  # one pass, over the excerpt only
    frames = output_lengths(60 * 16000)
    assert f"(1, {frames}, 96)" in out and "long clip: shapes from output_lengths" in out
