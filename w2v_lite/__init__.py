"""w2v_lite: a small, exact, readable wav2vec 2.0 in PyTorch.

Modules in data-flow order: config, audio, lengths, feature_encoder, projection, masking, context, model,
quantizer, pretraining, ctc; plus checkpoints, explain and cli.
"""

from . import audio
from .config import Wav2Vec2Config
from .ctc import Wav2Vec2ForCTC
from .lengths import frame_mask, layer_lengths, output_lengths, receptive_field, samples_for_frames
from .masking import compute_mask_indices, sample_negative_indices
from .model import Wav2Vec2Model, Wav2Vec2Output
from .pretraining import Wav2Vec2ForPreTraining
from .quantizer import GumbelVectorQuantizer, gumbel_temperature, perplexity
from .tokenizer import CharTokenizer

__all__ = [
    "CharTokenizer",
    "Wav2Vec2ForCTC",
    "GumbelVectorQuantizer",
    "Wav2Vec2Config",
    "Wav2Vec2ForPreTraining",
    "Wav2Vec2Model",
    "Wav2Vec2Output",
    "audio",
    "compute_mask_indices",
    "frame_mask",
    "gumbel_temperature",
    "layer_lengths",
    "output_lengths",
    "perplexity",
    "receptive_field",
    "sample_negative_indices",
    "samples_for_frames",
]
