"""Scoring a recogniser: greedy CTC decoding of logits, and character / word error rates.

    best_path(logits (B, T, V), frame_lengths (B,)) -> B lists of per-frame argmax ids (valid frames only)
    greedy_decode(logits, tokenizer, frame_lengths) -> B strings (collapse repeats, drop blanks)
    cer(references, hypotheses) = character edits / reference characters   (corpus level)
    wer(references, hypotheses) = word edits / reference words

Edit distance is the plain Levenshtein dynamic programme (substitution, insertion and deletion each cost 1),
written out here so that the package needs no extra dependency; tests check it against `jiwer`.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["cer", "edit_distance", "error_rate", "wer"]


def edit_distance(reference: Sequence, hypothesis: Sequence) -> int:
    """Fewest substitutions + insertions + deletions turning `hypothesis` into `reference` (any sequences).

    One row of the DP table at a time: ``row[j]`` = distance between the reference prefix read so far
    and ``hypothesis[:j]``. O(len(ref) * len(hyp)) time, O(len(hyp)) memory.
    """
    row = list(range(len(hypothesis) + 1))  # empty reference prefix: j insertions
    for i, r in enumerate(reference, start=1):
        diagonal, row[0] = row[0], i  # i deletions against the empty hypothesis prefix
        for j, h in enumerate(hypothesis, start=1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[-1]


def _pairs(references: Sequence[str] | str, hypotheses: Sequence[str] | str) -> list[tuple[str, str]]:
    if isinstance(references, str) != isinstance(hypotheses, str):
        raise TypeError("pass two strings, or two lists of strings of the same length")
    refs = [references] if isinstance(references, str) else list(references)
    hyps = [hypotheses] if isinstance(hypotheses, str) else list(hypotheses)
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses; they must pair up")
    if not refs:
        raise ValueError("no references to score against")
    for text in (*refs, *hyps):
        if not isinstance(text, str):
            raise TypeError(f"references and hypotheses must be str, got {type(text).__name__}")
    return list(zip(refs, hyps, strict=True))


def error_rate(references: Sequence[str] | str, hypotheses: Sequence[str] | str, unit: str) -> float:
    """Total edits / total reference units over the whole list, for ``unit`` "char" or "word".

    Corpus-level (as jiwer), not the mean of per-clip rates, so long clips weigh more. Whitespace is
    normalised first (trimmed, single spaces). Can exceed 1 when the hypotheses insert a lot.
    """
    if unit not in ("char", "word"):
        raise ValueError(f"unit must be 'char' or 'word', got {unit!r}")
    edits = total = 0
    for ref, hyp in _pairs(references, hypotheses):
        ref_words, hyp_words = ref.split(), hyp.split()
        ref_units: Sequence[str]  # words, or the characters of a str
        hyp_units: Sequence[str]
        if unit == "word":
            ref_units, hyp_units = ref_words, hyp_words
        else:
            ref_units, hyp_units = " ".join(ref_words), " ".join(hyp_words)
        edits += edit_distance(ref_units, hyp_units)
        total += len(ref_units)
    if total == 0:
        raise ValueError("the references are all empty, so an error rate is undefined")
    return edits / total


def cer(references: Sequence[str] | str, hypotheses: Sequence[str] | str) -> float:
    """Character error rate (spaces count as characters): cer("two", "to") == 1/3."""
    return error_rate(references, hypotheses, "char")


def wer(references: Sequence[str] | str, hypotheses: Sequence[str] | str) -> float:
    """Word error rate: wer("one two", "one too") == 1/2."""
    return error_rate(references, hypotheses, "word")
