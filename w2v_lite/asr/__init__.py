"""Speech recognition with a CTC model: the inference object `Recognizer` (`recognizer`: model, vocabulary,
preprocessing, chunk policy; `.emissions`, `.transcribe`, `.align`), pure decoding of logits (`decoding`),
error rates (`metrics`), checkpoints as published by transformers (`pretrained`), long audio in
overlapping windows (`chunking`), word timestamps and forced alignment (`alignment`) and the file commands
`w2v-lite transcribe` and `align` (`transcribe`). ASR code may import errors, config, lengths, model and
data; never train or teach.
"""

from w2v_lite.asr.alignment import Alignment, align_logits, forced_align, word_spans
from w2v_lite.asr.chunking import encode_chunked
from w2v_lite.asr.decoding import best_path, collapse, greedy, greedy_decode
from w2v_lite.asr.metrics import cer, wer
from w2v_lite.asr.pretrained import DEFAULT_MODEL_DIR
from w2v_lite.asr.recognizer import Recognizer, Transcript

__all__ = ["DEFAULT_MODEL_DIR", "Alignment", "Recognizer", "Transcript", "align_logits", "best_path", "cer",
           "collapse", "encode_chunked", "forced_align", "greedy", "greedy_decode", "wer", "word_spans"]
