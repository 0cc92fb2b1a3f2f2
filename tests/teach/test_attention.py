"""w2v_lite.teach.attention: recomputed attention weights are the ones the model's SDPA call uses."""

import pytest
import torch

from w2v_lite import Wav2Vec2Model, output_lengths
from w2v_lite.model.ctc import Wav2Vec2ForCTC
from w2v_lite.teach.attention import attention_weights, head_weights


def batch():
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([6000, 16000])
    x = torch.randn(2, 16000, generator=g)
    x[0, 6000:] = 0
    return x, lengths


@pytest.mark.parametrize("stable", [False, True])
def test_weights_times_values_give_the_layer_output(stable, small_model_config):
    torch.manual_seed(0)
    model = Wav2Vec2Model(small_model_config(do_stable_layer_norm=stable)).eval()
    x, lengths = batch()
    seen = []
    handles = [layer.attention.register_forward_hook(lambda m, args, out: seen.append((args, out)))
               for layer in model.encoder.layers]
    weights = attention_weights(model, x, lengths)
    for h in handles:
        h.remove()
    frames = output_lengths(lengths).tolist()
    assert weights.shape == (2, 2, 4, frames[1], frames[1])
    # seen holds the calls of attention_weights' own forward pass: one per layer
    for layer, ((hidden, attend_mask), out) in zip(model.encoder.layers, seen):
        att = layer.attention
        v = att.v_proj(hidden).view(2, -1, 4, 8).transpose(1, 2)  # (B, heads, T, head_dim)
        by_hand = att.out_proj((head_weights(att, hidden, attend_mask) @ v).transpose(1, 2).reshape(2, -1, 32))
        assert (by_hand - out).abs().max() <= 1e-5
    assert (weights[:, 0, :, :, frames[0]:] == 0).all()  # padded keys of the short clip get no weight
    assert (weights.sum(-1) - 1).abs().max() <= 1e-5


def test_ctc_models_are_accepted_and_training_mode_refused(small_model_config):
    torch.manual_seed(0)
    ctc = Wav2Vec2ForCTC(small_model_config(vocab_size=5)).eval()
    x, lengths = batch()
    assert attention_weights(ctc, x, lengths).shape[:3] == (2, 2, 4)
    with pytest.raises(ValueError, match="eval"):
        attention_weights(ctc.train(), x, lengths)
    with pytest.raises(TypeError, match="Wav2Vec2Model"):
        attention_weights(torch.nn.Linear(2, 2), x)
