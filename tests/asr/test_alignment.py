"""Word timestamps and forced alignment: Viterbi against brute force over every path on tiny cases,
against torchaudio when it is installed, word offsets against transformers' output_word_offsets, and word
start times on a clip with known silences between words."""

import itertools
import math

import numpy as np
import pytest
import torch
from published import PUBLISHED_VOCAB, vocab_file
from torch.nn import functional as F

from w2v_lite.asr import alignment
from w2v_lite.asr.alignment import forced_align, token_spans, word_spans
from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.data.audio import corpus_items, load
from w2v_lite.data.tokenizer import CharTokenizer, collapse_repeats
from w2v_lite.teach.long_audio import gapped_clip


def brute_force(log_probs: torch.Tensor, targets: list[int], blank: int = 0) -> tuple[list[int], float]:
    """Every one of V^T frame paths; keep those that collapse to `targets`; return the most probable."""
    frames, vocab = log_probs.shape
    best, best_path = -math.inf, None
    for path in itertools.product(range(vocab), repeat=frames):
        if [t for t in collapse_repeats(list(path)) if t != blank] != targets:
            continue
        score = float(sum(log_probs[t, s] for t, s in enumerate(path)))
        if score > best:
            best, best_path = score, list(path)
    return best_path, best


CASES = [(4, 3, [1]), (5, 3, [1, 2]), (5, 3, [1, 1]), (6, 4, [1, 2, 1]), (6, 3, [2, 2, 1]), (7, 4, [3, 1, 3, 2]),
         (3, 3, [1, 1]), (6, 4, [1, 2, 3, 1, 2, 3])]


@pytest.mark.parametrize(("frames", "vocab", "targets"), CASES)
@pytest.mark.parametrize("seed", range(3))
def test_viterbi_equals_brute_force(frames, vocab, targets, seed):
    g = torch.Generator().manual_seed(seed)
    log_probs = F.log_softmax(3 * torch.randn(frames, vocab, generator=g, dtype=torch.float64), -1)
    needed = len(targets) + sum(a == b for a, b in itertools.pairwise(targets))
    if frames < needed:
        with pytest.raises(ValueError, match=f"needs at least {needed} frames"):
            forced_align(log_probs, targets)
        return
    path, score = forced_align(log_probs, targets)
    expected_path, expected = brute_force(log_probs, targets)
    assert score == pytest.approx(expected, abs=1e-9)
    assert path == expected_path
    assert [s.token_id for s in token_spans(path)] == targets


def test_repeated_letters_need_a_blank_between():
    log_probs = torch.log(torch.tensor([[0.1, 0.9], [0.1, 0.9], [0.1, 0.9]]))  # the blank is never likely
    path, _ = forced_align(log_probs, [1, 1])
    assert path == [1, 0, 1]  # "LL" stays two letters only with a blank between them
    with pytest.raises(ValueError, match="needs at least 3 frames"):
        forced_align(log_probs[:2], [1, 1])


def test_bad_arguments():
    with pytest.raises(ValueError, match="empty"):
        forced_align(torch.zeros(3, 3), [])
    with pytest.raises(ValueError, match="blank"):
        forced_align(torch.zeros(3, 3), [0, 1])
    with pytest.raises(ValueError, match=r"\(T, V\)"):
        forced_align(torch.zeros(1, 3, 3), [1])


def test_matches_torchaudio_forced_align():
    functional = pytest.importorskip("torchaudio.functional", reason="torchaudio is optional and not installed; "
                                     "test_viterbi_equals_brute_force is the check")
    g = torch.Generator().manual_seed(0)
    log_probs = F.log_softmax(torch.randn(50, 8, generator=g), -1)
    targets = [3, 1, 1, 4, 7, 2, 2, 5]
    path, _ = forced_align(log_probs, targets)
    theirs, _ = functional.forced_align(log_probs[None], torch.tensor([targets], dtype=torch.int32), blank=0)
    assert path == theirs[0].tolist()


def test_word_spans_equal_transformers_word_offsets(tmp_path):
    import transformers

    hf = transformers.Wav2Vec2CTCTokenizer(str(vocab_file(tmp_path)), unk_token="<unk>", pad_token="<pad>",
                                           word_delimiter_token="|")
    tok = CharTokenizer.load(tmp_path)
    g = torch.Generator().manual_seed(0)
    for _ in range(50):  # random greedy paths: letters, blanks and delimiters, no <s> </s> <unk>
        path = torch.randint(4, len(PUBLISHED_VOCAB), (60,), generator=g)
        path[torch.rand(60, generator=g) < 0.4] = 0
        path[torch.rand(60, generator=g) < 0.1] = 4
        theirs = hf.decode(path, output_word_offsets=True).word_offsets
        ours = word_spans(path.tolist(), tok, hop_seconds=0.02)
        assert [(w.word, w.start_frame, w.end_frame) for w in ours] == [
            (w["word"], w["start_offset"], w["end_offset"]) for w in theirs]
        assert all(w.start == pytest.approx(0.02 * w.start_frame) for w in ours)


def test_gapped_clip_puts_words_where_it_says():
    clip = gapped_clip(words=3, gap_seconds=0.25)
    assert clip.starts[0] == 0.25 and len(clip.words) == 3
    for start, end in zip(clip.starts, clip.ends):
        a, b = round(start * 16000), round(end * 16000)
        assert clip.audio[a - 4000: a].abs().max() == 0 and clip.audio[a].abs() > 0  # silence, then the word
        assert clip.audio[b - 1].abs() > 0 and clip.audio[b: b + 4000].abs().max() == 0


def test_align_finds_the_known_word_starts():
    """The committed CTC checkpoint on five words with 0.3 s gaps: every word is found in order, each start
    within 100 ms of the truth (the retrained ctc-tiny emits a word's first letter 20-80 ms after its onset;
    benchmarks/long_audio.py measures more words)."""
    clip = gapped_clip(words=5, gap_seconds=0.3)
    result = Recognizer.load().align(clip.audio, clip.transcript)
    assert [w.word for w in result.words] == clip.words
    errors = np.abs(np.array([w.start for w in result.words]) - np.array(clip.starts))
    assert errors.max() <= 0.1, errors
    assert all(a.end <= b.start for a, b in zip(result.words, result.words[1:]))


def test_align_rejects_characters_outside_the_vocabulary():
    audio = gapped_clip(words=1).audio
    with pytest.raises(ValueError, match=r"characters \['7'\] are not in the model's vocabulary"):
        Recognizer.load().align(audio, "7 one")


# ---- bounded memory, same path (issue 18) ------------------------------------------------------------------------


def full_table_viterbi(log_probs: torch.Tensor, targets: list[int], blank: int = 0) -> tuple[list[int], float]:
    """The textbook Viterbi `forced_align` replaced: a full (T, S) table of moves, S = 2U + 1 states, ties
    to stay, then step, then skip (torch.max's first index)."""
    frames = log_probs.shape[0]
    states = torch.full((2 * len(targets) + 1,), blank, dtype=torch.long)
    states[1::2] = torch.tensor(targets)
    emit = log_probs.double()[:, states]
    skip_ok = torch.zeros(len(states), dtype=torch.bool)
    skip_ok[3::2] = states[3::2] != states[1:-2:2]
    neg = torch.tensor(float("-inf"), dtype=torch.float64)
    best = torch.full((len(states),), float("-inf"), dtype=torch.float64)
    best[:2] = emit[0, :2]
    moves = torch.zeros(frames, len(states), dtype=torch.uint8)
    for t in range(1, frames):
        step = torch.cat([neg[None], best[:-1]])
        skip = torch.where(skip_ok, torch.cat([neg[None].expand(2), best[:-2]]), neg)
        best, moves[t] = torch.stack([best, step, skip]).max(0)
        best = best + emit[t]
    last = len(states) - 1
    s = last if best[last] >= best[last - 1] else last - 1
    score = float(best[s])
    path = [0] * frames
    for t in range(frames - 1, -1, -1):
        path[t] = int(states[s])
        s -= int(moves[t, s])
    return path, score


@pytest.mark.parametrize("seed", range(120))
def test_bounded_viterbi_gives_the_full_tables_path(seed, monkeypatch):
    """Random emissions (continuous, or few distinct values so that ties happen, or all equal), random
    transcripts with repeats, from as few frames as the transcript needs (the band is tight) to many; every
    second seed shrinks the memory budgets to a few rows so that the path is read back through several
    levels of recomputed segments. Path and score must be those of the full table, bit for bit."""
    g = torch.Generator().manual_seed(seed)
    vocab = int(torch.randint(2, 8, (1,), generator=g))
    targets = torch.randint(1, vocab, (int(torch.randint(1, 12, (1,), generator=g)),), generator=g).tolist()
    needed = len(targets) + sum(a == b for a, b in itertools.pairwise(targets))
    frames = needed + int(torch.randint(0, 40, (1,), generator=g))
    kind = seed % 3
    if kind == 0:
        log_probs = F.log_softmax(3 * torch.randn(frames, vocab, generator=g), -1)
    elif kind == 1:  # ties between paths
        log_probs = F.log_softmax(torch.randint(0, 3, (frames, vocab), generator=g).float(), -1)
    else:  # every path equally likely
        log_probs = torch.full((frames, vocab), -1.0)
    if seed % 2:
        width = 8 * (2 * len(targets) + 1)  # bytes of one row of scores
        monkeypatch.setattr(alignment, "ALIGN_ROWS_BYTES", width * int(torch.randint(1, 5, (1,), generator=g)))
        monkeypatch.setattr(alignment, "ALIGN_CHECKPOINT_BYTES", width * int(torch.randint(1, 4, (1,), generator=g)))
    assert forced_align(log_probs, targets) == full_table_viterbi(log_probs, targets)


def test_forced_align_refuses_ids_outside_the_vocabulary():
    with pytest.raises(ValueError, match=r"target ids \[5, 9\] are outside the vocabulary of 5 tokens"):
        forced_align(torch.zeros(10, 5), [1, 5, 9])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        forced_align(torch.zeros(10, 5), [-1])


# ---- scores and warnings (issue 18) --------------------------------------------------------------------------------


def test_align_scores_the_matched_transcript_near_the_greedy_path_and_a_wrong_one_far_below():
    recognizer = Recognizer.load()
    (path, text), (_, other) = corpus_items("test")[2], corpus_items("test")[5]
    assert text != other
    wave = load(path)
    matched = recognizer.align(wave, text, warn=False)
    assert matched.warning is None and alignment.MATCH_THRESHOLD < matched.vs_greedy <= 1e-9
    # the clip score is the mean log p of the path's own tokens, and the greedy one the mean of the maxima
    picked = matched.log_probs.double().gather(1, torch.tensor(matched.path)[:, None])
    assert matched.frame_score == pytest.approx(float(picked.mean()), abs=1e-5)
    best = matched.log_probs.double().max(-1).values
    assert matched.greedy_frame_score == pytest.approx(float(best.mean()), abs=1e-5)
    assert all(w.score is not None and w.vs_greedy <= 1e-9 for w in matched.words)
    with pytest.warns(UserWarning, match="do not seem to match"):
        wrong = recognizer.align(wave, other)
    assert wrong.vs_greedy < alignment.MATCH_THRESHOLD < matched.vs_greedy
    assert set(wrong.as_dict()) == {"score", "greedy_score", "vs_greedy", "warning"}


def test_align_names_silence_and_a_clip_too_short():
    recognizer = Recognizer.load()
    with pytest.warns(UserWarning, match="digital silence"):
        assert "digital silence" in recognizer.align(torch.zeros(32000), "three two").warning
    with pytest.warns(UserWarning, match=r"silent \(peak -80 dBFS"):
        recognizer.align(torch.full((32000,), 1e-4), "three two")
    tone = 0.3 * torch.sin(torch.arange(4800) / 16000 * 2 * math.pi * 220)  # 0.3 s: 14 frames
    with pytest.warns(UserWarning, match="too short for the transcript: 13 characters in 0.30 s"):
        recognizer.align(tone, "one two three")  # fits 14 frames, but 43 characters per second
    with pytest.raises(ValueError, match="too short for the transcript: it needs at least 19 frames"):
        recognizer.align(tone, "three two one four")
