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
import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from w2v_lite.data.tokenizer import CharTokenizer

Row = tuple[np.ndarray, np.ndarray]  # one frame's scores: (U + 1,) blank states, (U,) token states

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
    score: float | None = None  # forced alignment only: mean log p per frame of the path over the word's frames
    vs_greedy: float | None = None  # ... minus the greedy path's mean over the same frames (<= 0)

    def as_dict(self) -> dict:
        """{"word", "start", "end"} with times in seconds rounded to the ms (the --json form), plus "score"
        and "vs_greedy" (nats per frame, 3 decimals) for a forced alignment."""
        out: dict = {"word": self.word, "start": round(self.start, 3), "end": round(self.end, 3)}
        if self.score is not None and self.vs_greedy is not None:
            out.update(score=round(self.score, 3), vs_greedy=round(self.vs_greedy, 3))
        return out


MATCH_THRESHOLD = -0.5
"""`Alignment.vs_greedy` below this (nats per frame) means the transcript does not seem to match the audio.
Calibrated on the committed ctc-tiny and the 60 held-out corpus clips (benchmarks/align_threshold.py,
numbers in benchmarks/README.md): matched transcripts score -0.10 to 0, another clip's transcript -10.2
to -1.67; -0.5 sits between the two with a margin of about 3x on either side."""

SILENCE_DBFS = -60.0
"""A clip whose peak is below this level (dB relative to full scale) is called silent: nothing to align."""

MAX_CHARACTERS_PER_SECOND = 40.0
"""More transcript characters per second of audio than this is faster than anyone speaks (the corpus,
synthesised at several speeds, holds 2 to 26 per second, median 11): the clip is too short for the
transcript."""


@dataclass
class Alignment:
    """What `Recognizer.align` (and `align_logits`) returns: words and tokens with spans, the frame path, its
    log probability, the (T, V) log-probabilities it was found in, and how well it fits.

    `frame_score` is the mean log p per frame of the forced path, `greedy_frame_score` that of the greedy
    path (each frame's most likely token: no path scores higher), and `vs_greedy` their difference (<= 0):
    near 0 when the audio says the transcript, far below when it does not (see `MATCH_THRESHOLD`).
    `warning` says why the alignment should not be trusted (silence, a clip too short for the transcript,
    or a mismatch), or is None.
    """

    words: list[WordSpan]
    tokens: list[TokenSpan]
    path: list[int]  # (T,) token id per frame, blank = 0
    score: float  # sum over frames of log p(path[t] | frame t)
    log_probs: torch.Tensor  # (T, V)
    frame_score: float = 0.0
    greedy_frame_score: float = 0.0
    vs_greedy: float = 0.0
    warning: str | None = None

    def as_dict(self) -> dict:
        """The scores in the --json form: {"score", "greedy_score", "vs_greedy", "warning"} (3 decimals)."""
        return {"score": round(self.frame_score, 3), "greedy_score": round(self.greedy_frame_score, 3),
                "vs_greedy": round(self.vs_greedy, 3), "warning": self.warning}


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


ALIGN_ROWS_BYTES = 256 * 2**20
"""Score rows `forced_align` keeps at once to read the path back (one float64 per state for each frame of a
segment): 256 MB is 671 frames of a 25,000-character transcript."""
ALIGN_CHECKPOINT_BYTES = 128 * 2**20
"""Score rows `forced_align` saves per level of recomputation (one every segment of frames)."""


class _Trellis:
    """The CTC trellis of U target tokens stored as its U + 1 blank states and U token states, so that each
    vector operation runs on contiguous arrays: blank j is trellis state 2j, token k is state 2k + 1.

    `step` is the Viterbi recursion of the textbook (S = 2U + 1)-state form on the same float64 values
    (the best of stay / step / skip, plus log p of the state's token), restricted to the band of states a
    complete path can be in at frame t: at most 2t + 1 (reachable from the start) and at least
    2U - 1 - 2(T - 1 - t) (can still reach the end). Outside the band only the first state above it is
    written (-inf: unreachable, as in the full table); nothing else outside it is ever read, because the
    predecessors of an in-band state are in the band one frame earlier or that first state above it.
    """

    def __init__(self, log_probs: np.ndarray, targets: np.ndarray, blank: int) -> None:
        self.log_probs = log_probs  # (T, V) float64
        self.targets = targets  # (U,) int64
        self.blank = blank
        self.skip_add = np.where(targets[1:] != targets[:-1], 0.0, -np.inf)  # (U - 1,): token k may skip
        # the blank after token k - 1 (into token k) only when the two tokens differ
        self._scratch = np.empty(max(len(targets) - 1, 0))

    def empty(self) -> tuple[np.ndarray, np.ndarray]:
        """A row of scores where every state is unreachable: (U + 1,) blanks, (U,) tokens, all -inf."""
        return np.full(len(self.targets) + 1, -np.inf), np.full(len(self.targets), -np.inf)

    def first(self) -> tuple[np.ndarray, np.ndarray]:
        """Scores after frame 0: a path starts on blank 0 or on token 0."""
        blanks, tokens = self.empty()
        blanks[0] = self.log_probs[0, self.blank]
        tokens[0] = self.log_probs[0, self.targets[0]]
        return blanks, tokens

    def step(self, prev: tuple[np.ndarray, np.ndarray], t: int, out: tuple[np.ndarray, np.ndarray]) -> None:
        """Write the in-band scores after frame t (t >= 1) into `out` from those after t - 1 in `prev`."""
        (pb, pk), (ob, ok) = prev, out
        units, left = len(self.targets), len(self.log_probs) - 1 - t  # tokens; frames after this one
        j0, j1 = max(0, units - left), min(units, t) + 1  # blanks in the band
        k0, k1 = max(0, units - 1 - left), min(units - 1, t) + 1  # tokens in the band
        if j0 < j1:
            a = max(j0, 1)
            if j0 == 0:
                ob[0] = pb[0]  # blank 0 can only stay
            np.maximum(pb[a:j1], pk[a - 1 : j1 - 1], out=ob[a:j1])  # stay, or step from token j - 1
            ob[j0:j1] += self.log_probs[t, self.blank]
        if k0 < k1:
            np.maximum(pk[k0:k1], pb[k0:k1], out=ok[k0:k1])  # stay, or step from blank k
            a = max(k0, 1)
            if a < k1:  # or skip from token k - 1
                skip = np.add(pk[a - 1 : k1 - 1], self.skip_add[a - 1 : k1 - 1], out=self._scratch[: k1 - a])
                np.maximum(ok[a:k1], skip, out=ok[a:k1])
            ok[k0:k1] += self.log_probs[t].take(self.targets[k0:k1])
        # the one state above the band is the only one the next frame reads besides the band: unreachable.
        # So rows need no -inf fill, and buffers can be reused.
        if j1 < len(ob):
            ob[j1] = -np.inf
        if k1 < len(ok):
            ok[k1] = -np.inf

    def move(self, prev: tuple[np.ndarray, np.ndarray], state: int) -> int:
        """How the best path reached `state` from the row before: 0 stay, 1 step, 2 skip. The first best
        candidate wins a tie, in the order stay, step, skip (as torch.max over the three does)."""
        pb, pk = prev
        if state % 2 == 0:  # blank j: stay, or step from token j - 1
            j = state // 2
            return 1 if j >= 1 and pk[j - 1] > pb[j] else 0
        k = state // 2
        best, move = pk[k], 0
        if pb[k] > best:
            best, move = pb[k], 1
        if k >= 1 and self.skip_add[k - 1] == 0 and pk[k - 1] > best:
            move = 2
        return move


def forced_align(log_probs: torch.Tensor, targets: list[int], blank: int = 0) -> tuple[list[int], float]:
    """Best CTC path that spells `targets`: (T, V) log-probabilities, U ids -> (T ids per frame, log prob).

    Viterbi over the ``S = 2U + 1`` trellis states: the best score of a path over frames 0..t ending in
    state s is the best of stay / step / skip into s plus log p(s's token | frame t); the path is read back
    from the end through the chosen moves. Ties go to stay, then step, then skip.

    Memory is bounded by design, whatever T and U: instead of a T x S table (a 30-minute clip and a
    25,000-character transcript would need 4.5 GB of moves even as uint8, and 36 GB of float64 emissions),
    the forward pass keeps only the current row of scores, saving a copy every few hundred frames
    (`ALIGN_CHECKPOINT_BYTES` per level); the path is then read back segment by segment, each segment's
    rows recomputed from its saved row (`ALIGN_ROWS_BYTES`) and each move decided from the row before.
    Recomputing repeats the same float64 operations, and only the band of states a complete path can be
    in is computed (`_Trellis`), so the path and score are exactly those of the full table, at about twice
    the forward time. Peak memory: the two budgets (one more checkpoint level, and one more forward pass,
    per ~100-fold of length beyond them) plus O(T x V + S).

    Raises ValueError when T frames cannot hold the transcript (U tokens plus a blank between repeats), for
    an id outside the vocabulary, the blank in `targets`, or non-finite-from-above scores (NaN, +inf).
    """
    if not isinstance(log_probs, torch.Tensor):
        raise TypeError(f"log_probs must be a (T, V) torch.Tensor, got {type(log_probs).__name__}")
    if log_probs.dim() != 2 or log_probs.shape[0] == 0:
        raise ValueError(f"log_probs must be (T, V) with T >= 1, got shape {tuple(log_probs.shape)}")
    if not log_probs.is_floating_point():
        raise TypeError(f"log_probs must be floating point (log-softmax output), got {log_probs.dtype}")
    frames, vocab = log_probs.shape
    if isinstance(targets, (str, bytes)) or not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool)
                                                    for i in targets):
        raise TypeError("targets must be a list of int token ids (use the tokenizer's encode)")
    ids = [int(i) for i in targets]
    if not ids:
        raise ValueError("the transcript is empty; give at least one character to align")
    outside = sorted({i for i in ids if not 0 <= i < vocab})
    if outside:
        raise ValueError(f"target ids {outside} are outside the vocabulary of {vocab} tokens (ids 0..{vocab - 1}); "
                         "encode the transcript with the checkpoint's own tokenizer")
    if blank in ids:
        raise ValueError(f"targets must not contain the blank id {blank}")
    needed = len(ids) + sum(a == b for a, b in itertools.pairwise(ids))
    if frames < needed:
        raise ValueError(f"the clip is too short for the transcript: it needs at least {needed} frames "
                         f"({len(ids)} tokens plus a blank between repeated letters) but the audio has {frames}; "
                         "use a longer clip or a shorter transcript")
    lp = log_probs.detach().double().cpu().numpy()
    if np.isnan(lp).any() or (lp == np.inf).any():
        raise ValueError("log_probs contain NaN or +inf; pass log_softmax of finite logits")
    trellis = _Trellis(lp, np.asarray(ids, dtype=np.int64), blank)
    path = np.empty(frames, dtype=np.int64)  # the path as trellis states (blank j = 2j, token k = 2k + 1)
    width = 2 * len(ids) + 1
    leaf = max(1, ALIGN_ROWS_BYTES // (8 * width))  # frames whose rows fit the budget at once
    per_level = max(2, ALIGN_CHECKPOINT_BYTES // (8 * width))  # rows saved per level

    def run(start: int, stop: int, row: Row | None, save: range) -> tuple[Row | None, dict[int, Row | None]]:
        """The row after frame stop - 1 from the row after start - 1 (None at frame 0), and copies of the
        rows before each frame in `save`."""
        saved: dict[int, Row | None] = {}
        buffers = [(np.empty(len(ids) + 1), np.empty(len(ids))) for _ in range(2)]  # rows t - 1 and t, in turn
        for t in range(start, stop):
            if t in save:
                saved[t] = row if row is None else (row[0].copy(), row[1].copy())
            if t == 0:
                row = trellis.first()
            else:
                out = buffers[t % 2]
                trellis.step(row, t, out)  # type: ignore[arg-type]
                row = out
        if stop in save:
            saved[stop] = row if row is None else (row[0].copy(), row[1].copy())
        return row, saved

    def read_back(start: int, stop: int, row: Row | None, state: int) -> int:
        """Fill `path[start:stop]` from the row before `start` and the state at stop - 1; returns the
        state at start - 1."""
        if stop - start > leaf:  # too long to keep every row: save some, then read back piece by piece
            piece = max(leaf, -(-(stop - start) // per_level))
            begins = range(start, stop, piece)
            _, saved = run(start, begins[-1], row, begins)
            for begin in reversed(begins):
                state = read_back(begin, min(begin + piece, stop), saved.pop(begin), state)
            return state
        blanks, tokens = leaf_rows  # every row of the segment (the first stop - start of them)

        def before(t: int) -> Row:  # the row of frame t - 1 (t > 0)
            if t > start:
                return blanks[t - start - 1], tokens[t - start - 1]
            assert row is not None  # only frame 0 has no row before it
            return row

        for t in range(start, stop):
            if t == 0:
                blanks[0], tokens[0] = trellis.first()
            else:
                trellis.step(before(t), t, (blanks[t - start], tokens[t - start]))
        for t in range(stop - 1, start - 1, -1):
            path[t] = state
            if t > 0:
                state -= trellis.move(before(t), state)
        return state

    leaf_rows = np.empty((min(leaf, frames), len(ids) + 1)), np.empty((min(leaf, frames), len(ids)))
    piece = max(leaf, -(-frames // per_level))
    last, saved = run(0, frames, None, range(0, frames, piece))
    assert last is not None  # frames >= 1
    blanks, tokens = last
    # a path ends on the last token or on the blank after it; a tie goes to the blank (the higher state)
    state = width - 1 if blanks[-1] >= tokens[-1] else width - 2
    score = float(blanks[-1] if state == width - 1 else tokens[-1])
    if score == float("-inf"):
        raise ValueError("no CTC path spells the transcript in these frames")
    for begin in reversed(range(0, frames, piece)):
        state = read_back(begin, min(begin + piece, frames), saved.pop(begin), state)
    token_of_state = np.full(width, blank, dtype=np.int64)
    token_of_state[1::2] = ids
    return token_of_state[path].tolist(), score


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


def _doubt(waveform: torch.Tensor | None, rate: int | None, transcript: str, vs_greedy: float) -> str | None:
    """Why an alignment should not be trusted, in words, or None: silence, then a clip too short for the
    transcript (both need the clip (L,) and its rate), then a transcript that does not match."""
    if waveform is None or rate is None:
        return _mismatch(vs_greedy)
    peak = float(waveform.abs().max()) if waveform.numel() else 0.0
    if peak == 0:
        return ("the audio is digital silence (every sample is 0): there is no speech to align the transcript "
                "to, so the word times are meaningless")
    level = 20 * math.log10(peak)
    if level < SILENCE_DBFS:
        return (f"the audio is silent (peak {level:.0f} dBFS, below {SILENCE_DBFS:g}): there is no speech to "
                "align the transcript to, so the word times are meaningless")
    seconds = waveform.numel() / rate
    characters = len(" ".join(transcript.split()))
    if characters > MAX_CHARACTERS_PER_SECOND * seconds:
        return (f"the clip is too short for the transcript: {characters} characters in {seconds:.2f} s is over "
                f"{MAX_CHARACTERS_PER_SECOND:g} per second, faster than speech; check that this is the right "
                "file and transcript")
    return _mismatch(vs_greedy)


def _mismatch(vs_greedy: float) -> str | None:
    if vs_greedy < MATCH_THRESHOLD:
        return (f"the transcript and the audio do not seem to match: the forced path scores "
                f"{-vs_greedy:.2f} nats per frame below the model's own best path (threshold "
                f"{-MATCH_THRESHOLD:g}); check that this is the right file and transcript")
    return None


def align_logits(
    logits: torch.Tensor, transcript: str, tokenizer: CharTokenizer, hop_seconds: float,
    waveform: torch.Tensor | None = None, sampling_rate: int | None = None, warn: bool = True,
) -> Alignment:
    """One clip's logits (T, V) + what it says -> `Alignment` (words with times and scores, tokens, path,
    clip scores).

    `Recognizer.align` runs the model and calls this. Raises ValueError as `check_transcript` does, and
    when T frames cannot hold the transcript. The words keep the transcript's spelling and case. Given the
    clip (L,) and its rate, silence and a clip too short for the transcript are named too; when the result
    should not be trusted (`Alignment.warning`) a UserWarning says why, unless `warn=False`.
    Memory: O(T x V + U) besides the bounded trellis of `forced_align`.
    """
    targets = check_transcript(transcript, tokenizer)
    log_probs = F.log_softmax(logits.double(), dim=-1)  # (T, V)
    path, score = forced_align(log_probs, targets, tokenizer.pad_token_id)
    forced = log_probs.gather(1, torch.tensor(path)[:, None])[:, 0]  # (T,) log p of the path's token
    greedy = log_probs.max(-1).values  # (T,) the best any path can do at each frame
    words = []
    for w in word_spans(path, tokenizer, hop_seconds):
        mine, best = forced[w.start_frame:w.end_frame].mean(), greedy[w.start_frame:w.end_frame].mean()
        words.append(WordSpan(w.word, w.start_frame, w.end_frame, w.start, w.end, float(mine), float(mine - best)))
    given = transcript.split()
    if len(words) == len(given):  # report the user's spelling
        words = [WordSpan(g, w.start_frame, w.end_frame, w.start, w.end, w.score, w.vs_greedy)
                 for g, w in zip(given, words)]
    frame_score, greedy_score = score / len(path), float(greedy.mean())
    doubt = _doubt(waveform, sampling_rate, transcript, frame_score - greedy_score)
    if doubt is not None and warn:
        warnings.warn(doubt, UserWarning, stacklevel=2)
    return Alignment(words, token_spans(path, tokenizer.pad_token_id), path, score, log_probs.float(),
                     frame_score, greedy_score, frame_score - greedy_score, doubt)
