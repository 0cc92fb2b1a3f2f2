"""The cost model: FLOPs equal torch's FlopCounterMode on real forward passes (ours and transformers'),
and activation bytes agree with a dispatch-level measurement of the tensors the forward creates."""

from __future__ import annotations

import pytest
import torch
from hf_utils import hf_model, padded_batch, small_config
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

import w2v_lite
from w2v_lite import Wav2Vec2Config, Wav2Vec2Model
from w2v_lite.cost_model import ActivationMeter, cost, peak_activation_bytes, stage_group, total

# FlopCounterMode has an SDPA formula for the CUDA kernels only; the CPU kernel gets the very same formula
CPU_SDPA = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu:
            lambda q, k, v, *args, out_shape=None, **kwargs: sdpa_flop_count(q, k, v)}

CONFIGS = {
    "tiny": Wav2Vec2Config.tiny(layerdrop=0.0),
    "group-postln": small_config("group-postln"),
    "group-preln-bias": small_config("group-preln-bias"),
    "layer-postln-bias": small_config("layer-postln-bias"),
    "lv60-like": small_config("lv60-like"),
}


def counted(model: torch.nn.Module, x: torch.Tensor, mask: torch.Tensor | None = None) -> FlopCounterMode:
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=CPU_SDPA) as counter:
        model(x, attention_mask=mask)
    return counter


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("num_samples", [400, 5_000, 16_000, 37_123])
def test_total_flops_equal_flop_counter(name, num_samples):
    cfg = CONFIGS[name]
    torch.manual_seed(0)
    model = Wav2Vec2Model(cfg).eval()
    x = torch.randn(2, num_samples)
    counter = counted(model, x)
    stages = cost(cfg, num_samples, batch_size=2)
    assert total(stages) == counter.get_total_flops()
    # and kind by kind: the first conv layer runs as one batched matmul (see feature_encoder.py), the other
    # conv layers and the positional conv as convolutions; Linear layers as addmm; attention as SDPA
    by_op = {str(k): v for k, v in counter.get_flop_counts()["Global"].items()}
    groups = total(stages, by_group=True)
    assert by_op["aten.bmm"] == stages["conv0"]["flops"]
    assert by_op["aten.convolution"] == groups["conv stack"] - stages["conv0"]["flops"] + groups["pos_conv"]
    assert by_op["aten.addmm"] == groups["feature_projection"] + groups["qkv_out"] + groups["feed_forward"]
    assert by_op["aten._scaled_dot_product_flash_attention_for_cpu"] == groups["scores"] + groups["attn_v"]


def test_base_flops_equal_flop_counter_and_transformers():
    """The base model at 1 s: 13.82 GFLOP (13.73 of them matmuls and convolutions), ours and HF's alike."""
    cfg = Wav2Vec2Config.base(layerdrop=0.0)
    hf = hf_model(cfg)
    stages = cost(cfg, 16_000)
    assert total(stages) == 13_822_748_672
    assert counted(hf, torch.randn(1, 16_000)).get_total_flops() == total(stages)
    assert counted(Wav2Vec2Model.from_hf(hf), torch.randn(1, 16_000)).get_total_flops() == total(stages)


def test_padded_batch_costs_the_padded_length():
    """A padded batch pays for its longest clip in every row: the mask changes what is valid, not the work."""
    cfg = CONFIGS["lv60-like"]
    torch.manual_seed(0)
    model = Wav2Vec2Model(cfg).eval()
    x, mask = padded_batch([16_000, 9_000, 4_000])
    assert counted(model, x, mask).get_total_flops() == total(cost(cfg, 16_000, batch_size=3))


@pytest.mark.parametrize("name", ["tiny", "layer-postln-bias"])
def test_conv_layer_flops_and_bytes_per_stage(name):
    """Each conv layer on its own: FLOPs exactly, written bytes within 1% (norm statistics are extra)."""
    cfg = CONFIGS[name]
    torch.manual_seed(0)
    model = Wav2Vec2Model(cfg).eval()
    stages = cost(cfg, 20_000)
    x = torch.randn(1, 1, 20_000)
    for i, layer in enumerate(model.feature_extractor.conv_layers):
        with torch.no_grad(), FlopCounterMode(display=False) as counter, ActivationMeter() as meter:
            y = layer(x)
        assert counter.get_total_flops() == stages[f"conv{i}"]["flops"]
        assert meter.written == pytest.approx(stages[f"conv{i}"]["activation_bytes"], rel=0.01)
        x = y


@pytest.mark.parametrize(
    ("cfg", "num_samples", "part"),
    [
        (Wav2Vec2Config.base(layerdrop=0.0), 8_000, "pos_conv"),  # short: the rebuilt pos-conv kernel wins
        (Wav2Vec2Config.base(layerdrop=0.0), 48_000, "conv stack"),  # 3 s: the first conv layer wins
        (CONFIGS["tiny"], 160_000, "conv stack"),
        (CONFIGS["lv60-like"], 48_000, "conv stack"),
        (CONFIGS["layer-postln-bias"], 16_000, "transformer"),  # a narrow conv stack with short strides
    ],
)
def test_peak_activation_bytes_match_measured_peak(cfg, num_samples, part):
    """Predicted peak vs the measured peak of live activations (+ the input waveform): within 3% where the
    conv stack or the positional kernel sets it, 10% for the rougher transformer term."""
    torch.manual_seed(0)
    model = Wav2Vec2Model(cfg).eval()
    x = torch.randn(1, num_samples)
    with torch.no_grad(), ActivationMeter() as meter:
        model(x)
    predicted = peak_activation_bytes(cfg, num_samples)
    assert predicted["peak"] == predicted[part]
    assert meter.peak + x.nbytes == pytest.approx(predicted["peak"], rel=0.1 if part == "transformer" else 0.03)


def test_first_conv_layer_dominates_long_clips():
    """The lesson's claim: for the base model the first conv layer's 512 x L/5 outputs set the memory peak,
    at about 2 x 512 / 5 x 4 bytes = 819 bytes per input sample (13.1 MB per second of audio)."""
    cfg = Wav2Vec2Config.base()
    peak = peak_activation_bytes(cfg, 10 * 16_000)
    assert peak["peak"] == peak["conv stack"] == (160_000 + 2 * 512 * 31_999) * 4
    assert cost(cfg, 160_000)["conv0"]["activation_bytes"] == 3 * 512 * 31_999 * 4


def test_attention_is_quadratic_and_the_rest_linear():
    cfg = Wav2Vec2Config.base()
    short, long = cost(cfg, 400 + 320 * 99), cost(cfg, 400 + 320 * 199)  # T = 100 and T = 200 frames
    assert total(long, by_group=True)["scores"] == 4 * total(short, by_group=True)["scores"]
    assert total(long, by_group=True)["feed_forward"] == 2 * total(short, by_group=True)["feed_forward"]
    assert stage_group("layer11.attn_v") == "attn_v" and stage_group("conv3") == "conv stack"


def test_stage_names_and_exported():
    cfg = Wav2Vec2Config.tiny()
    stages = w2v_lite.cost(cfg, 16_000)
    expected = [f"conv{i}" for i in range(7)] + ["feature_projection", "pos_conv"] + [
        f"layer{i}.{s}" for i in range(3) for s in ("qkv_out", "scores", "attn_v", "feed_forward")]
    assert list(stages) == expected
    assert all(set(v) == {"flops", "activation_bytes"} and all(isinstance(n, int) for n in v.values())
               for v in stages.values())


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (("base", 16_000), TypeError, "config must be a Wav2Vec2Config"),
        ((Wav2Vec2Config.tiny(), 399), ValueError, "the clip has 399 samples, fewer than the 400"),
        ((Wav2Vec2Config.tiny(), 1.5), TypeError, "sample length must be an int"),
        ((Wav2Vec2Config.tiny(), -5), ValueError, "sample length must be >= 0"),
        ((Wav2Vec2Config.tiny(), 16_000, 0), ValueError, "batch_size must be a positive int"),
    ],
)
def test_bad_arguments_raise_one_clear_error(args, error, match):
    with pytest.raises(error, match=match):
        cost(*args)


def test_activation_meter_counts_new_storages_once_and_frees_them():
    x = torch.randn(1000)  # made outside the block: never counted
    with ActivationMeter() as meter:
        y = x * 2  # 4000 bytes
        view = y[:10]  # a view: same storage, not counted again
        z = torch.relu(y)  # 4000 more: peak 8000
        del y, view
        w = z + 1  # y's storage is gone: live 8000 again
        del z, w
        x[:5]  # a view of an outside tensor
    assert (meter.written, meter.peak, meter.live) == (12_000, 8_000, 0)
