"""Characters <-> label ids for CTC, in the style of transformers' `Wav2Vec2CTCTokenizer`.

    vocab:  {"<pad>": 0, "<unk>": 1, "|": 2, "e": 3, "f": 4, ...}    (saved as vocab.json)
    encode("two one")          -> [t, w, o, |, o, n, e]   ids; a space becomes the word delimiter "|"
    decode([0, t, t, 0, w, o]) -> "two"   greedy CTC: collapse repeats, then drop blanks, "|" -> " "

`<pad>` (id 0) doubles as the CTC blank, as in every wav2vec 2.0 CTC checkpoint (`pad_token_id = 0`).
The same vocab.json loads in transformers: ``Wav2Vec2CTCTokenizer(path, unk_token="<unk>",
pad_token="<pad>", word_delimiter_token="|")`` gives the same ids.

Published transformers vocabularies also hold `<s>` and `</s>` and upper-case letters, e.g.
``{"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "E": 5, ..., "'": 27}``; their special-token
names come from `tokenizer_config.json`. `load(folder)` reads both files. Text is upper-cased on the way
in when the vocabulary's letters are all upper case.

Decoding order. transformers' `batch_decode(ids, skip_special_tokens=True)` drops the special tokens,
the blank included, *before* collapsing repeats, so a real double letter ("L, blank, L") becomes one:
"HELLO" decodes as "HELO" (its ASR pipeline decodes CTC with skip_special_tokens=False for that reason).
`decode` collapses first and then drops the blank and the other special tokens, which is the CTC rule; the
two agree on every path where no blank or special token separates two equal characters, and
`decode(ids, skip_special_tokens=True)` reproduces transformers' order exactly when you need to compare.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from w2v_lite.config import IGNORE_INDEX

__all__ = ["PAD", "UNK", "WORD_DELIMITER", "VOCAB_FILE", "TOKENIZER_CONFIG_FILE", "CharTokenizer",
           "collapse_repeats", "read_json_object"]

PAD, UNK, WORD_DELIMITER = "<pad>", "<unk>", "|"
VOCAB_FILE = "vocab.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"  # transformers' special-token names, optional


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON file that must hold an object -> dict; ValueError naming the file for bad UTF-8, bad JSON or
    another JSON type. `what` says what the file should hold (for the message)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start}); "
                         f"it must be a JSON object of {what}: restore the checkpoint's copy") from None
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); it must "
                         f"be a JSON object of {what}: restore the checkpoint's copy") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a JSON {_json_type(data)}, but it must be a JSON object of {what}")
    return data


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type: object, array, string, number, true/false, null."""
    names = {dict: "object", list: "array", str: "string", bool: "true/false", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def collapse_repeats(ids: Sequence[int]) -> list[int]:
    """Merge runs of the same id into one: [0, 5, 5, 0, 5, 7, 7] -> [0, 5, 0, 5, 7].

    The first half of greedy CTC decoding; the blank (0 above) must still be there, because it is what
    separates a real double letter ("5, blank, 5") from one letter held over several frames ("5, 5").
    """
    return [t for i, t in enumerate(ids) if i == 0 or t != ids[i - 1]]


class CharTokenizer:
    """One id per character. `<pad>` = 0 is the CTC blank, `<unk>` stands for unknown characters, `|` for
    a space; optional `<s>` / `</s>` (transformers' bos / eos) are never emitted in text."""

    def __init__(
        self,
        vocab: dict[str, int],
        pad_token: str = PAD,
        unk_token: str = UNK,
        word_delimiter_token: str = WORD_DELIMITER,
        bos_token: str | None = None,
        eos_token: str | None = None,
    ) -> None:
        if not isinstance(vocab, dict) or not vocab:
            raise TypeError("vocab must be a non-empty dict {token: id}; see CharTokenizer.from_transcripts")
        ids = sorted(vocab.values())
        if ids != list(range(len(vocab))):
            raise ValueError(f"vocab ids must be exactly 0..{len(vocab) - 1} (each once), got {ids}")
        for token in (pad_token, unk_token, word_delimiter_token, bos_token, eos_token):
            if token is not None and token not in vocab:
                raise ValueError(f"vocab has no {token!r} token; use CharTokenizer.from_transcripts")
        if vocab[pad_token] != 0:
            raise ValueError(f"{pad_token!r} must have id 0 (it is the CTC blank), got {vocab[pad_token]}")
        self.pad_token, self.unk_token, self.word_delimiter_token = pad_token, unk_token, word_delimiter_token
        self.bos_token, self.eos_token = bos_token, eos_token
        self.special_tokens = tuple(t for t in (bos_token, eos_token, unk_token, pad_token) if t is not None)
        bad = [t for t in vocab if t not in self.special_tokens and len(t) != 1]
        if bad:
            raise ValueError(f"tokens must be single characters (besides {', '.join(self.special_tokens)}), "
                             f"got {bad}; special tokens are named in tokenizer_config.json")
        self.vocab = dict(vocab)
        self.id_to_token = {i: t for t, i in vocab.items()}
        self._special_ids = {vocab[t] for t in self.special_tokens}
        letters = [t for t in vocab if t not in self.special_tokens and t.isalpha()]
        # a published English vocabulary is upper case ("E", "T", ...): upper-case text on the way in
        self.upper_case = bool(letters) and all(t.isupper() for t in letters)

    # ---- ids of the special tokens ------------------------------------------------------------------
    @property
    def pad_token_id(self) -> int:
        """The blank / padding id (0)."""
        return self.vocab[self.pad_token]

    @property
    def unk_token_id(self) -> int:
        """Id given to characters that are not in the vocabulary."""
        return self.vocab[self.unk_token]

    @property
    def word_delimiter_token_id(self) -> int:
        """Id of "|", which stands for the space between words."""
        return self.vocab[self.word_delimiter_token]

    @property
    def vocab_size(self) -> int:
        """Number of tokens, the width V of the CTC head's output (B, T, V)."""
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    # ---- building ---------------------------------------------------------------------------------------
    @classmethod
    def from_transcripts(cls, transcripts: Iterable[str]) -> CharTokenizer:
        """Vocabulary of every character in `transcripts` (spaces become "|"), sorted, after the specials."""
        chars: set[str] = set()
        for i, text in enumerate(transcripts):
            chars.update(cls._normalise(text, f"transcript {i}"))
        chars.discard(" ")
        chars -= {WORD_DELIMITER}
        tokens = [PAD, UNK, WORD_DELIMITER, *sorted(chars)]
        return cls({t: i for i, t in enumerate(tokens)})

    @staticmethod
    def _normalise(text: str, what: str = "text") -> str:
        if not isinstance(text, str):
            raise TypeError(f"{what} must be a str, got {type(text).__name__}")
        text = " ".join(text.split())  # trim, and one space between words
        if not text:
            raise ValueError(f"{what} is empty; CTC needs at least one token per clip (fix or drop it)")
        return text

    # ---- text -> ids -> text ----------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """"two one" -> [t, w, o, |, o, n, e] ids (len = characters after collapsing runs of spaces).

        Unknown characters become `<unk>`; an empty (or all-whitespace) text raises ValueError.
        """
        text = self._normalise(text)
        if self.upper_case:
            text = text.upper()
        return [self.vocab.get(self.word_delimiter_token if c == " " else c, self.unk_token_id) for c in text]

    def decode(
        self, ids: Sequence[int] | torch.Tensor, group_tokens: bool = True, skip_special_tokens: bool = False
    ) -> str:
        """Ids -> text. With `group_tokens` (greedy CTC output, the default, as in transformers): collapse
        repeats, then drop blanks and the other special tokens (`<s>`, `</s>`, `<unk>`). Without (reference
        labels, where "ee" is really two e's): only drop them and -100 label padding. "|" becomes a space;
        runs of spaces become one and the ends are stripped.

        `skip_special_tokens=True` drops the special tokens *before* collapsing, exactly as transformers'
        `batch_decode(ids, skip_special_tokens=True)` does (which merges "L, blank, L" into one "L")."""
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1 or ids.is_floating_point():
                raise ValueError(f"decode takes one 1-D integer sequence, got {ids.dtype} "
                                 f"{tuple(ids.shape)}; use batch_decode for (B, U) batches")
            ids = ids.tolist()
        ids = [int(i) for i in ids if int(i) != IGNORE_INDEX]
        unknown = [i for i in ids if i not in self.id_to_token]
        if unknown:
            raise ValueError(f"ids {sorted(set(unknown))} are not in the vocabulary (size {self.vocab_size})")
        if skip_special_tokens:
            ids = [i for i in ids if i not in self._special_ids]
        if group_tokens:
            ids = collapse_repeats(ids)
        tokens = [self.id_to_token[i] for i in ids if i not in self._special_ids]
        text = "".join(" " if t == self.word_delimiter_token else t for t in tokens)
        return " ".join(text.split())

    def batch_decode(
        self, sequences: torch.Tensor | Sequence[Sequence[int]], group_tokens: bool = True,
        skip_special_tokens: bool = False,
    ) -> list[str]:
        """(B, U) ids (padded with -100 or with the blank) -> B strings; see `decode`.

        For a padded batch of *labels* pass ``group_tokens=False``, or double letters are merged.
        """
        if isinstance(sequences, torch.Tensor) and sequences.dim() != 2:
            raise ValueError(f"batch_decode takes a (B, U) batch, got shape {tuple(sequences.shape)}")
        return [self.decode(seq, group_tokens=group_tokens, skip_special_tokens=skip_special_tokens)
                for seq in sequences]

    def pad_labels(self, transcripts: Sequence[str]) -> torch.Tensor:
        """B transcripts -> (B, U_max) long labels, right-padded with -100 (ignored by the CTC loss)."""
        if isinstance(transcripts, str):
            raise TypeError("pad_labels takes a list of transcripts; wrap one as [text]")
        encoded = [self.encode(t) for t in transcripts]
        if not encoded:
            raise ValueError("pad_labels got no transcripts")
        labels = torch.full((len(encoded), max(map(len, encoded))), IGNORE_INDEX, dtype=torch.long)
        for b, ids in enumerate(encoded):
            labels[b, : len(ids)] = torch.tensor(ids)
        return labels

    # ---- vocab.json -------------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write `folder/vocab.json` (created if needed); returns its path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / VOCAB_FILE
        path.write_text(json.dumps(self.vocab, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> CharTokenizer:
        """Read `folder/vocab.json` (or a path to the file itself), with the special-token names of
        `tokenizer_config.json` next to it when there is one (a folder saved by transformers)."""
        path = Path(folder)
        if path.is_dir():
            path = path / VOCAB_FILE
        if not path.is_file():
            raise ValueError(f"no {VOCAB_FILE} at {path}: a CTC checkpoint needs its vocabulary next to "
                             "config.json; write it with CharTokenizer.save(folder) (the ctc trainer does)")
        vocab = read_json_object(path, "{token: id}")
        for token, i in vocab.items():
            if isinstance(i, bool) or not isinstance(i, int):
                raise ValueError(f"{path}: token {token!r} has id {i!r} (a JSON {_json_type(i)}); every id must be an "
                                 f"int, 0 to {len(vocab) - 1}")
        names: dict[str, Any] = {"pad_token": PAD, "unk_token": UNK, "word_delimiter_token": WORD_DELIMITER,
                 "bos_token": None, "eos_token": None}
        config_path = path.parent / TOKENIZER_CONFIG_FILE
        if config_path.is_file():
            config = read_json_object(config_path, "tokenizer settings")
            for key, default in names.items():
                value = config.get(key) or default
                if isinstance(value, dict):  # older transformers save {"content": "<s>", ...}
                    value = value.get("content") or default
                if value is not None and not isinstance(value, str):
                    raise ValueError(f"{config_path}: field {key!r} must be a token string (or "
                                     f'{{"content": "..."}}), got {config[key]!r}')
                optional = key in ("bos_token", "eos_token")
                names[key] = None if optional and value not in vocab else value  # unknown required: error
        else:  # a bare vocab.json: take <s> / </s> as bos / eos when they are there
            names["bos_token"] = "<s>" if "<s>" in vocab else None
            names["eos_token"] = "</s>" if "</s>" in vocab else None
        try:
            return cls(vocab, **names)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from None
