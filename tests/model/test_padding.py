"""Padding behaviour: layer norm is padding-invariant with a mask, plain GroupNorm is not, and the
mask-aware GroupNorm restores invariance."""

import pytest
import torch
from hf_utils import small_config

from w2v_lite import Wav2Vec2Model


def valid_output_change(model, clip, extra):
    """Max |difference| on the clip's valid frames between running it alone and padded by `extra` zeros
    inside a batch with a longer clip."""
    torch.manual_seed(0)
    other = torch.randn(clip.numel() + extra)
    batch = torch.zeros(2, clip.numel() + extra)
    batch[0, : clip.numel()] = clip
    batch[1] = other
    lengths = torch.tensor([clip.numel(), other.numel()])
    with torch.no_grad():
        alone = model(clip[None]).last_hidden_state[0]
        padded = model(batch, sample_lengths=lengths).last_hidden_state[0, : alone.shape[0]]
    return (alone - padded).abs().max().item()


@pytest.mark.parametrize("extra", [320, 4001, 16000])
def test_layer_norm_model_with_mask_is_padding_invariant(extra):
    torch.manual_seed(1)
    model = Wav2Vec2Model(small_config("lv60-like")).eval()
    clip = torch.randn(6000)
    assert valid_output_change(model, clip, extra) <= 1e-5


@pytest.mark.parametrize("extra", [4001, 16000])
def test_group_norm_model_is_not_padding_invariant(extra):
    torch.manual_seed(1)
    model = Wav2Vec2Model(small_config("group-postln", conv_dim=(32,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2),
                                       conv_stride=(5, 2, 2, 2, 2, 2, 2))).eval()
    clip = torch.randn(6000)
    # the documented limitation: GroupNorm statistics include the padding
    assert valid_output_change(model, clip, extra) > 1e-2


@pytest.mark.parametrize("extra", [320, 4001, 16000])
def test_mask_aware_group_norm_is_padding_invariant(extra):
    torch.manual_seed(1)
    cfg = small_config("group-postln", conv_dim=(32,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2),
                       conv_stride=(5, 2, 2, 2, 2, 2, 2), mask_aware_group_norm=True)
    model = Wav2Vec2Model(cfg).eval()
    clip = torch.randn(6000)
    assert valid_output_change(model, clip, extra) <= 1e-5


def test_mask_aware_group_norm_equals_plain_without_padding():
    """With no padding the valid statistics are the full statistics, so the weights stay compatible."""
    torch.manual_seed(2)
    plain = Wav2Vec2Model(small_config("group-postln")).eval()
    aware = Wav2Vec2Model(small_config("group-postln", mask_aware_group_norm=True)).eval()
    aware.load_state_dict(plain.state_dict())
    x = torch.randn(2, 5000)
    full = torch.tensor([5000, 5000])
    with torch.no_grad():
        torch.testing.assert_close(aware(x, sample_lengths=full).last_hidden_state, plain(x).last_hidden_state,
                                   atol=1e-5, rtol=0)
