"""Shared test fixtures. Test folders mirror the package: tests/model, tests/data, tests/train, tests/asr,
tests/teach; tests/browser drives a notebook in headless Chromium (marker `browser`). Helpers that compare
against transformers (small odd configs, model pairs, padded batches) live in `hf_utils.py`, other plain
helpers (read-only folders) in `helpers.py`, both beside this file (pytest puts this folder on sys.path).
Nothing imports this file: what tests share from here, they get as fixtures.

Markers (registered in pyproject.toml): `slow` for tests that take seconds to minutes, `browser` for
tests/browser. `make test-fast` runs `-m "not slow and not browser"`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data import audio
from w2v_lite.model.wav2vec2 import Wav2Vec2Model

CorpusSubset = Callable[..., Path]
SmallConfig = Callable[..., Wav2Vec2Config]
SmallModel = Callable[..., Wav2Vec2Model]

# the base conv kernels and strides (so the 400/320 sample arithmetic holds) with very small widths: fast on CPU
_SMALL = dict(conv_dim=(16,) * 7, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=64, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread for the test, then back to what it was. On a shared 2-core machine spinning OpenMP
    threads cost more than they give, and one thread gives the same reductions (the same bits) every run,
    as `w2v-lite figures` and the training CLI use."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_config() -> Wav2Vec2Config:
    """A fresh `tiny` preset (the committed checkpoints' size): fast enough to train for a few steps."""
    return Wav2Vec2Config.tiny()


@pytest.fixture
def small_model_config() -> SmallConfig:
    """`small_model_config(**overrides) -> Wav2Vec2Config`: the `tiny` preset at very small widths (16 conv
    channels, width 32, 2 layers), with `overrides` on top."""
    return lambda **overrides: Wav2Vec2Config.tiny(**{**_SMALL, **overrides})


@pytest.fixture
def small_model(small_model_config: SmallConfig) -> SmallModel:
    """`small_model(seed=0, **overrides) -> Wav2Vec2Model` in eval mode, built after `torch.manual_seed(seed)`
    from `small_model_config(**overrides)`."""
    def build(seed: int = 0, **overrides) -> Wav2Vec2Model:
        torch.manual_seed(seed)
        return Wav2Vec2Model(small_model_config(**overrides)).eval()
    return build


def _copy_corpus_subset(folder: Path, n: int, split: str = "train", start: int = 0) -> Path:
    """Copy clips `start .. start + n - 1` of the committed corpus `split` into `folder` (created), with
    their lines of transcripts.tsv, as `w2v-lite train` expects a data folder. Returns `folder`."""
    items = audio.corpus_items(split)[start : start + n]
    if len(items) < n:
        raise ValueError(f"the {split} corpus has only {len(items) + start} clips; asked for {start}..{start + n}")
    folder.mkdir(parents=True)
    for path, _ in items:
        shutil.copy(path, folder / path.name)
    (folder / "transcripts.tsv").write_text("".join(f"{p.name}\t{t}\n" for p, t in items))
    return folder


@pytest.fixture(scope="session")
def corpus_subset() -> CorpusSubset:
    """`corpus_subset(folder, n, split="train", start=0) -> folder`: a small training folder copied from
    the committed corpus (a factory, so module-scoped fixtures can build one too)."""
    return _copy_corpus_subset
