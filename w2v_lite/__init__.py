"""w2v_lite: a small, exact, readable wav2vec 2.0 in PyTorch.

    config.py, lengths.py   the model's numbers; samples -> frames -> masks (the heart of the lesson)
    cost.py                 what a clip costs: FLOPs and activation bytes per stage, from config + lengths
    model/                  conv stack, projection, masking, transformer, quantizer, pretraining and CTC heads;
                            the int8 inference path, ONNX export and the ONNX Runtime backend
    data/                   audio I/O, datasets, bucketing, tokenizer, augmentation
    train/                  the shared training loop, atomic checkpoints, one module per objective, the CLI
    asr/                    decoding, published checkpoints, chunking, alignment, error rates, transcription
    teach/                  explain tables, figures, widgets, exercise checks (imports matplotlib; not loaded here)
    cli.py                  the `w2v-lite` command line
"""

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.cost import cost
from w2v_lite.data import audio
from w2v_lite.data.tokenizer import CharTokenizer
from w2v_lite.lengths import frame_mask, layer_lengths, output_lengths, receptive_field, samples_for_frames
from w2v_lite.model.ctc import Wav2Vec2ForCTC
from w2v_lite.model.export import export_onnx
from w2v_lite.model.masking import compute_mask_indices, sample_negative_indices
from w2v_lite.model.pretraining import Wav2Vec2ForPreTraining
from w2v_lite.model.quantizer import GumbelVectorQuantizer, gumbel_temperature, perplexity
from w2v_lite.model.wav2vec2 import Wav2Vec2Model, Wav2Vec2Output

__all__ = [
    "CharTokenizer",
    "GumbelVectorQuantizer",
    "Wav2Vec2Config",
    "Wav2Vec2ForCTC",
    "Wav2Vec2ForPreTraining",
    "Wav2Vec2Model",
    "Wav2Vec2Output",
    "audio",
    "compute_mask_indices",
    "cost",
    "export_onnx",
    "frame_mask",
    "gumbel_temperature",
    "layer_lengths",
    "output_lengths",
    "perplexity",
    "receptive_field",
    "sample_negative_indices",
    "samples_for_frames",
]
