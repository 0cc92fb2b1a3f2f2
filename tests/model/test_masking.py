"""Span masking and negative sampling: exact parity with transformers + property tests."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

from w2v_lite.model.masking import compute_mask_indices, sample_negative_indices

PROPS = settings(derandomize=True, max_examples=60, deadline=None)


def _frame_mask(lengths, num_frames):
    return torch.arange(num_frames)[None, :] < torch.tensor(lengths)[:, None]


def _run_both(seed, shape, p, m, frame_mask, min_masks):
    """Run HF and ours from the same global seed; also return one draw after each (RNG stream check)."""
    np.random.seed(seed)
    hf = _compute_mask_indices(shape, p, m, None if frame_mask is None else frame_mask.long(), min_masks)
    hf_next = np.random.rand()
    np.random.seed(seed)
    ours = compute_mask_indices(shape, p, m, frame_mask, min_masks)
    ours_next = np.random.rand()
    return hf, ours, hf_next, ours_next


# (batch frame lengths or None, T, mask_prob, mask_length, min_masks)
GRID = [
    (None, 50, 0.65, 10, 2),
    (None, 49, 0.05, 10, 0),  # low p: epsilon decides 0 or 1 span
    (None, 10, 0.65, 10, 2),  # clip exactly one span long
    (None, 7, 0.3, 1, 0),
    ([60, 43, 12, 9], 60, 0.65, 10, 2),  # padding, one clip shorter than a span
    ([200, 50], 200, 0.05, 10, 0),  # low p + padding: HF's dummy start lands in padding
    ([30, 30, 0], 30, 0.5, 3, 1),  # an utterance with no valid frames
    ([25, 11, 10], 25, 1.0, 5, 4),
    ([80, 79, 1], 80, 0.01, 2, 3),  # min_masks dominates
]


@pytest.mark.parametrize(("lengths", "T", "p", "m", "min_masks"), GRID)
@pytest.mark.parametrize("seed", [0, 1, 7, 123])
def test_mask_indices_match_transformers(seed, lengths, T, p, m, min_masks):
    fm = None if lengths is None else _frame_mask(lengths, T)
    shape = (3 if lengths is None else len(lengths), T)
    hf, ours, hf_next, ours_next = _run_both(seed, shape, p, m, fm, min_masks)
    assert ours.dtype == np.bool_ and ours.shape == shape
    assert hf_next == ours_next  # identical RNG consumption
    valid = np.ones(shape, bool) if fm is None else fm.numpy()
    np.testing.assert_array_equal(ours, hf & valid)  # identical on every valid frame
    if fm is None:
        np.testing.assert_array_equal(ours, hf)


def test_transformers_dummy_span_in_padding_is_dropped():
    # HF pads each row's span list with a dummy start; for a row with zero spans it is frame T-1 (padding).
    fm = _frame_mask([200, 50], 200)
    hf, ours, _, _ = _run_both(0, (2, 200), 0.05, 10, fm, 0)
    assert hf[1, 199] and not ours[1].any()
    np.testing.assert_array_equal(ours[0], hf[0])


def test_numpy_and_int_frame_masks_accepted():
    fm = _frame_mask([40, 25], 40)
    np.random.seed(3)
    a = compute_mask_indices((2, 40), 0.5, 4, fm)
    np.random.seed(3)
    b = compute_mask_indices((2, 40), 0.5, 4, fm.numpy().astype(np.int64))
    np.testing.assert_array_equal(a, b)
    assert not a[1, 25:].any()


def test_low_probability_rounding_is_shared_across_batch():
    # p * n / M = 0.3: one span with probability 0.3 (epsilon >= 0.7), else none, same for every row.
    hits = []
    for seed in range(300):
        np.random.seed(seed)
        mask = compute_mask_indices((4, 100), 0.03, 10)
        counts = mask.sum(-1)
        assert set(counts.tolist()) in ({0}, {10})
        hits.append(counts[0] == 10)
    assert 0.2 < np.mean(hits) < 0.4


def test_min_masks_guarantees_spans_at_low_probability():
    np.random.seed(0)
    mask = compute_mask_indices((2, 100), 0.0, 10, min_masks=2)
    assert (mask.sum(-1) >= 10).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(mask_length=0), "mask_length must be >= 1"),
        (dict(mask_length=21), r"mask_length \(21 frames\).*sequence \(20 frames\)"),
        (dict(mask_prob=1.5), r"mask_prob must be in \[0, 1\]"),
        (dict(mask_prob=-0.1), r"mask_prob must be in \[0, 1\]"),
        (dict(min_masks=-1), "min_masks"),
        (dict(frame_mask=torch.ones(2, 19)), "FRAME-level"),
        (dict(frame_mask=torch.tensor([[0] * 5 + [1] * 15] * 2)), "right-padded"),
    ],
)
def test_mask_indices_bad_input(kwargs, match):
    args = dict(shape=(2, 20), mask_prob=0.5, mask_length=5) | kwargs
    with pytest.raises(ValueError, match=match):
        compute_mask_indices(**args)


@st.composite
def mask_problems(draw):
    T = draw(st.integers(1, 60))
    m = draw(st.integers(1, T))
    lengths = draw(st.lists(st.integers(0, T), min_size=1, max_size=4))
    p = draw(st.sampled_from([0.0, 0.02, 0.1, 0.65, 1.0]))
    return T, m, lengths, p, draw(st.integers(0, 3)), draw(st.integers(0, 2**16))


@PROPS
@given(mask_problems())
def test_property_spans_inside_valid_frames(problem):
    T, m, lengths, p, min_masks, seed = problem
    np.random.seed(seed)
    mask = compute_mask_indices((len(lengths), T), p, m, _frame_mask(lengths, T), min_masks)
    for row, n in zip(mask, lengths, strict=True):
        assert not row[n:].any()  # never in padding
        if n < m:
            assert not row.any()  # a clip shorter than a span gets no span
        # every masked frame lies in a fully-masked length-M window inside the valid region
        for t in np.flatnonzero(row):
            starts = range(max(0, t - m + 1), min(t, n - m) + 1)
            assert any(row[s : s + m].all() for s in starts)


@PROPS
@given(mask_problems(), st.integers(1, 8))
def test_property_negatives(problem, num_negatives):
    T, m, lengths, p, min_masks, seed = problem
    np.random.seed(seed)
    B = len(lengths)
    mask = compute_mask_indices((B, T), p, m, _frame_mask(lengths, T), min_masks)
    if (mask.sum(-1) < 2).any():
        with pytest.raises(ValueError, match="at least 2"):
            sample_negative_indices((B, T), num_negatives, mask)
        return
    neg = sample_negative_indices((B, T), num_negatives, mask)
    assert neg.shape == (B, T, num_negatives) and neg.dtype == np.int32
    for b in range(B):
        for t in np.flatnonzero(mask[b]):
            flat = neg[b, t]
            assert (flat // T == b).all()  # same utterance
            assert (flat % T != t).all()  # never the positive
            assert mask[b, flat % T].all()  # always a masked frame (so never padding)


@pytest.mark.parametrize("seed", [0, 5, 42])
@pytest.mark.parametrize("num_negatives", [1, 4, 100])
def test_negatives_match_transformers(seed, num_negatives):
    np.random.seed(seed)
    mask = compute_mask_indices((3, 40), 0.65, 4, _frame_mask([40, 31, 17], 40), min_masks=2)
    for mti in (mask, None):
        np.random.seed(seed)
        hf = _sample_negative_indices((3, 40), num_negatives, mti)
        hf_next = np.random.rand()
        np.random.seed(seed)
        ours = sample_negative_indices((3, 40), num_negatives, None if mti is None else torch.tensor(mti))
        assert np.random.rand() == hf_next
        assert ours.dtype == hf.dtype
        np.testing.assert_array_equal(ours, hf)


@pytest.mark.parametrize("masked_frames", [0, 1])
def test_negatives_need_two_masked_frames(masked_frames):
    mask = np.zeros((2, 10), bool)
    mask[0, :5] = True
    mask[1, :masked_frames] = True
    with pytest.raises(ValueError, match=f"utterance 1 has {masked_frames} masked frame"):
        sample_negative_indices((2, 10), 3, mask)


def test_negatives_bad_input():
    with pytest.raises(ValueError, match="num_negatives"):
        sample_negative_indices((1, 10), 0)
    with pytest.raises(ValueError, match="shape"):
        sample_negative_indices((1, 10), 2, np.ones((1, 9), bool))
