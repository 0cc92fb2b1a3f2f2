"""samples -> frames -> frame mask: checked against the real conv stack and against transformers."""

import itertools
import math

import pytest
import torch
import transformers
from hf_utils import small_config
from hypothesis import given, settings
from hypothesis import strategies as st

from w2v_lite import Wav2Vec2Config, frame_mask, layer_lengths, output_lengths, receptive_field, samples_for_frames
from w2v_lite.lengths import (
    layer_receptive_fields,
    lengths_to_mask,
    masked_mean_var,
    require_frames,
    right_padded_lengths,
)
from w2v_lite.model.feature_encoder import FeatureEncoder

ODD = small_config("group-preln-bias")  # kernels (10, 5, 3, 2), strides (5, 3, 2, 1)


def conv_stack_lengths(config, max_len):
    """Frames the real conv stack produces for every L in 0..max_len, by running it once on each prefix
    length. Channels 1 keep it cheap; the length arithmetic does not depend on width."""
    cfg = config.replace(conv_dim=(1,) * len(config.conv_dim), feat_extract_norm="layer")
    convs = [layer.conv for layer in FeatureEncoder(cfg).conv_layers]
    frames = []
    with torch.no_grad():
        for n in range(max_len + 1):
            x = torch.zeros(1, 1, n)
            for conv in convs:
                x = conv(x) if x.shape[-1] >= conv.kernel_size[0] else x[..., :0]
            frames.append(x.shape[-1])
    return frames


@pytest.mark.slow
@pytest.mark.parametrize("config", [Wav2Vec2Config.base(), ODD], ids=["base", "odd"])
def test_output_lengths_equal_real_conv_stack_for_every_length(config):
    n_max = 20_000
    real = conv_stack_lengths(config, n_max)
    computed = output_lengths(torch.arange(n_max + 1), config).tolist()
    assert computed == real
    assert [output_lengths(n, config) for n in range(0, n_max + 1, 997)] == real[::997]


def test_closed_form_and_zero_below_one_window():
    for n in range(0, 400):
        assert output_lengths(n) == 0
    for n in range(400, 200_000, 7):
        assert output_lengths(n) == math.floor((n - 400) / 320) + 1
    assert [output_lengths(s * 16000) for s in (1, 2, 3, 10)] == [49, 99, 149, 499]
    assert receptive_field() == (400, 320)


def hf_reference(config):
    return transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**config.to_hf_dict()))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=400, max_value=300_000), min_size=1, max_size=8))
def test_matches_transformers_formula_above_one_window(lengths):
    ref = _BASE_HF._get_feat_extract_output_lengths(torch.tensor(lengths))
    assert output_lengths(torch.tensor(lengths)).tolist() == ref.tolist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=400, max_value=30_000), min_size=1, max_size=6))
def test_frame_mask_matches_transformers(lengths):
    longest = max(lengths)
    mask = (torch.arange(longest)[None] < torch.tensor(lengths)[:, None]).long()
    num_frames = output_lengths(longest)
    ref = _BASE_HF._get_feature_vector_attention_mask(num_frames, mask)
    ours = frame_mask(output_lengths(torch.tensor(lengths)), num_frames)
    assert torch.equal(ours, ref.bool())


def test_lengths_to_mask_marks_the_first_n_positions_of_each_row():
    mask = lengths_to_mask(torch.tensor([3, 0, 5]), 5)
    expected = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(mask, expected)
    with pytest.raises(ValueError, match=r"lengths must have shape \(B,\)"):
        lengths_to_mask(torch.tensor([[3]]), 5)


def test_sample_mask_and_frame_mask_come_from_the_same_builder():
    """pad_batch's sample mask and the model's frame mask both mark the first `count` positions."""
    from w2v_lite.data.audio import pad_batch

    batch = pad_batch([torch.ones(500), torch.ones(1200)])
    assert torch.equal(batch.attention_mask.bool(), lengths_to_mask(batch.sample_lengths, 1200))
    frames = output_lengths(batch.sample_lengths)
    assert torch.equal(frame_mask(frames, 3), lengths_to_mask(frames, 3))
    assert frames.tolist() == [1, 3]  # floor((L - 400) / 320) + 1


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=2000))
def test_samples_for_frames_inverts_output_lengths(t):
    lo, hi = samples_for_frames(t, ODD)
    assert output_lengths(lo, ODD) == t == output_lengths(hi, ODD)
    assert lo == 0 or output_lengths(lo - 1, ODD) < t
    assert output_lengths(hi + 1, ODD) > t


def test_samples_for_frames_base_closed_form():
    assert samples_for_frames(149) == (400 + 320 * 148, 400 + 320 * 149 - 1)
    assert samples_for_frames(0) == (0, 399)


def test_layer_lengths_monotone_and_bad_input():
    steps = layer_lengths(48_000)
    assert steps[0] == 48_000 and steps[-1] == 149
    assert all(a > b for a, b in itertools.pairwise(steps))
    with pytest.raises(ValueError, match=">= 0"):
        output_lengths(-1)
    with pytest.raises(TypeError, match="integer"):
        output_lengths(torch.tensor([1.5]))
    with pytest.raises(TypeError, match="int"):
        output_lengths(3.0)


_BASE_HF = hf_reference(Wav2Vec2Config.base(num_hidden_layers=1))


def test_numpy_integers_are_accepted():
    import numpy as np

    assert output_lengths(np.int64(48_000)) == 149


def test_layer_receptive_fields_end_at_the_stack_receptive_field():
    fields = layer_receptive_fields()
    assert fields[0] == (10, 5) and fields[-1] == (400, 320) == receptive_field()
    assert [hop for _, hop in fields] == [5, 10, 20, 40, 80, 160, 320]


def test_masked_mean_var_ignores_masked_positions():
    x = torch.tensor([[1.0, 3.0, 100.0], [2.0, 2.0, 2.0]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    mean, var = masked_mean_var(x, mask)
    assert mean.flatten().tolist() == [2.0, 2.0] and var.flatten().tolist() == [1.0, 0.0]


def test_require_frames_is_output_lengths_or_one_clear_error():
    assert require_frames(400) == output_lengths(400) == 1
    assert require_frames(torch.tensor([400, 48_000])).tolist() == [1, 149]
    with pytest.raises(ValueError, match=r"^the clip has 399 samples, fewer than the 400 \(25 ms\) one frame needs"):
        require_frames(399)
    with pytest.raises(ValueError, match=r"^clips \[1, 2\] have \[0, 399\] samples, fewer than the 400"):
        require_frames(torch.tensor([400, 0, 399]))
    # the window comes from the config: a stack with one kernel-2 layer needs 2 samples (0.125 ms at 16 kHz)
    one_layer = Wav2Vec2Config.tiny(conv_dim=(8,), conv_kernel=(2,), conv_stride=(1,))
    assert require_frames(2, one_layer) == 1
    with pytest.raises(ValueError, match=r"fewer than the 2 \(0.125 ms\)"):
        require_frames(1, one_layer)


def test_right_padded_lengths_counts_rows_and_names_the_mask():
    mask = torch.tensor([[True, True, False], [True, True, True], [False, False, False]])
    assert right_padded_lengths(mask, "frame_mask").tolist() == [2, 3, 0]
    with pytest.raises(ValueError, match=r"^frame_mask is not right-padded"):
        right_padded_lengths(torch.tensor([[True, False, True]]), "frame_mask")
