"""The CTC trellis of notebook 05: the best path equals the brute-force best alignment, spells the label,
is never more probable than the sum `F.ctc_loss` computes, and is drawn over the (2U + 1, T) image."""

import itertools

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from w2v_lite.teach.ctc_trellis import best_path, extended_label, trellis_figure


def collapse(path):
    merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
    return [c for c in merged if c != 0]


def brute_force(log_probs, label):
    """(max, logsumexp) of the path log-probabilities over every alignment of `label`."""
    frames, classes = log_probs.shape
    scores = [log_probs[range(frames), list(p)].sum() for p in itertools.product(range(classes), repeat=frames)
              if collapse(p) == label]
    scores = torch.stack(scores)
    return scores.max().item(), torch.logsumexp(scores, 0).item()


def test_extended_label():
    assert extended_label([3, 5, 5]) == [0, 3, 0, 5, 0, 5, 0]
    assert extended_label([2], blank=7) == [7, 2, 7]


@pytest.mark.parametrize("label", [[1, 2], [1, 1], [3, 1, 3], [2], [1, 2, 2]])
def test_best_path_is_the_brute_force_best_alignment(label):
    torch.manual_seed(len(label) * 10 + label[0])
    log_probs = torch.randn(6, 4, dtype=torch.float64).log_softmax(-1)
    path, score = best_path(log_probs, label)
    classes = [extended_label(label)[s] for s in path]
    best, total = brute_force(log_probs, label)
    assert score == pytest.approx(best, abs=1e-9)
    assert collapse(classes) == label  # the path spells the label
    assert log_probs[range(6), classes].sum().item() == pytest.approx(score, abs=1e-9)  # and scores what it says
    ctc = F.ctc_loss(log_probs[:, None], torch.tensor([label]), torch.tensor([6]), torch.tensor([len(label)]),
                     reduction="sum")
    assert -ctc.item() == pytest.approx(total, abs=1e-9) and score <= total


def test_best_path_bad_input():
    lp = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"\(T, V\)"):
        best_path(torch.zeros(1, 3, 4), [1])
    with pytest.raises(ValueError, match="empty"):
        best_path(lp, [])
    with pytest.raises(ValueError, match="blank"):
        best_path(lp, [1, 0])
    with pytest.raises(ValueError, match="need 4"):
        best_path(lp, [1, 2, 2])  # 3 tokens + 1 repeat > 3 frames


def test_trellis_figure():
    torch.manual_seed(0)
    log_probs = torch.randn(8, 5).log_softmax(-1)
    label = [1, 4, 4]
    tokens = ["<pad>", "a", "|", "c", "d"]
    fig = trellis_figure(log_probs, label, tokens)
    ax = fig.axes[0]
    image = ax.get_images()[0].get_array()
    assert image.shape == (7, 8)  # (2U + 1 states, T frames)
    np.testing.assert_allclose(image[1], log_probs[:, 1].clamp(min=-10).numpy(), rtol=1e-6)
    path, _ = best_path(log_probs, label)
    assert list(ax.lines[0].get_ydata()) == path
    assert [t.get_text() for t in ax.get_yticklabels()] == ["blank", "a", "blank", "d", "blank", "d", "blank"]
    assert ax.get_xlabel().startswith("frame t") and "best path" in ax.get_legend().get_texts()[0].get_text()
