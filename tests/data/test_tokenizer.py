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


# ---- transformers' published vocabularies: <s>, </s>, <unk>, upper case, apostrophes ----------------------
from published import PUBLISHED_VOCAB, vocab_file  # noqa: E402


@pytest.fixture
def published(tmp_path):
    """(our tokenizer loaded from a transformers save_pretrained folder, transformers' tokenizer)."""
    hf = transformers.Wav2Vec2CTCTokenizer(str(vocab_file(tmp_path / "v")), unk_token="<unk>", pad_token="<pad>",
                                           word_delimiter_token="|")
    hf.save_pretrained(tmp_path / "saved")
    return CharTokenizer.load(tmp_path / "saved"), hf


def test_published_vocab_loads_with_its_special_tokens(published):
    tok, _ = published
    assert tok.vocab == PUBLISHED_VOCAB
    assert set(tok.special_tokens) == {"<pad>", "<s>", "</s>", "<unk>"}
    assert (tok.pad_token_id, tok.unk_token_id, tok.word_delimiter_token_id) == (0, 3, 4)
    assert tok.upper_case


def test_published_encode_upper_cases_like_transformers(published):
    tok, hf = published
    for text in ["HELLO WORLD", "it's a test", "don't stop"]:
        assert tok.encode(text) == hf(text.upper()).input_ids
    assert tok.encode(" don't   stop ") == tok.encode("don't stop")  # runs of spaces are one delimiter here
    assert tok.encode("it's") == [PUBLISHED_VOCAB[c] for c in "IT'S"]


def test_skip_special_tokens_equals_transformers_on_random_ids(published):
    """Exactly transformers' batch_decode(ids, skip_special_tokens=True), specials and all, on random paths."""
    tok, hf = published
    g = torch.Generator().manual_seed(0)
    batch = torch.randint(0, len(PUBLISHED_VOCAB), (200, 30), generator=g)
    batch[:, ::3] = torch.randint(0, 6, (200, 10), generator=g)  # plenty of specials and delimiters
    assert tok.batch_decode(batch, skip_special_tokens=True) == hf.batch_decode(batch, skip_special_tokens=True)


def test_default_decode_is_the_ctc_rule(published):
    """Collapse first, then drop the blank and the specials: equal to transformers' default decoding (what its
    CTC pipeline uses) once the special-token strings and double spaces are removed, on random paths."""
    tok, hf = published
    g = torch.Generator().manual_seed(1)
    batch = torch.randint(0, len(PUBLISHED_VOCAB), (200, 30), generator=g)
    batch[:, ::3] = torch.randint(0, 6, (200, 10), generator=g)
    for ids, theirs in zip(batch, hf.batch_decode(batch), strict=True):
        for special in ("<s>", "</s>", "<unk>"):
            theirs = theirs.replace(special, "")
        assert tok.decode(ids) == " ".join(theirs.split())


def test_hello_keeps_its_double_l(published):
    """Where the two orders differ: a blank between two L's is a real double letter."""
    tok, hf = published
    h, e, l, o = (PUBLISHED_VOCAB[c] for c in "HELO")  # noqa: E741
    path = [h, h, e, l, 0, l, o, 0]
    assert tok.decode(path) == hf.decode(path) == "HELLO"
    assert tok.decode(path, skip_special_tokens=True) == hf.decode(path, skip_special_tokens=True) == "HELO"
    assert tok.decode([1, h, 3, h, 2]) == "HH"  # <s>, </s>, <unk> never reach the text


def test_custom_special_token_names(tmp_path):
    vocab = {"[PAD]": 0, "[UNK]": 1, "/": 2, "a": 3, "b": 4}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"pad_token": "[PAD]", "unk_token": "[UNK]", "word_delimiter_token": "/", "bos_token": None}))
    tok = CharTokenizer.load(tmp_path)
    assert tok.encode("ab ba") == [3, 4, 2, 4, 3]
    assert tok.decode([3, 0, 3, 2, 1, 4]) == "aa b"
    assert tok.encode("a c") == [3, 2, 1]  # "c" is unknown
