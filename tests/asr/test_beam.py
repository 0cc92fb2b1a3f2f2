"""CTC prefix beam search (asr.decoding.beam_search): beam 1 is greedy, a wide beam finds the most probable
labelling (checked against brute force over every path), the word list keeps the output to its words and
turns "thre two" into "three two", and each hypothesis carries a frame path that spells it."""

import itertools
import math

import numpy as np
import pytest
import torch

from w2v_lite.asr.decoding import Lexicon, beam_decode, beam_search, best_path, greedy_decode
from w2v_lite.data.tokenizer import CharTokenizer, collapse_repeats

TOK = CharTokenizer.from_transcripts(["ab ba"])  # <pad> <unk> | a b: small enough to enumerate every path


def _random_logits(frames: int, seed: int, tok: CharTokenizer = TOK) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(frames, tok.vocab_size, generator=g)
    logits[:, tok.unk_token_id] = -1e4  # the search never emits <unk>; keep brute force to the same tokens
    return logits


def _labelling_scores(logits: torch.Tensor, tok: CharTokenizer = TOK) -> dict[tuple[int, ...], float]:
    """Brute force: log P(labelling) = log sum over every frame path that collapses to it."""
    log_probs = torch.log_softmax(logits.double(), -1)
    tokens = [i for i in range(tok.vocab_size) if i != tok.unk_token_id]
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(tokens, repeat=len(logits)):
        labels = tuple(i for i in collapse_repeats(list(path)) if i != tok.pad_token_id)
        score = float(sum(log_probs[t, i] for t, i in enumerate(path)))
        totals[labels] = float(np.logaddexp(totals.get(labels, -math.inf), score))
    return totals


@pytest.mark.parametrize("seed", range(20))
def test_beam_1_is_greedy(seed):
    tok = CharTokenizer.from_transcripts(["zero one two three four five six seven eight nine stop go"])
    logits = _random_logits(30, seed, tok)
    hyp = beam_search(logits, tok, beam_width=1)[0]
    assert hyp.text == greedy_decode(logits[None], tok)[0]
    assert hyp.path == best_path(logits[None])[0]


@pytest.mark.parametrize("seed", range(6))
def test_wide_beam_finds_the_most_probable_labelling(seed):
    logits = _random_logits(6, seed)
    truth = _labelling_scores(logits)
    best = max(truth, key=truth.get)
    hyp = beam_search(logits, TOK, beam_width=64)[0]  # wider than the number of prefixes: exact
    assert tuple(hyp.label_ids) == best
    assert hyp.log_prob == pytest.approx(truth[best], abs=1e-9)
    assert hyp.text == TOK.decode(list(best), group_tokens=False)


def test_hypotheses_come_best_first_with_their_summed_probability():
    logits = _random_logits(6, 11)
    truth = _labelling_scores(logits)
    hyps = beam_search(logits, TOK, beam_width=64)
    scores = [h.log_prob for h in hyps]
    assert scores == sorted(scores, reverse=True)
    for h in hyps[:10]:
        assert h.log_prob == pytest.approx(truth[tuple(h.label_ids)], abs=1e-9)


def test_the_frame_path_spells_the_hypothesis():
    logits = _random_logits(12, 3)
    for hyp in beam_search(logits, TOK, beam_width=8)[:4]:
        assert len(hyp.path) == 12
        assert [i for i in collapse_repeats(hyp.path) if i != TOK.pad_token_id] == hyp.label_ids


def _valid_for(words: set[str], labels: tuple[int, ...]) -> bool:
    text = "".join(TOK.id_to_token[i] for i in labels)
    if text.endswith("|"):
        text = text[:-1]
    return bool(text) and all(w in words for w in text.split("|"))


@pytest.mark.parametrize("seed", range(6))
def test_word_list_search_is_the_best_labelling_made_of_its_words(seed):
    words = {"ab", "b", "aa"}
    logits = _random_logits(6, seed)
    truth = _labelling_scores(logits)
    allowed = {labels: s for labels, s in truth.items() if _valid_for(words, labels)}
    hyp = beam_search(logits, TOK, beam_width=64, lexicon=Lexicon(sorted(words), TOK))[0]
    assert tuple(hyp.label_ids) == max(allowed, key=allowed.get)
    assert all(w in words for w in hyp.text.split())


def _frames(tok: CharTokenizer, rows: list[dict[str, float]]) -> torch.Tensor:
    """Per-frame probabilities {token: p} (the rest share what is left) -> (T, V) log-probabilities."""
    out = torch.full((len(rows), tok.vocab_size), 0.0)
    for t, row in enumerate(rows):
        rest = (1.0 - sum(row.values())) / (tok.vocab_size - len(row))
        out[t] = rest
        for token, p in row.items():
            out[t, tok.vocab[token]] = p
    return out.log()


def test_a_word_list_turns_thre_two_into_three_two():
    """The second "e" of "three" is less likely than the blank or the space on every frame, so the best path
    (and a plain beam) say "thre two"; with the word list "thre" is no word, and the best path that spells
    only words puts an "e" after a blank: "three two"."""
    tok = CharTokenizer.from_transcripts(["zero one two three four five six seven eight nine"])
    rows = [{"t": 0.9}, {"h": 0.9}, {"r": 0.9}, {"e": 0.9}, {"<pad>": 0.9},
            {"|": 0.5, "e": 0.4}, {"|": 0.55, "<pad>": 0.4}, {"t": 0.9}, {"w": 0.9}, {"o": 0.9}]
    logits = _frames(tok, rows)
    assert greedy_decode(logits[None], tok) == ["thre two"]
    assert beam_search(logits, tok, beam_width=8)[0].text == "thre two"
    digits = Lexicon(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"], tok)
    hyp = beam_search(logits, tok, beam_width=8, lexicon=digits)[0]
    assert hyp.text == "three two"
    assert tok.decode(hyp.path) == "three two"  # the frame path spells it: word times come from it


def test_beam_decode_cuts_each_clip_at_its_frames():
    logits = torch.stack([_random_logits(8, 1), _random_logits(8, 2)])
    lengths = torch.tensor([8, 5])
    assert beam_decode(logits, TOK, lengths, beam_width=1) == greedy_decode(logits, TOK, lengths)
    assert beam_decode(logits, TOK, lengths, beam_width=4)[1] == beam_search(logits[1, :5], TOK, 4)[0].text


@pytest.mark.parametrize(("kwargs", "match"), [({"beam_width": 0}, "beam_width"), ({"beam_width": 2.5}, "beam_width")])
def test_bad_beam_settings_say_why(kwargs, match):
    with pytest.raises(ValueError, match=match):
        beam_search(_random_logits(4, 0), TOK, **kwargs)


def test_bad_lexicons_say_why():
    with pytest.raises(ValueError, match="empty"):
        Lexicon([], TOK)
    with pytest.raises(ValueError, match="lacks"):
        Lexicon(["abc"], TOK)
    with pytest.raises(ValueError, match="one word"):
        Lexicon(["ab ba"], TOK)
    with pytest.raises(ValueError, match=r"\(T, V\)"):
        beam_search(torch.zeros(1, 4, TOK.vocab_size), TOK)
