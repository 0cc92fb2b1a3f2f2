"""CTC decoding, pure: logits -> ids -> text. No model runs here; `asr.recognizer` does that.

    best_path(logits (B, T, V), frame_lengths (B,))  -> B lists of per-frame argmax ids, padding cut off
    greedy(logits (T, V))                            -> T ids: the greedy path of one clip (the default
                                                        decoder of `Recognizer`)
    collapse(path (T ids), blank)                    -> U ids: repeats merged, blanks dropped
    greedy_decode(logits (B, T, V), tokenizer, frame_lengths)  -> B strings
    beam_search(logits (T, V), tokenizer, beam_width, lexicon)  -> hypotheses, best first (prefix beam search)
    beam_decode(logits (B, T, V), tokenizer, frame_lengths, beam_width, lexicon)  -> B strings
    beam_decoder(tokenizer, beam_width, lexicon)     -> a `Decoder` for `Recognizer` (returns the frame path)
    Lexicon(words, tokenizer)                        -> a word list as a prefix trie, for beam_search

A decoder for `Recognizer` is any function ``logits (T, V) -> list[int]``: either a frame path (T ids, as
`greedy`) or the token ids of the text (fewer than T, as a beam search gives), which the recognizer
force-aligns to get frames and word times.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch

from w2v_lite.data.tokenizer import CharTokenizer, collapse_repeats

__all__ = ["BeamHypothesis", "Decoder", "Lexicon", "beam_decode", "beam_decoder", "beam_search", "best_path",
           "collapse", "greedy", "greedy_decode"]

Decoder = Callable[[torch.Tensor], list[int]]
"""logits (T, V) of one clip -> a frame path (T ids) or the text's token ids (fewer than T)."""


def best_path(logits: torch.Tensor, frame_lengths: torch.Tensor | None = None) -> list[list[int]]:
    """(B, T, V) logits [+ (B,) valid frame counts] -> B lists of per-frame argmax ids, padding cut off."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3:
        raise ValueError(f"logits must be a (B, T, V) tensor, got {getattr(logits, 'shape', type(logits))}")
    batch, frames, _ = logits.shape
    if frame_lengths is None:
        frame_lengths = torch.full((batch,), frames)
    if frame_lengths.shape != (batch,) or (frame_lengths > frames).any() or (frame_lengths < 0).any():
        raise ValueError(f"frame_lengths must be (B,) = ({batch},) counts in [0, {frames}], "
                         f"got {frame_lengths.tolist()}")
    ids = logits.argmax(-1).tolist()
    return [row[:n] for row, n in zip(ids, frame_lengths.tolist(), strict=True)]


def greedy(logits: torch.Tensor) -> list[int]:
    """One clip's logits (T, V) -> its greedy path: the argmax id of each of the T frames."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise ValueError(f"logits must be one clip's (T, V) tensor, got {getattr(logits, 'shape', type(logits))}")
    return best_path(logits[None])[0]


def collapse(path: Sequence[int], blank: int = 0) -> list[int]:
    """A frame path (T ids) -> the ids it spells (U <= T): runs of one id merged, then blanks dropped."""
    return [i for i in collapse_repeats([int(i) for i in path]) if i != blank]


def greedy_decode(
    logits: torch.Tensor, tokenizer: CharTokenizer, frame_lengths: torch.Tensor | None = None
) -> list[str]:
    """(B, T, V) logits -> B transcripts: argmax per valid frame, collapse repeats, drop blanks."""
    if logits.shape[-1] != tokenizer.vocab_size:
        raise ValueError(f"logits have {logits.shape[-1]} classes but the tokenizer has "
                         f"{tokenizer.vocab_size} tokens; use the vocab.json saved with the checkpoint")
    return [tokenizer.decode(path) for path in best_path(logits, frame_lengths)]


# ---- CTC prefix beam search, with an optional word list ---------------------------------------------------
#
# Greedy decoding keeps one path: each frame's argmax. But CTC gives the *labelling* "two" the summed
# probability of every path that collapses to it (t t _ w o, t _ w w o, ...), and the best path's labelling
# need not be the most probable labelling. Prefix beam search keeps the `beam_width` most probable label
# prefixes after each frame, with two numbers per prefix:
#
#     p_blank[prefix]      log P(frames 0..t collapse to prefix, and frame t is the blank)
#     p_label[prefix]      log P(frames 0..t collapse to prefix, and frame t is the prefix's last label)
#
# Each frame, every prefix either stays (the frame is a blank, or repeats the last label, which CTC merges)
# or grows by one label c. A repeat of the last label only grows the prefix after a blank ("e _ e" is "ee",
# "e e" is "e"). Paths that reach the same prefix are summed (log-add), then the best `beam_width` survive.
#
# A word list restricts which labels may follow: a prefix trie over the words' characters. After "th" only
# the trie's children ("r" of "three") may come; the word delimiter "|" only where a word is complete. So
# "thre two" cannot come out: "thre" is no word, and the search finds "three two" among the paths instead.

_NEG_INF = float("-inf")


def _logadd(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) without overflow."""
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    hi, lo = (a, b) if a > b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))


@dataclass
class TrieNode:
    """One node of a prefix trie over token ids: `children[id]` continues a word, `is_word` ends one here."""

    children: dict[int, TrieNode] = field(default_factory=dict)
    is_word: bool = False


class Lexicon:
    """A word list as a prefix trie over a tokenizer's ids: Lexicon(["two", "three"], tokenizer).

    `allowed(node)` gives the ids that may come next after the characters that led to `node`: the node's
    children, plus the word delimiter when a word ends there. Words are normalised as the tokenizer does
    (case); a word with a character the vocabulary lacks raises ValueError naming it.
    """

    def __init__(self, words: Iterable[str], tokenizer: CharTokenizer) -> None:
        self.root = TrieNode()
        self.delimiter = tokenizer.word_delimiter_token_id
        self.words: list[str] = []
        for word in words:
            if not isinstance(word, str) or len(word.split()) != 1:
                raise ValueError(f"each word must be one word without spaces, got {word!r}")
            ids = tokenizer.encode(word)
            if tokenizer.unk_token_id in ids:
                raise ValueError(f"the word {word!r} has characters the model's vocabulary lacks")
            node = self.root
            for i in ids:
                node = node.children.setdefault(i, TrieNode())
            node.is_word = True
            self.words.append(word)
        if not self.words:
            raise ValueError("the word list is empty; give at least one word")

    def allowed(self, node: TrieNode) -> list[int]:
        """Ids that may follow at `node`: its children, and the delimiter if a word (not nothing) ends here."""
        ids = list(node.children)
        if node.is_word:
            ids.append(self.delimiter)
        return ids

    def step(self, node: TrieNode, token: int) -> TrieNode:
        """The node after `token`: the child, or the root again after a delimiter (a new word starts)."""
        return self.root if token == self.delimiter else node.children[token]


@dataclass(frozen=True)
class BeamHypothesis:
    """One result of `beam_search`: the text, its label ids (U, not collapsed further), log P(labelling)
    summed over all its paths (`log_prob`), and the single best frame path (T ids) that spells it, which
    word times (`alignment.word_spans`) and `--frames` read."""

    text: str
    label_ids: list[int]
    log_prob: float
    path: list[int]


def _labels_to_text(ids: Sequence[int], tokenizer: CharTokenizer) -> str:
    """Label ids (already a labelling: no collapsing) -> text, "|" as a space."""
    return tokenizer.decode(ids, group_tokens=False)


def beam_search(
    logits: torch.Tensor, tokenizer: CharTokenizer, beam_width: int = 8, lexicon: Lexicon | None = None,
) -> list[BeamHypothesis]:
    """CTC prefix beam search over one clip's (T, V) logits (or log-probabilities) -> hypotheses, best first.

    `beam_width` prefixes survive each frame. `lexicon` restricts the text to its words (at the end only
    prefixes that finish a word count). `beam_width=1` without a lexicon is greedy decoding (`best_path`):
    a beam of one keeps the single best path. (Prefix search with one prefix would instead keep the most
    probable prefix by summed paths, which is not always the argmax path; keeping one definition of "beam 1"
    makes `--beam 1` give exactly today's greedy output.)
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise ValueError(f"logits must be one clip's (T, V) tensor, got {getattr(logits, 'shape', type(logits))}")
    if logits.shape[-1] != tokenizer.vocab_size:
        raise ValueError(f"logits have {logits.shape[-1]} classes but the tokenizer has "
                         f"{tokenizer.vocab_size} tokens; use the vocab.json saved with the checkpoint")
    if not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(f"beam_width must be a positive int, got {beam_width!r}")
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    blank = tokenizer.pad_token_id
    if beam_width == 1 and lexicon is None:
        path = best_path(logits[None])[0]
        labels = [i for i in collapse_repeats(path) if i != blank]
        return [BeamHypothesis(tokenizer.decode(path), labels, _labelling_log_prob(log_probs, labels, blank), path)]
    # tokens that may start or continue a prefix without a word list: all but the blank and the specials
    special = {tokenizer.vocab[t] for t in tokenizer.special_tokens}
    free = [i for i in range(tokenizer.vocab_size) if i != blank and i not in special]
    rows = log_probs.tolist()
    # prefix (tuple of ids) -> [p_blank, p_label]; the trie node each prefix has reached (word-list search)
    beams: dict[tuple[int, ...], list[float]] = {(): [0.0, _NEG_INF]}
    nodes: dict[tuple[int, ...], TrieNode] = {(): lexicon.root} if lexicon is not None else {}
    for row in rows:
        grown: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [_NEG_INF, _NEG_INF])
        for prefix, (p_blank, p_label) in beams.items():
            p_total = _logadd(p_blank, p_label)
            last = prefix[-1] if prefix else None
            stay = grown[prefix]
            stay[0] = _logadd(stay[0], p_total + row[blank])  # a blank frame: the prefix is unchanged
            if last is not None:  # the last label again, merged by CTC: unchanged too
                stay[1] = _logadd(stay[1], p_label + row[last])
            candidates = free if lexicon is None else lexicon.allowed(nodes[prefix])
            for c in candidates:
                longer = (*prefix, c)
                # after the same label, only a path through a blank makes a second copy of it
                via = p_blank if c == last else p_total
                grown[longer][1] = _logadd(grown[longer][1], via + row[c])
                if lexicon is not None and longer not in nodes:
                    nodes[longer] = lexicon.step(nodes[prefix], c)
        # keep the best `beam_width` prefixes (ties broken by the prefix itself, so the result is deterministic)
        ranked = sorted(grown.items(), key=lambda kv: (-_logadd(*kv[1]), kv[0]))
        beams = dict(ranked[:beam_width])
    # prefixes no path can reach (more labels than frames allow) have probability 0: not hypotheses
    finished = [(prefix, _logadd(*scores)) for prefix, scores in beams.items() if _logadd(*scores) > _NEG_INF]
    if lexicon is not None:  # only whole words: the prefix ends at a word end or after a delimiter
        complete = [(p, s) for p, s in finished if nodes[p].is_word or nodes[p] is lexicon.root]
        finished = complete or finished  # none complete (too few frames): say the best anyway
    finished.sort(key=lambda ps: (-ps[1], ps[0]))
    return [BeamHypothesis(_labels_to_text(p, tokenizer), list(p), s, _best_frame_path(log_probs, list(p), blank))
            for p, s in finished]


def _labelling_log_prob(log_probs: torch.Tensor, labels: list[int], blank: int) -> float:
    """log P(labels | frames), summed over all CTC paths (the CTC forward algorithm, via torch's ctc_loss)."""
    if not labels:
        return float(log_probs[:, blank].sum())
    loss = torch.nn.functional.ctc_loss(log_probs[:, None], torch.tensor([labels]), torch.tensor([len(log_probs)]),
                                        torch.tensor([len(labels)]), blank=blank, reduction="sum",
                                        zero_infinity=False)
    return -float(loss)


def _best_frame_path(log_probs: torch.Tensor, labels: list[int], blank: int) -> list[int]:
    """The single most probable frame path that collapses to `labels` (Viterbi; all blanks for none)."""
    if not labels:
        return [blank] * len(log_probs)
    from w2v_lite.asr.alignment import forced_align  # alignment imports this module: import late

    return forced_align(log_probs, labels, blank)[0]


def beam_decode(
    logits: torch.Tensor, tokenizer: CharTokenizer, frame_lengths: torch.Tensor | None = None,
    beam_width: int = 8, lexicon: Lexicon | None = None,
) -> list[str]:
    """(B, T, V) logits [+ (B,) valid frames] -> B transcripts by `beam_search` (greedy_decode's twin)."""
    paths = best_path(logits, frame_lengths)  # checks the shapes, gives each clip's valid length
    return [beam_search(logits[b, : len(p)], tokenizer, beam_width, lexicon)[0].text for b, p in enumerate(paths)]


def beam_decoder(tokenizer: CharTokenizer, beam_width: int = 8, lexicon: Lexicon | None = None) -> Decoder:
    """A `Decoder` for `Recognizer(decoder=...)`: logits (T, V) -> the best hypothesis' frame path (T ids), so
    the recognizer's text, word times and frames all follow the beam. `beam_width=1` without a lexicon is
    `greedy`."""
    if not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(f"beam_width must be a positive int, got {beam_width!r}")
    return lambda logits: beam_search(logits, tokenizer, beam_width, lexicon)[0].path
