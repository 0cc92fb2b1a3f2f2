"""Shared test fixtures. Test folders mirror the package: tests/model, tests/data, tests/train, tests/asr,
tests/teach; tests/browser drives a notebook in headless Chromium (marker `browser`). Helpers that compare
against transformers (small odd configs, model pairs, padded batches) live in `hf_utils.py` beside this
file (pytest puts this folder on sys.path).

Markers (registered in pyproject.toml): `slow` for tests that take seconds to minutes, `browser` for
tests/browser. `make test-fast` runs `-m "not slow and not browser"`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data import audio

CorpusSubset = Callable[..., Path]


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


def make_read_only(folder: Path) -> None:
    """Make an existing folder unwritable: chmod for users, `chattr +i` for root (root ignores the mode bits).
    Skips the test, saying why, where neither is possible (root without chattr support)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
    elif shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
        pytest.skip("running as root without chattr +i: cannot make a read-only folder here")


def undo_read_only(folder: Path) -> None:
    """Make a folder from `make_read_only` writable again (so that pytest can clean it up)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], check=False)
    else:
        folder.chmod(0o755)
