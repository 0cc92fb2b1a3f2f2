"""w2v_lite: a small, exact, readable wav2vec 2.0 in PyTorch.

Modules in data-flow order: config, audio, lengths, feature_encoder, projection, masking, context, model,
quantizer, pretraining, ctc; plus checkpoints and cli.
"""

from .config import Wav2Vec2Config
from .lengths import frame_mask, layer_lengths, output_lengths, receptive_field, samples_for_frames
from .model import Wav2Vec2Model, Wav2Vec2Output

__all__ = [
    "Wav2Vec2Config",
    "Wav2Vec2Model",
    "Wav2Vec2Output",
    "frame_mask",
    "layer_lengths",
    "output_lengths",
    "receptive_field",
    "samples_for_frames",
]
