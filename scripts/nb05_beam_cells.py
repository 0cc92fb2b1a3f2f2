"""Cells for notebook 05 (issue 19): greedy vs beam search vs a word list, on the same emissions.

The lead inserts `CELLS` after notebook 05's greedy-decoding section (h16-notebooks owns the notebook), e.g.

    import nbformat; from nb05_beam_cells import CELLS
    new = [nbformat.v4.new_markdown_cell(md) if kind == "markdown" else nbformat.v4.new_code_cell(md)
           for kind, md in CELLS]

then re-executes the notebook. Runtime: about 2 s on one core (one clip, 60 frames). The clip is
corpus/test/0002_en-gb-scotland_m3.flac ("three two"), which today's ctc-tiny reads greedily as "thre two".
If a retrained checkpoint reads it right, the second code cell still shows the mechanism on a hand-made
emission table, so the lesson does not depend on one model's mistake.
"""

CELLS: list[tuple[str, str]] = [
    ("markdown", """\
## Beyond the best path: beam search and a word list

Greedy decoding keeps one path: each frame's most likely token. CTC, though, gives a *text* the summed
probability of **every** path that collapses to it, and the text of the single best path is not always the
most probable text. **Prefix beam search** keeps the `beam_width` most probable text prefixes after each
frame, each with two numbers: the probability of all paths that spell the prefix and end in a blank, and of
those that end in its last letter. A frame either keeps a prefix (a blank, or the last letter again, which CTC
merges) or grows it by one letter; a repeated letter only grows it after a blank ("e _ e" is "ee").

A **word list** restricts which letter may come next: a prefix trie over the words. After "thr" only "e" may
follow, after "thre" only "e" again (no word is "thre"), and the space only where a word is complete."""),
    ("code", """\
from w2v_lite.asr.decoding import Lexicon, beam_search, greedy_decode
from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.asr.transcribe import DEFAULT_MODEL_DIR, model_words
from w2v_lite.data.audio import corpus_dir, load

recognizer = Recognizer.load()                                      # the bundled ctc-tiny
tokenizer = recognizer.tokenizer
clip = load(corpus_dir("test") / "0002_en-gb-scotland_m3.flac")   # says "three two"
logits = recognizer.emissions(clip)                                 # (T, V): the same emissions for all three
words = Lexicon(model_words(DEFAULT_MODEL_DIR), tokenizer)          # the model's 20 words, as a trie

print("greedy           :", greedy_decode(logits[None], tokenizer)[0])
print("beam 8           :", beam_search(logits, tokenizer, beam_width=8)[0].text)
print("beam 8 + 20 words:", beam_search(logits, tokenizer, beam_width=8, lexicon=words)[0].text)
for hyp in beam_search(logits, tokenizer, beam_width=8)[:4]:
    print(f"  {hyp.text!r:14} log P = {hyp.log_prob:7.2f}")"""),
    ("markdown", """\
The beam finds "three two" too (second line of the list), but the model gives "thre two" more probability,
so without a word list it stays first: summing paths changes the ranking only when several paths share a
text. With the word list, "thre" is not a word, so every prefix that tries to end a word there is dropped,
and the most probable text made of words wins: "three two". The same happens below on a hand-made table of
per-frame probabilities (10 frames)."""),
    ("code", """\
import torch
from w2v_lite.data.tokenizer import CharTokenizer

tok = CharTokenizer.from_transcripts(["zero one two three four five six seven eight nine"])
frames = [{"t": 0.9}, {"h": 0.9}, {"r": 0.9}, {"e": 0.9}, {"<pad>": 0.9},
          {"|": 0.5, "e": 0.4}, {"|": 0.55, "<pad>": 0.4}, {"t": 0.9}, {"w": 0.9}, {"o": 0.9}]
table = torch.zeros(len(frames), tok.vocab_size)
for t, row in enumerate(frames):
    table[t] = (1 - sum(row.values())) / (tok.vocab_size - len(row))   # the rest share what is left
    for token, p in row.items():
        table[t, tok.vocab[token]] = p
digits = Lexicon("zero one two three four five six seven eight nine".split(), tok)
best = beam_search(table.log(), tok, beam_width=8, lexicon=digits)[0]
print("greedy:", tok.decode(table.argmax(-1).tolist()), "| with the word list:", best.text)
print("its frame path:", " ".join(tok.id_to_token[i].replace("<pad>", "_") for i in best.path))"""),
    ("markdown", """\
The path printed last is the single best frame path that spells the chosen text (Viterbi, as in forced
alignment): `transcribe --beam 8 --timestamps` reads word times from it. On the command line:
`w2v-lite transcribe clip.wav --beam 8` keeps the bundled model's 20 words; `--no-words` turns the list off,
`--words yes,no,stop` gives your own; `--beam 1` is exactly greedy decoding."""),
]
