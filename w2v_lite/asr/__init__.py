"""Speech recognition with a CTC model: greedy decoding (`decoding`), error rates (`metrics`), checkpoints as
published by transformers (`pretrained`), long audio in overlapping windows (`chunking`), word timestamps and
forced alignment (`alignment`) and file transcription (`transcribe`, the `w2v-lite transcribe` and `align`
commands). ASR code may import config, lengths, model and data; never train or teach.
"""

from w2v_lite.asr.alignment import align, forced_align, word_spans
from w2v_lite.asr.chunking import encode_chunked
from w2v_lite.asr.decoding import best_path, emissions, greedy_decode, load_for_inference, recognize
from w2v_lite.asr.metrics import cer, wer
from w2v_lite.asr.pretrained import load_recognizer

__all__ = ["align", "best_path", "cer", "emissions", "encode_chunked", "forced_align", "greedy_decode",
           "load_for_inference", "load_recognizer", "recognize", "wer", "word_spans"]
