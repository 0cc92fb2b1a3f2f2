"""CTC as alignment: the trellis of a label over the frames, and its single best path (notebook 05).

    extended_label(targets)              [b, y1, b, y2, ..., yU, b]: the 2U + 1 states an alignment walks
    best_path(log_probs, targets)        Viterbi: the most probable alignment, one state per frame
    trellis_figure(log_probs, targets, tokens)  log P(state's class | frame) as an image, best path on top

CTC's loss sums the probability of *every* alignment (the forward algorithm, `F.ctc_loss`); the best path
replaces that sum by a max, which is what forced alignment uses to put each character at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from w2v_lite.config import BLANK_ID

__all__ = ["best_path", "extended_label", "trellis_figure"]


def extended_label(targets: Sequence[int], blank: int = BLANK_ID) -> list[int]:
    """U label ids -> the 2U + 1 trellis states: a blank before, between and after the characters."""
    states = [blank]
    for token in targets:
        states += [int(token), blank]
    return states


def _check(log_probs: torch.Tensor, targets: Sequence[int], blank: int) -> list[int]:
    if log_probs.dim() != 2:
        raise ValueError(f"log_probs must be one clip's (T, V) log-probabilities, got shape {tuple(log_probs.shape)}")
    if not targets:
        raise ValueError("targets is empty: give the label as a list of class ids")
    if blank in targets:
        raise ValueError(f"targets contain the blank id {blank}: the label holds characters only")
    states = extended_label(targets, blank)
    repeats = sum(a == b for a, b in itertools.pairwise(targets))
    if log_probs.shape[0] < len(targets) + repeats:
        raise ValueError(f"{log_probs.shape[0]} frames cannot hold {len(targets)} tokens with {repeats} repeats "
                         f"(need {len(targets) + repeats}): no alignment exists")
    return states


def best_path(log_probs: torch.Tensor, targets: Sequence[int], blank: int = BLANK_ID) -> tuple[list[int], float]:
    """Viterbi over the CTC trellis: ``(T, V) log-probs, U ids -> (T states in [0, 2U], log-probability)``.

    A path starts in state 0 or 1, ends in state 2U or 2U - 1, and each frame stays, moves one state on,
    or skips a blank (two on) unless that would join two equal characters. Its classes
    ``extended_label(targets)[s]`` collapse (merge repeats, drop blanks) to the label.
    """
    states = _check(log_probs, list(targets), blank)
    lp = log_probs.detach().double()[:, states]  # (T, S): log P(class of state s | frame t)
    frames, num_states = lp.shape
    score = torch.full((frames, num_states), -torch.inf, dtype=torch.float64)
    came_from = torch.zeros((frames, num_states), dtype=torch.long)
    score[0, :2] = lp[0, :2]
    for t in range(1, frames):
        for s in range(num_states):
            options = [s, s - 1] + ([s - 2] if s >= 2 and states[s] != blank and states[s] != states[s - 2] else [])
            prev = max((o for o in options if o >= 0), key=lambda o: score[t - 1, o].item())
            score[t, s] = score[t - 1, prev] + lp[t, s]
            came_from[t, s] = prev
    last = num_states - 1 if score[-1, -1] >= score[-1, -2] else num_states - 2
    path = [last]
    for t in range(frames - 1, 0, -1):
        path.append(int(came_from[t, path[-1]]))
    return path[::-1], float(score[-1, last])


def trellis_figure(log_probs: torch.Tensor, targets: Sequence[int], tokens: Sequence[str],
                   blank: int = BLANK_ID, min_log_prob: float = -10.0) -> Figure:
    """The CTC trellis of one clip: rows are the 2U + 1 states of the label (blanks between the characters),
    columns the T frames, colour log P(that state's class | frame); the best path (Viterbi) is drawn over
    it. Squares mark where a path may start (state 0 or 1 in the first frame: the first blank or the first
    character) and end (state 2U - 1 or 2U in the last frame: the last character or the last blank); every
    path the loss sums over runs from one of the first two to one of the last two."""
    states = _check(log_probs, list(targets), blank)
    path, score = best_path(log_probs, targets, blank)
    image = log_probs.detach().float()[:, states].T.clamp(min=min_log_prob).numpy()  # (S, T)
    fig = Figure(figsize=(11, 0.9 + 0.32 * len(states)), layout="constrained")
    ax = fig.subplots()
    shown = ax.imshow(image, aspect="auto", cmap="magma", interpolation="nearest", vmin=min_log_prob, vmax=0)
    fig.colorbar(shown, ax=ax, label="log P(class | frame)", pad=0.01)
    ax.plot(np.arange(len(path)), path, color="#00ff66", lw=2, marker="o", ms=3,
            label=f"best path (log P = {score:.2f})")
    last = len(path) - 1
    ax.scatter([0, 0], [0, 1], marker="s", s=110, facecolors="none", edgecolors="#00e5ff", lw=2,
               label="a path starts in state 0 or 1")
    ax.scatter([last, last], [len(states) - 2, len(states) - 1], marker="s", s=110, facecolors="none",
               edgecolors="#ff4dd2", lw=2, label="and ends in state 2U - 1 or 2U")
    names = ["blank" if s == blank else tokens[s].replace("|", "| (space)") for s in states]
    ax.set_yticks(range(len(states)), names, fontsize=10)
    ax.set(xlabel="frame t (20 ms each)", ylabel="label state (top to bottom)",
           title="CTC trellis: every path from state 0 or 1 (first frame) to state 2U - 1 or 2U (last frame) "
                 "spells the label")
    ax.legend(loc="lower left", fontsize=9, framealpha=0.8)
    return fig
