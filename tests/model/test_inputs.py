"""Bad input gets a ValueError or TypeError that names the problem and the fix."""

import pytest
import torch
from hf_utils import small_config

from w2v_lite import Wav2Vec2Model

LEFT_PADDED = torch.cat([torch.zeros(1, 100), torch.ones(1, 3900)], 1)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Wav2Vec2Model(small_config("lv60-like")).eval()


def test_one_dimensional_input_is_a_batch_of_one(model):
    x = torch.randn(4000)
    torch.testing.assert_close(model(x).last_hidden_state, model(x[None]).last_hidden_state)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(input_values=torch.randn(399)), ValueError,
         r"clips \[0\] have \[399\] samples, fewer than the 400 \(25 ms\) one frame needs"),
        (dict(input_values=torch.randn(2, 4000), sample_lengths=torch.tensor([4000, 300])), ValueError, r"clips \[1\]"),
        (dict(input_values=torch.randn(0, 4000)), ValueError, "empty batch"),
        (dict(input_values=torch.randn(2, 1, 4000)), ValueError, "shape \\(B, L\\)"),
        (dict(input_values=torch.zeros(2, 4000, dtype=torch.int16)), TypeError, "floating point"),
        (dict(input_values=[0.0] * 4000), TypeError, "torch.Tensor"),
        (dict(input_values=torch.full((1, 4000), float("nan"))), ValueError, "NaN or Inf"),
        (dict(input_values=torch.tensor([[float("inf")] * 4000])), ValueError, "NaN or Inf"),
        (dict(input_values=torch.randn(2, 4000), attention_mask=torch.ones(2, 3999)), ValueError, "length 3999"),
        (dict(input_values=torch.randn(2, 4000), attention_mask=torch.ones(3, 4000)), ValueError, "shape"),
        (dict(input_values=torch.randn(1, 4000), attention_mask=LEFT_PADDED), ValueError, "right-padded"),
        (dict(input_values=torch.randn(2, 4000), attention_mask=torch.stack([torch.ones(4000), torch.zeros(4000)])),
         ValueError, "all zero"),
        (dict(input_values=torch.randn(1, 4000), attention_mask=torch.full((1, 4000), 2)), ValueError, "only 0"),
        (dict(input_values=torch.randn(2, 4000), sample_lengths=torch.tensor([4000, -1])), ValueError, r"\[0, 4000\]"),
        (dict(input_values=torch.randn(2, 4000), sample_lengths=torch.tensor([4000, 4001])), ValueError,
         r"\[0, 4000\]"),
        (dict(input_values=torch.randn(2, 4000), sample_lengths=torch.tensor([4000.0, 3000.0])), ValueError,
         "integer"),
        (dict(input_values=torch.randn(2, 4000), sample_lengths=torch.tensor([4000])), ValueError, "shape"),
        (dict(input_values=torch.randn(2, 4000), sample_lengths=torch.tensor([4000, 3000]),
              attention_mask=torch.ones(2, 4000)), ValueError, "disagree"),
        (dict(input_values=torch.randn(1, 4000), mask_time_indices=torch.ones(1, 5, dtype=torch.bool)),
         ValueError, "mask_time_indices must have shape"),
    ],
)
def test_bad_input_is_named(model, kwargs, error, message):
    with pytest.raises(error, match=message):
        model(**kwargs)


def test_agreeing_mask_and_lengths_are_accepted(model):
    x = torch.randn(2, 4000)
    mask = torch.ones(2, 4000, dtype=torch.long)
    mask[1, 3000:] = 0
    a = model(x, attention_mask=mask, sample_lengths=torch.tensor([4000, 3000]))
    b = model(x, attention_mask=mask)
    torch.testing.assert_close(a.last_hidden_state, b.last_hidden_state)
    assert a.frame_lengths.tolist() == [12, 9]
