"""Length-bucketed batching: put clips of similar length together so little of each batch is padding.

A padded batch costs B * max(L_i) samples of compute however short its other clips are. Sorting by length
and filling each batch up to a budget of padded samples (`max_samples_per_batch`) keeps that waste small,
and it also bounds memory: every batch has at most the same number of padded samples.

    naive_batches(n, batch_size)                    -> [[0, 1, ..., bs-1], [bs, ...], ...]
    bucket_batches(sample_lengths, max_samples)     -> batches of similar-length indices, in shuffled order
    padded_fraction(sample_lengths, batches)        -> share of the model's frames that are padding
    BucketBatchSampler(sample_lengths, max_samples) -> torch Sampler of index lists, with set_epoch + DDP sharding
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.lengths import output_lengths

__all__ = ["padded_fraction", "naive_batches", "bucket_batches", "BucketBatchSampler"]


def _check_lengths(sample_lengths: Sequence[int]) -> list[int]:
    out = []
    for i, n in enumerate(sample_lengths):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"sample_lengths[{i}] is {type(n).__name__}; sample_lengths must be ints "
                            "(number of samples)")
        if n < 1:
            raise ValueError(f"sample_lengths[{i}] = {n}; every clip needs at least one sample (drop empty clips)")
        out.append(int(n))
    return out


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def padded_fraction(
    sample_lengths: Sequence[int],
    batches: Sequence[Sequence[int]],
    config: Wav2Vec2Config | None = None,
) -> float:
    """Fraction of the transformer's frames that are padding when `batches` are padded per batch.

    sample_lengths: (N,) samples per clip; batches: lists of indices into `sample_lengths`. Each clip becomes
    `output_lengths(L_i, config)` frames; a batch costs B * max frames. Returns padded / total in [0, 1].
    """
    sample_lengths = _check_lengths(sample_lengths)
    padded = total = 0
    for j, batch in enumerate(batches):
        if len(batch) == 0:
            raise ValueError(f"batch {j} is empty; every batch needs at least one index")
        frame_lengths = [output_lengths(sample_lengths[i], config) for i in batch]
        total += len(frame_lengths) * max(frame_lengths)
        padded += len(frame_lengths) * max(frame_lengths) - sum(frame_lengths)
    if total == 0:
        raise ValueError("no frames at all: batches are empty or every clip is shorter than one frame")
    return padded / total


def naive_batches(n_items: int, batch_size: int, shuffle: bool = False, seed: int = 0) -> list[list[int]]:
    """Consecutive chunks of `batch_size` indices (last one may be smaller), optionally of a seeded shuffle.

    This is what a plain DataLoader does: it ignores clip lengths, so one long clip pads the whole batch.
    """
    n_items = _check_positive_int(n_items, "n_items")
    batch_size = _check_positive_int(batch_size, "batch_size")
    order = np.random.default_rng(seed).permutation(n_items) if shuffle else np.arange(n_items)
    return [order[i : i + batch_size].tolist() for i in range(0, n_items, batch_size)]


def bucket_batches(
    sample_lengths: Sequence[int], max_samples_per_batch: int, shuffle: bool = True, seed: int = 0
) -> list[list[int]]:
    """Group indices of similar length so that every batch's padded size B * max(L) <= the cap.

    Indices are sorted by length (ties broken randomly when `shuffle`), then batches are filled greedily;
    a clip longer than the cap gets a batch of its own. With `shuffle`, batch order is permuted with a
    generator seeded by `seed` (short and long batches interleave). Every index appears exactly once.
    """
    sample_lengths = _check_lengths(sample_lengths)
    cap = _check_positive_int(max_samples_per_batch, "max_samples_per_batch")
    if not sample_lengths:
        raise ValueError("sample_lengths is empty; nothing to batch")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sample_lengths)) if shuffle else np.arange(len(sample_lengths))
    order = order[np.argsort(np.asarray(sample_lengths)[order], kind="stable")]  # ascending: newcomer is the max
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order.tolist():
        if current and (len(current) + 1) * sample_lengths[i] > cap:
            batches.append(current)
            current = []
        current.append(i)
    batches.append(current)
    if shuffle:
        batches = [batches[k] for k in rng.permutation(len(batches))]
    return batches


class BucketBatchSampler(Sampler[list[int]]):
    """A `batch_sampler` for DataLoader yielding `bucket_batches` index lists, reshuffled every epoch.

    Call `set_epoch(epoch)` before each epoch (as with DistributedSampler): batches use seed + epoch.
    For DDP pass `num_replicas` and `rank`: rank r takes batches r, r + R, r + 2R, ... after the final
    len % R batches are dropped, so every rank runs the same number of steps and no clip is seen twice.
    """

    def __init__(
        self,
        sample_lengths: Sequence[int],
        max_samples_per_batch: int,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        self.sample_lengths = _check_lengths(sample_lengths)
        self.max_samples_per_batch = _check_positive_int(max_samples_per_batch, "max_samples_per_batch")
        self.num_replicas = _check_positive_int(num_replicas, "num_replicas")
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be an int in [0, {num_replicas}), got {rank!r}")
        self.rank = int(rank)
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        # The batch count depends only on the sorted lengths, not on the shuffle, so it is fixed.
        self._num_batches = len(bucket_batches(self.sample_lengths, self.max_samples_per_batch, shuffle=False))
        if self._num_batches < self.num_replicas:
            raise ValueError(
                f"only {self._num_batches} batches for {self.num_replicas} replicas; "
                "lower max_samples_per_batch or use fewer replicas"
            )

    def set_epoch(self, epoch: int) -> None:
        """Select the shuffle of this epoch (same on every rank, different across epochs)."""
        self.epoch = int(epoch)

    def _batches(self) -> list[list[int]]:
        batches = bucket_batches(
            self.sample_lengths, self.max_samples_per_batch, shuffle=self.shuffle, seed=self.seed + self.epoch
        )
        usable = len(batches) - len(batches) % self.num_replicas
        return batches[:usable][self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return self._num_batches // self.num_replicas
