"""Speech recognition with a CTC model: greedy decoding (`decoding`), error rates (`metrics`) and file
transcription (`transcribe`, the `w2v-lite transcribe` command). ASR code may import config, lengths, model
and data; never train or teach.
"""

from w2v_lite.asr.decoding import best_path, greedy_decode, load_for_inference, recognize
from w2v_lite.asr.metrics import cer, wer

__all__ = ["best_path", "cer", "greedy_decode", "load_for_inference", "recognize", "wer"]
