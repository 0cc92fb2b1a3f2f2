"""CharTokenizer: hand-worked vocab, encode, greedy CTC decode, label batches, vocab.json, bad input."""

import json

import pytest
import torch
import transformers

from w2v_lite.data.tokenizer import CharTokenizer, collapse_repeats

# from "three one" + "stop go": specials first, then the sorted letters e g h n o p r s t
EXPECTED_VOCAB = {"<pad>": 0, "<unk>": 1, "|": 2, "e": 3, "g": 4, "h": 5, "n": 6, "o": 7, "p": 8, "r": 9,
                  "s": 10, "t": 11}


@pytest.fixture
def tok():
    return CharTokenizer.from_transcripts(["three one", "stop  go "])


def test_vocab_from_transcripts(tok):
    assert tok.vocab == EXPECTED_VOCAB
    assert (tok.pad_token_id, tok.unk_token_id, tok.word_delimiter_token_id) == (0, 1, 2)
    assert tok.vocab_size == len(tok) == 12


def test_encode_by_hand(tok):
    #                    t   h  r  e  e  |  o  n  e
    assert tok.encode("three one") == [11, 5, 9, 3, 3, 2, 7, 6, 3]
    assert tok.encode("  three   one ") == tok.encode("three one")  # whitespace normalised
    assert tok.encode("tax") == [11, 1, 1]  # a, x are unknown


def test_collapse_repeats():
    assert collapse_repeats([0, 5, 5, 0, 5, 7, 7]) == [0, 5, 0, 5, 7]
    assert collapse_repeats([]) == []


def test_decode_greedy_ctc_by_hand(tok):
    # frames: _ t t h r r _ e _ e e | | o n n e _   ->  "three one"
    path = [0, 11, 11, 5, 9, 9, 0, 3, 0, 3, 3, 2, 2, 7, 6, 6, 3, 0]
    assert tok.decode(path) == "three one"
    # without the blank between the e's they merge into one
    assert tok.decode([11, 5, 9, 3, 3]) == "thre"
    # labels are not a CTC path: group_tokens=False keeps the double e
    assert tok.decode([11, 5, 9, 3, 3], group_tokens=False) == "three"
    assert tok.decode(torch.tensor([0, 0, 0])) == ""
    assert tok.decode([2, 8, 2, 2, 7, 2]) == "p o"  # delimiters at the ends are stripped, runs merged


def test_batch_decode_padded_labels(tok):
    labels = tok.pad_labels(["three", "go", "stop go"])
    assert labels.tolist() == [
        [11, 5, 9, 3, 3, -100, -100],
        [4, 7, -100, -100, -100, -100, -100],
        [10, 11, 7, 8, 2, 4, 7],
    ]
    assert tok.batch_decode(labels, group_tokens=False) == ["three", "go", "stop go"]
    assert tok.batch_decode(labels) == ["thre", "go", "stop go"]


def test_matches_transformers_tokenizer(tok, tmp_path):
    tok.save(tmp_path)
    hf = transformers.Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), unk_token="<unk>", pad_token="<pad>",
                                           word_delimiter_token="|")
    for text in ["three one", "stop go", "the zoo"]:
        assert tok.encode(text) == hf(text).input_ids
    path = [0, 11, 11, 5, 9, 9, 0, 3, 0, 3, 3, 2, 2, 7, 6, 6, 3, 0]
    assert tok.decode(path) == hf.decode(path)


def test_save_load_roundtrip(tok, tmp_path):
    path = tok.save(tmp_path / "ckpt")
    assert path.name == "vocab.json" and json.loads(path.read_text()) == EXPECTED_VOCAB
    assert CharTokenizer.load(tmp_path / "ckpt").vocab == tok.vocab
    assert CharTokenizer.load(path).vocab == tok.vocab


def test_missing_vocab_file(tmp_path):
    with pytest.raises(ValueError, match=r"no vocab\.json"):
        CharTokenizer.load(tmp_path)


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_transcript_raises(tok, text):
    with pytest.raises(ValueError, match="empty"):
        tok.encode(text)
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer.from_transcripts(["one", text])
    with pytest.raises(ValueError, match="empty"):
        tok.pad_labels(["one", text])


@pytest.mark.parametrize(
    ("vocab", "message"),
    [
        ({"<unk>": 0, "<pad>": 1, "|": 2}, "id 0"),
        ({"<pad>": 0, "<unk>": 1, "|": 3}, "0..2"),
        ({"<pad>": 0, "|": 1}, "'<unk>'"),
        ({"<pad>": 0, "<unk>": 1, "|": 2, "ab": 3}, "single characters"),
    ],
)
def test_bad_vocab(vocab, message):
    with pytest.raises(ValueError, match=message):
        CharTokenizer(vocab)


def test_bad_ids_and_types(tok):
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.decode([3, 12])
    with pytest.raises(ValueError, match="batch_decode"):
        tok.decode(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="str"):
        tok.encode(3)
    with pytest.raises(TypeError, match="list"):
        tok.pad_labels("one")
