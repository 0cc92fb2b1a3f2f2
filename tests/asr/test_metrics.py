"""Edit distance, CER / WER on hand-worked cases (cross-checked with jiwer), greedy decoding of logits."""

import jiwer
import pytest
import torch

from w2v_lite.asr.decoding import best_path, greedy_decode
from w2v_lite.asr.metrics import cer, edit_distance, wer
from w2v_lite.data.tokenizer import CharTokenizer


@pytest.mark.parametrize(
    ("ref", "hyp", "distance"),
    [
        ("kitten", "sitting", 3),  # k->s, e->i, +g
        ("", "abc", 3),
        ("abc", "", 3),
        ("abc", "abc", 0),
        ("flaw", "lawn", 2),  # -f, +n
        (["one", "two"], ["one", "too", "two"], 1),  # works on word lists too
    ],
)
def test_edit_distance_by_hand(ref, hyp, distance):
    assert edit_distance(ref, hyp) == distance
    assert edit_distance(hyp, ref) == distance  # symmetric


def test_cer_by_hand():
    assert cer("two", "to") == pytest.approx(1 / 3)  # one deletion in 3 characters
    assert cer("one two", "one too") == pytest.approx(1 / 7)  # one substitution, 7 chars (space counts)
    assert cer("go", "go") == 0.0
    assert cer("no", "no no no") == pytest.approx(6 / 2)  # insertions can push it above 1
    # corpus level: (1 + 0) edits / (3 + 4) characters, not the mean of 1/3 and 0
    assert cer(["two", "four"], ["to", "four"]) == pytest.approx(1 / 7)
    assert cer("  one  two ", "one two") == 0.0  # whitespace normalised


def test_wer_by_hand():
    assert wer("one two", "one too") == pytest.approx(1 / 2)
    assert wer("one two three", "one three") == pytest.approx(1 / 3)
    assert wer(["stop", "go left"], ["stop", "go right now"]) == pytest.approx(2 / 3)


def test_agrees_with_jiwer():
    refs = ["three one four", "stop go", "nine", "left right up"]
    hyps = ["thre one for", "stopgo", "nine nine", "lef rite"]
    assert cer(refs, hyps) == pytest.approx(jiwer.cer(refs, hyps))
    assert wer(refs, hyps) == pytest.approx(jiwer.wer(refs, hyps))


@pytest.mark.parametrize(
    ("refs", "hyps", "error"),
    [(["a", "b"], ["a"], ValueError), ([], [], ValueError), (["", " "], ["a", "b"], ValueError),
     ("a", ["a"], TypeError), ([1], ["a"], TypeError)],
)
def test_bad_input(refs, hyps, error):
    with pytest.raises(error):
        cer(refs, hyps)


def test_best_path_and_greedy_decode_by_hand():
    tok = CharTokenizer.from_transcripts(["ab"])  # <pad>=0 <unk>=1 |=2 a=3 b=4
    paths = [[3, 3, 0, 3, 4, 4], [4, 0, 4, 2, 3, 0]]
    logits = torch.nn.functional.one_hot(torch.tensor(paths), 5).float() * 5  # (2, 6, 5)
    assert best_path(logits) == paths
    assert greedy_decode(logits, tok) == ["aab", "bb a"]
    # only valid frames count: clip 2 has 3 frames, so its last three are padding
    assert best_path(logits, torch.tensor([6, 3])) == [paths[0], [4, 0, 4]]
    assert greedy_decode(logits, tok, torch.tensor([6, 3])) == ["aab", "bb"]
    with pytest.raises(ValueError, match="4 classes but the tokenizer has 5"):
        greedy_decode(logits[..., :4], tok)
    with pytest.raises(ValueError, match="frame_lengths"):
        best_path(logits, torch.tensor([7, 3]))
