"""The opt-in fast path: a copy with int8 Linear layers and/or torch.compile; the original stays as it was."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from w2v_lite import Wav2Vec2Config, Wav2Vec2ForCTC, Wav2Vec2Model


def tiny_model() -> Wav2Vec2Model:
    torch.manual_seed(0)
    return Wav2Vec2Model(Wav2Vec2Config.tiny(layerdrop=0.0)).eval()


def test_no_options_is_an_exact_copy_and_the_original_is_untouched():
    model = tiny_model()
    x = torch.randn(2, 16_000, generator=torch.Generator().manual_seed(1))
    fast = model.optimize_for_inference()
    assert fast is not model and not fast.training
    with torch.no_grad():
        assert torch.equal(fast(x).last_hidden_state, model(x).last_hidden_state)
    assert all(p.requires_grad for p in model.parameters())  # the original can still be trained
    assert not any(p.requires_grad for p in fast.parameters())


def test_int8_quantizes_every_linear_and_stays_close():
    model = tiny_model()
    x = torch.randn(1, 32_000, generator=torch.Generator().manual_seed(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the torch.ao deprecation warning is handled, not leaked
        fast = model.optimize_for_inference(quantize="int8")
    linears = [m for m in model.modules() if type(m) is nn.Linear]
    quantized = [m for m in fast.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    assert len(quantized) == len(linears) == 1 + 6 * 3  # projection + (q, k, v, out, 2 FFN) per layer
    assert not any(type(m) is nn.Linear for m in fast.modules())
    assert all(type(m) is nn.Linear for m in linears)  # the original keeps fp32 layers
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")  # and running it warns of nothing either
        ref, out = model(x).last_hidden_state, fast(x).last_hidden_state
    cosine = torch.nn.functional.cosine_similarity(ref.flatten(), out.flatten(), dim=0)
    assert 0.99 < cosine < 1.0  # int8 changes the numbers a little, not the meaning
    assert 0 < (ref - out).abs().max() < 0.5


def test_ctc_model_has_the_method_and_quantizes_its_head():
    torch.manual_seed(0)
    model = Wav2Vec2ForCTC(Wav2Vec2Config.tiny(vocab_size=12)).eval()
    fast = model.optimize_for_inference(quantize="int8")
    assert isinstance(fast.lm_head, torch.ao.nn.quantized.dynamic.Linear)
    with torch.no_grad():
        assert fast(torch.randn(1, 8_000)).logits.shape == (1, 24, 12)


def test_compile_wraps_the_copy():
    fast = tiny_model().optimize_for_inference(quantize="int8", compile=True)
    assert isinstance(fast, torch._dynamo.eval_frame.OptimizedModule)
    assert isinstance(fast._orig_mod.encoder.layers[0].feed_forward.intermediate_dense,
                      torch.ao.nn.quantized.dynamic.Linear)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(quantize="int4"), "quantize must be None, 'int8' or 'int8-conv'"),
    (dict(quantize=True), "quantize must be None, 'int8' or 'int8-conv'"),
    (dict(quantize="int8-conv"), "needs backend='onnxruntime'"),
    (dict(compile="yes"), "compile must be True or False"),
])
def test_bad_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny_model().optimize_for_inference(**kwargs)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("num_samples", [10, 11, 777, 16_000])
def test_first_conv_layer_as_matmul_equals_conv1d(bias, num_samples):
    """The eager speed-up of the first conv layer (a batched matmul over a strided view) computes Conv1d."""
    torch.manual_seed(0)
    layer = Wav2Vec2Model(Wav2Vec2Config.tiny(conv_bias=bias)).feature_extractor.conv_layers[0].eval()
    x = torch.randn(3, 2 * num_samples)[:, ::2][:, None, :]  # a non-contiguous batch, as a view
    with torch.no_grad():
        expected = torch.nn.functional.conv1d(x, layer.conv.weight, layer.conv.bias, stride=5)
        torch.testing.assert_close(layer._conv_one_channel(x), expected, rtol=1e-6, atol=1e-6)
