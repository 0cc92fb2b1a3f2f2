"""Checks for the notebooks' "Try it" exercises: ``check.exercise_NN_K(answer) -> bool``.

Each check prints one line, ``correct: ...`` or ``not yet: <hint>``, and returns True or False. A wrong type
or shape of answer gets a hint, never a traceback. The worked solutions are in each notebook, in a collapsed
``<details>`` block, and tests/teach runs every one of them through its check.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np


def _verdict(ok: bool, success: str, hint: str) -> bool:
    """Print 'correct: <success>' or 'not yet: <hint>'; return ok."""
    print(f"correct: {success}" if ok else f"not yet: {hint}")
    return bool(ok)


def _number(answer: Any) -> float | None:
    """A real number from an int, float, numpy or one-element torch value; None for anything else
    (a string or a bool too: "0.13" and True are not numbers)."""
    if isinstance(answer, (bool, str, bytes)):
        return None
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _calls(function: Any, cases: list[tuple[tuple, list[int]]], name: str, ordered: bool) -> str | None:
    """Run `function(*args)` on each case and compare its ids with the expected list (in order, or as a
    set of frames when not `ordered`); None if all match, else a one-line hint."""
    if not callable(function):
        return f"pass the function itself, e.g. check({name}), not {type(function).__name__}"
    for args, expected in cases:
        shown = ", ".join(repr(np.asarray(a).astype(int).tolist()) if isinstance(a, np.ndarray) else repr(a)
                          for a in args)
        try:
            got = function(*args)
        except Exception as error:  # the learner's code: report its failure as a hint, not a traceback
            return f"{name}({shown}) raised {type(error).__name__}: {error}"
        try:
            ids = [int(x) for x in np.asarray(got).flatten()]
        except (TypeError, ValueError):
            return f"{name}({shown}) returned {got!r}: return a list of ints"
        if (ids if ordered else sorted(ids)) != expected:
            return f"{name}({shown}) returned {ids}, expected {expected}"
    return None


# ---- notebooks 04 and 05 ----


def exercise_04_1(answer: Any) -> bool:
    """Masked share of a 149-frame clip at the fine-tuning setting mask_time_prob = 0.05, M = 10, min_masks 2."""
    value = _number(answer)
    if value is None:
        return _verdict(False, "", f"answer with one number, the masked share of frames (got {type(answer).__name__})")
    if not 0 <= value <= 1:
        return _verdict(False, "", f"{value} is not a share: divide the masked frames by all frames (0 to 1)")
    if abs(value - 0.05) < 0.02:
        return _verdict(False, "", "0.05 is the nominal setting: measure it with compute_mask_indices, "
                                   "min_masks=2 changes the picture")
    return _verdict(abs(value - 0.130) < 0.012,
                    f"about {value:.2f}: int(0.05 * 149 / 10 + eps) is 0 or 1 span, min_masks raises it to 2 "
                    "spans of 10 frames, so a short clip is masked far more than 5%",
                    f"{value:.3f} is off: mask 1000 clips of 149 frames with compute_mask_indices((1000, 149), "
                    "0.05, 10, min_masks=2) and take .mean()")


def exercise_04_2(answer: Any) -> bool:
    """`distractor_pool(mask_row, t)`: the frames masked frame t may draw its distractors from."""
    rng = np.random.default_rng(0)
    cases = []
    for length in (8, 20, 40):
        row = rng.random(length) < 0.4
        row[[1, 2]] = True
        for t in np.flatnonzero(row)[:3].tolist():
            cases.append(((row.copy(), t), [f for f in np.flatnonzero(row).tolist() if f != t]))
    hint = _calls(answer, cases, "distractor_pool", ordered=False)
    return _verdict(hint is None, "the other masked frames of the same utterance: never padding, never t itself",
                    hint or "")


def exercise_04_3(answer: Any) -> bool:
    """Perplexity (summed over G = 2 groups) when each group spreads its frames evenly over 2 codes."""
    value = _number(answer)
    if value is None:
        return _verdict(False, "", f"answer with one number (got {type(answer).__name__})")
    if abs(value - 2) < 1e-3:
        return _verdict(False, "", "2 is one group's perplexity: the model sums it over the G = 2 groups")
    return _verdict(abs(value - 4) < 1e-3, "exp(log 2) = 2 codes per group, 2 + 2 = 4 over the two groups",
                    f"{value} is off: build probs (N, 2, V) with half the frames on one code and half on another "
                    "in each group, and call perplexity(probs)")


def exercise_05_1(answer: Any) -> bool:
    """Fewest frames CTC needs for the label "three three" (tokens with "|" for the space)."""
    value = _number(answer)
    if value is None or value != int(value):
        return _verdict(False, "", f"answer with a whole number of frames (got {answer!r})")
    if value == 11:
        return _verdict(False, "", "11 tokens is right, but each pair of equal neighbours (e e) needs a blank "
                                   "frame between them")
    return _verdict(value == 13, "11 tokens + 2 blanks between the repeated e's = 13 frames "
                                 "(required_frames agrees)",
                    f"{int(value)} is off: count the tokens of 'three|three', then add one per equal neighbour pair")


def exercise_05_2(answer: Any) -> bool:
    """`collapse(path, blank)`: greedy CTC decoding of a frame path (merge repeats, then drop blanks)."""
    cases = [(([0, 1, 1, 0, 2],), [1, 2]), (([1, 1, 0, 1],), [1, 1]), (([1, 1, 1],), [1]),
             (([0, 0, 0],), []), (([3, 0, 3, 3, 2, 2, 0],), [3, 3, 2])]
    hint = _calls(answer, cases, "collapse", ordered=True)
    if hint and "[1, 1, 0, 1]" in hint:
        hint += " (merge repeats first, then drop the blanks: the blank keeps a double letter)"
    return _verdict(hint is None, "merge runs, then drop blanks: `1 _ 1` stays two 1's, `1 1` is one", hint or "")


def _alignments(label: tuple[int, ...], frames: int, classes: int) -> int:
    """Count the length-`frames` paths over `classes` ids (0 = blank) that collapse to `label`."""
    count = 0
    for path in itertools.product(range(classes), repeat=frames):
        merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        count += tuple(c for c in merged if c != 0) == label
    return count


def exercise_05_3(answer: Any) -> bool:
    """Number of CTC alignments of a 2-token label with distinct tokens ("ab") over T = 5 frames."""
    value = _number(answer)
    if value is None or value != int(value):
        return _verdict(False, "", f"answer with a whole number of alignments (got {answer!r})")
    truth = _alignments((1, 2), 5, 3)
    if value == 3**5:
        return _verdict(False, "", "243 counts every path; keep only those that collapse to the label")
    return _verdict(value == truth, f"{truth} paths of 5 frames collapse to 'ab', and CTC sums all of them",
                    f"{int(value)} is off: enumerate itertools.product(range(3), repeat=5), collapse each path, "
                    "and count those equal to [1, 2]")
