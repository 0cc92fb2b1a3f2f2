"""When was each word said: word timestamps from a CTC path, and forced alignment of a known transcript.

    frame path (T ids, one per 20 ms frame) -> runs of equal ids -> drop blanks -> characters with frame
    spans -> split at the word delimiter "|" -> words with [start, end) frames -> seconds (frame * hop / rate)

`word_spans` reads a *greedy* path (each frame's argmax; what `transcribe --timestamps` prints) the same
way transformers' ``decode(ids, output_word_offsets=True)`` does. `forced_align` finds the best path that
spells a *given* transcript instead: Viterbi over the CTC trellis of ``2U + 1`` states (blank, y1, blank,
y2, ..., yU, blank). From state s a frame may stay (repeat), step to s + 1, or skip the blank to s + 2 when
that blank separates two different tokens (between equal ones it is what keeps "LL" two letters). Times
follow the config: frame t starts at ``t * hop / rate`` s (20 ms at 16 kHz); a span of frames [a, b) is
``[a * hop / rate, b * hop / rate)``, as transformers' word offsets.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from w2v_lite.data.tokenizer import CharTokenizer

__all__ = ["Alignment", "TokenSpan", "WordSpan", "align_logits", "check_transcript", "forced_align", "token_spans",
           "word_spans"]


@dataclass(frozen=True)
class TokenSpan:
    """One emitted token: its id and the frames [start, end) it holds (blank frames not included)."""

    token_id: int
    start: int
    end: int


@dataclass(frozen=True)
class WordSpan:
    """One word with its frames [start_frame, end_frame) and the same span in seconds."""

    word: str
    start_frame: int
    end_frame: int
    start: float
    end: float

    def as_dict(self) -> dict:
        """{"word", "start", "end"} with times in seconds rounded to the ms (the --json form)."""
        return {"word": self.word, "start": round(self.start, 3), "end": round(self.end, 3)}


@dataclass
class Alignment:
    """What `Recognizer.align` (and `align_logits`) returns: words and tokens with spans, the frame path, its
    log probability and the (T, V) log-probabilities it was found in."""

    words: list[WordSpan]
    tokens: list[TokenSpan]
    path: list[int]  # (T,) token id per frame, blank = 0
    score: float  # sum over frames of log p(path[t] | frame t)
    log_probs: torch.Tensor


def token_spans(path: list[int], blank: int = 0) -> list[TokenSpan]:
    """Frame path -> tokens: runs of one id become one token spanning the run; blank runs are dropped."""
    spans, t = [], 0
    while t < len(path):
        end = t
        while end < len(path) and path[end] == path[t]:
            end += 1
        if path[t] != blank:
            spans.append(TokenSpan(int(path[t]), t, end))
        t = end
    return spans


def word_spans(path: list[int], tokenizer: CharTokenizer, hop_seconds: float) -> list[WordSpan]:
    """Frame path (T ids) -> words with frame and time spans, as transformers' output_word_offsets: a word
    runs from its first character's first frame to its last character's last frame (exclusive).
    Special tokens other than the delimiter (<s>, </s>, <unk>) are skipped."""
    specials = {tokenizer.vocab[t] for t in tokenizer.special_tokens}
    delimiter = tokenizer.word_delimiter_token_id
    words: list[WordSpan] = []
    chars: list[TokenSpan] = []

    def flush() -> None:
        if chars:
            text = "".join(tokenizer.id_to_token[c.token_id] for c in chars)
            a, b = chars[0].start, chars[-1].end
            words.append(WordSpan(text, a, b, a * hop_seconds, b * hop_seconds))
            chars.clear()

    for span in token_spans(path, tokenizer.pad_token_id):
        if span.token_id == delimiter:
            flush()
        elif span.token_id not in specials:
            chars.append(span)
    flush()
    return words


def forced_align(log_probs: torch.Tensor, targets: list[int], blank: int = 0) -> tuple[list[int], float]:
    """Best CTC path that spells `targets`: (T, V) log-probabilities, U ids -> (T ids per frame, log prob).

    Viterbi: ``best[s]`` after frame t is the highest log probability of a path over frames 0..t that ends
    in trellis state s; each frame takes the best of stay / step / skip and adds log p(state's token).
    Raises ValueError when T frames cannot hold the transcript (U tokens plus a blank between repeats).
    """
    if log_probs.dim() != 2:
        raise ValueError(f"log_probs must be (T, V), got shape {tuple(log_probs.shape)}")
    targets = [int(i) for i in targets]
    if not targets:
        raise ValueError("the transcript is empty; give at least one character to align")
    if blank in targets:
        raise ValueError(f"targets must not contain the blank id {blank}")
    frames = log_probs.shape[0]
    needed = len(targets) + sum(a == b for a, b in itertools.pairwise(targets))
    if frames < needed:
        raise ValueError(f"the transcript needs at least {needed} frames ({len(targets)} tokens plus a blank "
                         f"between repeated letters) but the audio has {frames}; use a longer clip or a "
                         "shorter transcript")
    states = torch.full((2 * len(targets) + 1,), blank, dtype=torch.long)
    states[1::2] = torch.tensor(targets)
    emit = log_probs.double()[:, states]  # (T, S) log p of each state's token per frame
    skip_ok = torch.zeros(len(states), dtype=torch.bool)
    skip_ok[3::2] = states[3::2] != states[1:-2:2]  # token states whose previous token differs
    neg = torch.tensor(float("-inf"), dtype=torch.float64)
    best = torch.full((len(states),), float("-inf"), dtype=torch.float64)
    best[:2] = emit[0, :2]  # a path starts on the first blank or the first token
    moves = torch.zeros(frames, len(states), dtype=torch.uint8)  # 0 stay, 1 step, 2 skip
    for t in range(1, frames):
        step = torch.cat([neg[None], best[:-1]])
        skip = torch.where(skip_ok, torch.cat([neg[None].expand(2), best[:-2]]), neg)
        candidates = torch.stack([best, step, skip])  # (3, S)
        best, moves[t] = candidates.max(0)
        best = best + emit[t]
    last = len(states) - 1
    s = last if best[last] >= best[last - 1] else last - 1  # a path ends on the last token or blank after it
    score = float(best[s])
    if score == float("-inf"):
        raise ValueError("no CTC path spells the transcript in these frames")
    path = [0] * frames
    for t in range(frames - 1, -1, -1):
        path[t] = int(states[s])
        s -= int(moves[t, s])
    return path, score


def check_transcript(transcript: str, tokenizer: CharTokenizer) -> list[int]:
    """What the audio says -> its U token ids; ValueError when it is empty or has characters the vocabulary
    lacks (an <unk> has nothing to align to), naming them."""
    if not isinstance(transcript, str) or not transcript.split():
        raise ValueError("the transcript is empty; pass the words the audio says, e.g. \"four seven two\"")
    targets = tokenizer.encode(transcript)
    if tokenizer.unk_token_id in targets:
        text = " ".join(transcript.split())
        missing = sorted({c for c, i in zip(text.upper() if tokenizer.upper_case else text, targets)
                          if i == tokenizer.unk_token_id})
        raise ValueError(f"characters {missing} are not in the model's vocabulary; spell the transcript with "
                         f"{''.join(t for t in tokenizer.vocab if len(t) == 1 and t != '|')}")
    return targets


def align_logits(
    logits: torch.Tensor, transcript: str, tokenizer: CharTokenizer, hop_seconds: float
) -> Alignment:
    """One clip's logits (T, V) + what it says -> `Alignment` (words with times, tokens, path, score).

    `Recognizer.align` runs the model and calls this. Raises ValueError as `check_transcript` does, and
    when T frames cannot hold the transcript. The words keep the transcript's spelling and case.
    """
    targets = check_transcript(transcript, tokenizer)
    log_probs = F.log_softmax(logits.double(), dim=-1)
    path, score = forced_align(log_probs, targets, tokenizer.pad_token_id)
    words = word_spans(path, tokenizer, hop_seconds)
    given = transcript.split()
    if len(words) == len(given):  # report the user's spelling
        words = [WordSpan(g, w.start_frame, w.end_frame, w.start, w.end) for g, w in zip(given, words)]
    return Alignment(words, token_spans(path, tokenizer.pad_token_id), path, score, log_probs.float())
