"""w2v_lite.padding: the measurements behind notebook 03 report real effects, and only real ones."""

import pytest
import torch

from w2v_lite.data.audio import normalize
from w2v_lite.lengths import output_lengths
from w2v_lite.teach.padding import (
    crops,
    leak_without_zeroing,
    mask_stages,
    naive_normalize,
    padding_invariance_error,
    padding_waste,
    realistic_lengths,
    sweep,
    valid_stats,
)


@pytest.fixture(scope="module")
def clip() -> torch.Tensor:
    return torch.randn(6000, generator=torch.Generator().manual_seed(3))


def test_no_padding_means_no_change(clip, small_model):
    assert padding_invariance_error(small_model(), clip, 0) == 0.0


def test_layer_norm_model_with_mask_is_invariant_but_not_without(clip, small_model):
    model = small_model(feat_extract_norm="layer", conv_bias=True, do_stable_layer_norm=True)
    assert max(sweep(model, clip, [320, 4001, 16000])) <= 1e-5
    # without the mask the transformer attends to the padded frames
    assert padding_invariance_error(model, clip, 16000, use_mask=False) > 1e-2


def test_group_norm_error_grows_and_mask_aware_removes_it(clip, small_model):
    errors = sweep(small_model(), clip, [1600, 16000, 48000])
    assert errors[0] > 1e-3 and errors[0] < errors[1] < errors[2]
    assert max(sweep(small_model(mask_aware_group_norm=True), clip, [1600, 16000, 48000])) <= 1e-5


def test_sweep_equals_single_measurements(clip, small_model):
    model = small_model()
    extras = [800, 4000]
    assert sweep(model, clip, extras) == [padding_invariance_error(model, clip, e) for e in extras]


def test_measurement_rejects_bad_inputs(clip, small_model):
    model = small_model()
    with pytest.raises(ValueError, match="eval"):
        padding_invariance_error(small_model().train(), clip, 100)
    with pytest.raises(TypeError, match="1-D"):
        padding_invariance_error(model, clip[None], 100)
    with pytest.raises(ValueError, match="extra_samples"):
        padding_invariance_error(model, clip, -1)
    with pytest.raises(TypeError, match="extra_samples"):
        padding_invariance_error(model, clip, 0.5)
    with pytest.raises(TypeError, match="Wav2Vec2Model"):
        padding_invariance_error(torch.nn.Linear(2, 2), clip, 10)


def test_leak_reaches_exactly_the_last_half_kernel_frames(clip, small_model):
    model = small_model(feat_extract_norm="layer", conv_bias=True)
    leak = leak_without_zeroing(model, clip, 8000)
    frames = output_lengths(clip.numel())
    assert leak.without_zeroing.shape == leak.with_zeroing.shape == (frames,)
    assert leak.kernel == 16
    assert leak.with_zeroing.max() <= 1e-5  # zeroing = the clip alone, as the encoder promises
    assert leak.leaky_frames == 16 // 2 - 1
    assert (leak.without_zeroing[-leak.leaky_frames :] > 1e-4).all()  # the leak sits at the end
    assert leak.without_zeroing[: -leak.leaky_frames].max() <= 1e-5


def test_leak_requires_a_model_whose_conv_features_ignore_padding(clip, small_model):
    with pytest.raises(ValueError, match="mask_aware_group_norm"):
        leak_without_zeroing(small_model(), clip, 1000)
    leak = leak_without_zeroing(small_model(mask_aware_group_norm=True), clip, 1000)
    assert leak.with_zeroing.max() <= 1e-5


def test_mask_stages_chain():
    stages = mask_stages([16000, 35200, 400])
    assert stages.sample_mask.shape == (3, 35200)
    assert stages.sample_mask.sum(1).tolist() == [16000, 35200, 400]
    assert stages.frame_lengths.tolist() == [49, 109, 1]
    assert stages.frame_mask.shape == (3, 109)
    assert stages.frame_mask.sum(1).tolist() == [49, 109, 1]
    assert not stages.frame_mask[0, 49:].any() and stages.frame_mask[0, :49].all()
    keys = stages.attend_mask
    assert keys.shape == (3, 1, 1, 109) and keys.dtype == torch.bool
    assert keys[0, 0, 0, :49].all() and not keys[0, 0, 0, 49:].any()
    with pytest.raises(ValueError, match="positive"):
        mask_stages([100, 0])


def test_mask_stages_match_the_model(small_model):
    model = small_model()
    batch = crops(torch.randn(20000, generator=torch.Generator().manual_seed(1)), [0.5, 1.25])
    with torch.no_grad():
        out = model(batch.input_values, attention_mask=batch.attention_mask)
    assert torch.equal(out.frame_mask, mask_stages(batch.sample_lengths.tolist()).frame_mask)


def test_attend_mask_is_what_self_attention_receives(small_model):
    model = small_model()
    batch = crops(torch.randn(20000, generator=torch.Generator().manual_seed(1)), [0.5, 1.25])
    seen = []
    handle = model.encoder.layers[0].attention.register_forward_pre_hook(lambda _m, args: seen.append(args[1]))
    with torch.no_grad():
        model(batch.input_values, sample_lengths=batch.sample_lengths)
    handle.remove()
    assert torch.equal(seen[0], mask_stages(batch.sample_lengths.tolist()).attend_mask)


def test_naive_normalisation_is_wrong_on_short_clips_and_valid_only_is_right():
    g = torch.Generator().manual_seed(0)
    batch = crops(0.3 + 0.5 * torch.randn(32000, generator=g), [0.5, 2.0])
    naive, proper = naive_normalize(batch.input_values), normalize(batch.input_values, batch.sample_lengths)
    means, stds = valid_stats(proper, batch.sample_lengths)
    assert means.abs().max() < 1e-5 and (stds - 1).abs().max() < 1e-4
    _, naive_stds = valid_stats(naive, batch.sample_lengths)
    assert naive_stds[0] > 1.5  # the short clip's statistics were diluted by 1.5 s of zeros
    assert (naive[0, 8000:] != 0).all()  # and its padding is no longer silence
    assert (proper[0, 8000:] == 0).all()


def test_valid_stats_uses_only_real_samples():
    x = torch.tensor([[1.0, 3.0, 100.0], [2.0, 2.0, 2.0]])
    means, stds = valid_stats(x, torch.tensor([2, 3]))
    assert means.tolist() == [2.0, 2.0] and stds.tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="lengths"):
        valid_stats(x, torch.tensor([2]))


def test_bucketing_wastes_far_less_than_naive_batching():
    lengths = realistic_lengths(300, seed=1)
    assert realistic_lengths(300, seed=1) == lengths  # seeded
    assert min(lengths) >= 8000 and max(lengths) <= 15 * 16000
    waste = padding_waste(lengths, batch_size=8)
    assert 0 <= waste["bucketed"] < waste["naive"] / 5
    assert padding_waste([16000] * 16, batch_size=4) == {"naive": 0.0, "bucketed": 0.0}
