"""w2v_lite.batching: bucketing covers every clip once, respects the cap, and cuts padding."""

import itertools

import numpy as np
import pytest
import torch

from w2v_lite.data.batching import BucketBatchSampler, bucket_batches, naive_batches, padded_fraction
from w2v_lite.lengths import output_lengths


def _realistic_lengths(n: int = 400, seed: int = 0) -> list[int]:
    """Clip lengths like a speech corpus: mostly 1-6 s with a long tail up to 15 s (16 kHz samples)."""
    rng = np.random.default_rng(seed)
    seconds = np.clip(rng.lognormal(mean=1.2, sigma=0.5, size=n), 0.5, 15.0)
    return [int(s * 16000) for s in seconds]


def _flat(batches):
    return sorted(i for b in batches for i in b)


def test_padded_fraction_counts_frames():
    lengths = [16000, 48000]  # 49 and 149 frames
    assert output_lengths(16000) == 49 and output_lengths(48000) == 149
    assert padded_fraction(lengths, [[0, 1]]) == pytest.approx(100 / 298)
    assert padded_fraction(lengths, [[0], [1]]) == 0.0
    # 20 000 vs 16 320 samples differ in samples but give 62 vs 50 frames; the frame count is what matters.
    assert padded_fraction([16320, 20000], [[0, 1]]) == pytest.approx(12 / 124)
    with pytest.raises(ValueError, match="empty"):
        padded_fraction(lengths, [[0], []])


def test_naive_batches():
    assert naive_batches(5, 2) == [[0, 1], [2, 3], [4]]
    shuffled = naive_batches(10, 3, shuffle=True, seed=1)
    assert _flat(shuffled) == list(range(10)) and shuffled == naive_batches(10, 3, shuffle=True, seed=1)
    assert shuffled != naive_batches(10, 3)
    with pytest.raises(ValueError, match="batch_size"):
        naive_batches(10, 0)


@pytest.mark.parametrize("shuffle", [False, True])
def test_bucket_batches_cover_every_index_once_and_respect_cap(shuffle):
    lengths = _realistic_lengths()
    cap = 16000 * 40
    batches = bucket_batches(lengths, cap, shuffle=shuffle, seed=3)
    assert _flat(batches) == list(range(len(lengths)))
    for b in batches:
        assert len(b) * max(lengths[i] for i in b) <= cap
    # Greedy filling: a batch plus the next clip in sorted order would overflow the cap.
    ordered = sorted(batches, key=lambda b: max(lengths[i] for i in b))
    for b, nxt in itertools.pairwise(ordered):
        assert (len(b) + 1) * min(lengths[i] for i in nxt) > cap


def test_bucket_batches_oversized_clip_gets_own_batch():
    batches = bucket_batches([100, 5000, 120, 90], max_samples_per_batch=1000, shuffle=False)
    assert [3, 0, 2] in batches and [1] in batches and len(batches) == 2


def test_bucket_batches_reduce_padding_vs_naive():
    lengths = _realistic_lengths()
    bucketed = bucket_batches(lengths, 16000 * 40, seed=0)
    # Compare at the same number of batches, so both take the same number of steps.
    naive = naive_batches(len(lengths), -(-len(lengths) // len(bucketed)), shuffle=True, seed=0)
    naive_frac, bucket_frac = padded_fraction(lengths, naive), padded_fraction(lengths, bucketed)
    assert naive_frac > 0.3 and bucket_frac < 0.1 and bucket_frac < naive_frac / 4


def test_bucket_batches_seeded_shuffle():
    lengths = _realistic_lengths()
    a, b = bucket_batches(lengths, 320000, seed=5), bucket_batches(lengths, 320000, seed=5)
    assert a == b and a != bucket_batches(lengths, 320000, seed=6)
    with pytest.raises(ValueError, match="lengths"):
        bucket_batches([16000, 0], 320000)
    with pytest.raises(ValueError, match="empty"):
        bucket_batches([], 320000)


def test_sampler_epochs_and_dataloader():
    lengths = _realistic_lengths(100)
    sampler = BucketBatchSampler(lengths, 16000 * 30, seed=0)
    first = list(sampler)
    assert len(first) == len(sampler) and _flat(first) == list(range(100))
    assert list(sampler) == first  # same epoch -> same order
    sampler.set_epoch(1)
    assert list(sampler) != first and _flat(list(sampler)) == list(range(100))

    data = [torch.full((n // 1000,), float(i)) for i, n in enumerate(lengths)]
    loader = torch.utils.data.DataLoader(data, batch_sampler=sampler, collate_fn=lambda items: items)
    seen = sorted(int(x[0]) for batch in loader for x in batch)
    assert seen == list(range(100))


def test_sampler_ddp_shards_are_disjoint_and_equal_sized():
    lengths = _realistic_lengths(300)
    cap = 16000 * 30
    total = len(bucket_batches(lengths, cap))
    shards = []
    for rank in range(3):
        sampler = BucketBatchSampler(lengths, cap, seed=7, num_replicas=3, rank=rank)
        sampler.set_epoch(2)
        shards.append(list(sampler))
        assert len(shards[-1]) == len(sampler) == total // 3
    seen = [i for shard in shards for b in shard for i in b]
    assert len(seen) == len(set(seen))  # no clip on two ranks
    dropped = set(range(300)) - set(seen)
    assert len(dropped) < 300 and (total % 3 == 0) == (not dropped)
    with pytest.raises(ValueError, match="rank"):
        BucketBatchSampler(lengths, cap, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="replicas"):
        BucketBatchSampler([16000] * 3, 10**9, num_replicas=2)
