"""Gumbel vector quantizer: reference values and parity with transformers."""

import math

import pytest
import torch
import transformers
from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2GumbelVectorQuantizer as HFQuantizer

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.model.quantizer import GumbelVectorQuantizer, gumbel_temperature, perplexity

# Unusual sizes on purpose: 3 groups of 7 entries, 5 channels each; 24 conv channels in.
CFG = Wav2Vec2Config(conv_dim=(16, 24), conv_kernel=(3, 2), conv_stride=(2, 2), hidden_size=32,
                     num_attention_heads=2, num_conv_pos_embedding_groups=2, num_codevector_groups=3,
                     num_codevectors_per_group=7, codevector_dim=15)


def _pair():
    torch.manual_seed(0)
    ours = GumbelVectorQuantizer(CFG)
    hf = HFQuantizer(transformers.Wav2Vec2Config(**CFG.to_hf_dict()))
    hf.load_state_dict(ours.state_dict())  # same names and shapes
    return ours, hf


def _inputs():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 9, 24, generator=g) * 0.3
    mask = torch.zeros(2, 9, dtype=torch.bool)
    mask[0, 2:6] = True
    mask[1, 5:9] = True
    return x, mask


def test_perplexity_reference_values():
    probs = torch.arange(100, dtype=torch.float32).reshape(2, 5, 10) / 100
    assert abs(perplexity(probs).item() - 141.4291) < 1e-3
    mask = torch.ones(2, dtype=torch.bool)
    mask[0] = False
    assert abs(perplexity(probs, mask).item() - 58.6757) < 1e-3
    # a (B, T) mask is flattened to the N = B*T frames
    assert perplexity(probs, mask.view(1, 2)).item() == perplexity(probs, mask).item()


def test_perplexity_extremes():
    uniform = torch.full((6, 3, 8), 1 / 8)
    assert perplexity(uniform).item() == pytest.approx(3 * 8)
    collapsed = torch.zeros(6, 3, 8)
    collapsed[..., 2] = 1.0
    assert perplexity(collapsed).item() == pytest.approx(3.0)  # one code per group used


def test_perplexity_bad_input():
    with pytest.raises(ValueError, match=r"\(N, G, V\)"):
        perplexity(torch.ones(4, 5))
    with pytest.raises(ValueError, match="3 entries"):
        perplexity(torch.ones(4, 2, 5), torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="no frame"):
        perplexity(torch.ones(4, 2, 5), torch.zeros(4, dtype=torch.bool))


def test_gumbel_temperature_schedule():
    assert gumbel_temperature(0) == 2.0
    assert gumbel_temperature(1000) == pytest.approx(2 * 0.999995**1000)
    assert gumbel_temperature(10**7) == 0.5
    # 2 * d**s = 0.5 at s = ln(1/4) / ln(d) ~= 277k steps
    s = math.log(0.25) / math.log(0.999995)
    assert gumbel_temperature(int(s) - 1000) > 0.5 and gumbel_temperature(int(s) + 1000) == 0.5
    with pytest.raises(ValueError, match="step"):
        gumbel_temperature(-1)
    with pytest.raises(ValueError, match="min_temp"):
        gumbel_temperature(0, max_temp=0.4, min_temp=0.5)


def test_init_and_names():
    torch.manual_seed(0)
    q = GumbelVectorQuantizer(
        CFG.replace(num_codevectors_per_group=320, num_codevector_groups=2, codevector_dim=256)
    )
    assert q.codevectors.shape == (1, 640, 128)
    assert tuple(q.weight_proj.weight.shape) == (640, 24)
    assert q.weight_proj.weight.std().item() == pytest.approx(1.0, abs=0.02)
    assert (q.weight_proj.bias == 0).all()
    assert q.codevectors.min() >= 0 and q.codevectors.max() < 1
    assert set(q.state_dict()) == {"codevectors", "weight_proj.weight", "weight_proj.bias"}


@pytest.mark.parametrize("use_mask", [False, True])
def test_eval_matches_transformers_exactly(use_mask):
    ours, hf = _pair()
    ours.eval(), hf.eval()
    x, mask = _inputs()
    mask = mask if use_mask else None
    cv, ppl, idx = ours(x, mask, return_indices=True)
    hf_cv, hf_ppl = hf(x, mask)
    assert cv.shape == (2, 9, 15) and idx.shape == (2, 9, 3)
    assert torch.equal(cv, hf_cv) and torch.equal(ppl, hf_ppl)
    # teaching helpers agree with the forward pass
    assert torch.equal(idx, ours.code_indices(x))
    assert torch.equal(ours.lookup(idx), cv)


@pytest.mark.parametrize("temperature", [2.0, 0.5])
def test_train_matches_transformers_under_same_seed(temperature):
    ours, hf = _pair()
    ours.train(), hf.train()
    ours.temperature = hf.temperature = temperature
    x, mask = _inputs()
    torch.manual_seed(5)
    cv, ppl, idx = ours(x, mask, return_indices=True)
    torch.manual_seed(5)
    hf_cv, hf_ppl = hf(x, mask)
    assert torch.equal(cv, hf_cv) and torch.equal(ppl, hf_ppl)  # same ops, same noise: bit-identical
    # the forward one-hot ignores tau; the straight-through gradient does not
    (cv.square().sum() + ppl).backward()
    (hf_cv.square().sum() + hf_ppl).backward()
    for name, p in hf.named_parameters():
        torch.testing.assert_close(ours.get_parameter(name).grad, p.grad, rtol=1e-6, atol=1e-6)
    # the Gumbel noise changes the choice for some frames relative to the argmax
    torch.testing.assert_close(ours.lookup(idx), cv, rtol=0, atol=1e-6)
    assert not torch.equal(idx, ours.code_indices(x))


def test_train_perplexity_uses_soft_probabilities_of_masked_frames():
    ours, _ = _pair()
    ours.train()
    x, mask = _inputs()
    _, ppl = ours(x, mask)
    soft = torch.softmax(ours.logits(x), dim=-1)[mask]  # (n_masked, G, V)
    assert ppl.item() == pytest.approx(perplexity(soft).item(), rel=1e-6)


def test_gradients_reach_projection_and_codebook():
    ours, _ = _pair()
    ours.train()
    x, mask = _inputs()
    x.requires_grad_(True)
    cv, ppl = ours(x, mask)
    (cv.square().sum() - ppl).backward()
    assert ours.weight_proj.weight.grad.abs().sum() > 0
    assert ours.codevectors.grad.abs().sum() > 0
    assert x.grad.abs().sum() > 0
    # eval (argmax): only the chosen codevectors get a gradient, the projection none
    ours.zero_grad()
    ours.eval()
    cv = ours(x)[0]
    cv.sum().backward()
    used = torch.zeros(3, 7, dtype=torch.bool)
    grad_rows = ours.codevectors.grad[0].abs().sum(-1).view(3, 7) > 0
    idx = ours.code_indices(x).reshape(-1, 3)
    for g in range(3):
        used[g, idx[:, g].unique()] = True
    assert torch.equal(grad_rows, used)
    assert ours.weight_proj.weight.grad is None or ours.weight_proj.weight.grad.abs().sum() == 0
