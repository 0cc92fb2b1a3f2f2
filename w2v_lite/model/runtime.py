"""ONNX Runtime behind the model's own call: ``OnnxModel(input_values, attention_mask=None)`` returns the
`Wav2Vec2Output` or `CTCOutput` that the torch model returns, computed by an exported graph (`export.py`).

    fast = model.optimize_for_inference(backend="onnxruntime")                  # exact: fp32 graph
    fast = model.optimize_for_inference(quantize="int8", backend="onnxruntime") # int8 transformer matmuls
    fast = model.optimize_for_inference(quantize="int8-conv", backend="onnxruntime")  # + conv layers 1-3

Needs the optional `fast` extra (onnx, onnxruntime): ``pip install 'w2v_lite[fast]'``. Without it,
`optimize_for_inference(backend="onnxruntime")` raises `MissingExtraError` (an ImportError) saying so.

Session settings, measured on a 2-core CPU (benchmarks/README.md): all graph optimisations
(ORT_ENABLE_ALL: LayerNorm, GELU and bias fusions), one session thread per torch thread, sequential
execution. int8 is dynamic quantisation of every MatMul that has a weight, one scale per output channel:
q/k/v/out, feed-forward, projection, CTC head. "int8-conv" adds conv layers `INT8_CONV_LAYERS` (1 to 3),
exported as MatMuls (`export.MatMulConv1d`) because ORT's int8 Conv (ConvInteger) is slower than its fp32
Conv here. Layers 1 to 3 hold 90% of the base conv stack's FLOPs; quantising 4 to 6 as well saved about 3%
of the FLOPs but cost cosine (0.99843 instead of 0.99906 on a padded batch: benchmarks/README.md). Conv
layer 0 (one input channel), conv layers 4 to 6 and the positional conv stay fp32.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from w2v_lite.config import Wav2Vec2Config
from w2v_lite.errors import UsageError
from w2v_lite.lengths import lengths_to_mask
from w2v_lite.model.interface import CTCOutput, Wav2Vec2Output, validate_inputs

__all__ = ["INT8_CONV_LAYERS", "MissingExtraError", "OnnxModel", "make_session", "quantize_int8", "require_onnxruntime"]

INT8_CONV_LAYERS = (1, 2, 3)  # the conv layers "int8-conv" computes in int8 (see above)
EXTRA_HINT = "pip install 'w2v_lite[fast]' (or: pip install onnx onnxruntime)"


class MissingExtraError(UsageError, ImportError):
    """An optional dependency is not installed; the message names the extra that provides it. An ImportError
    (what it is) and a `UsageError` (so that `w2v-lite` prints it as one `error:` line, like other bad input)."""


def require_onnxruntime() -> ModuleType:
    """`import onnxruntime` (and check that onnx imports), or MissingExtraError naming the `fast` extra."""
    try:
        import onnx  # noqa: F401  # the exporter needs it
        import onnxruntime

        return onnxruntime
    except ImportError as err:
        raise MissingExtraError(f"the onnxruntime backend needs the optional `fast` extra ({err.name or err} is "
                                f"not installed): {EXTRA_HINT}") from None


def quantize_int8(graph: bytes) -> bytes:
    """Dynamic int8 weights, one scale per output channel, for every MatMul of an fp32 graph that has a weight.

    Activations are quantised per call; attention's two activation-by-activation MatMuls and Conv ops stay
    fp32. Per-channel scales rather than one per tensor: cosine to fp32 0.99906 instead of 0.99869 on the base
    model's 10 s clip with every conv layer quantised."""
    require_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="w2v_lite-int8-") as tmp:
        src, dst = Path(tmp, "fp32.onnx"), Path(tmp, "int8.onnx")
        src.write_bytes(graph)
        quantize_dynamic(src, dst, op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8,
                         per_channel=True)
        return dst.read_bytes()


def make_session(graph: bytes | str | os.PathLike[str], threads: int | None = None):
    """An `onnxruntime.InferenceSession` on the CPU with the settings above (threads: torch's by default)."""
    ort = require_onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads if threads is not None else torch.get_num_threads()
    options.inter_op_num_threads = 1
    source = graph if isinstance(graph, bytes) else str(graph)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


class OnnxModel:
    """An ONNX Runtime session called like the torch model it was exported from.

    ``(input_values (B, L) [, attention_mask (B, L)]) -> Wav2Vec2Output | CTCOutput`` with
    `last_hidden_state` (B, T, H) and `extract_features` (B, T, C), or `logits` (B, T, V); plus
    `frame_lengths` (B,) and `frame_mask` (B, T). Inputs are checked as the torch model checks them.
    Inference only: no gradients, no hidden states, no labels.
    """

    def __init__(self, graph: bytes | str | os.PathLike[str], config: Wav2Vec2Config, threads: int | None = None):
        self.session = make_session(graph, threads)
        self.config = config
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.is_ctc = "logits" in self.output_names

    def __call__(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None
                 ) -> Wav2Vec2Output | CTCOutput:
        """``(B, L) [+ (B, L) 0/1 mask] -> Wav2Vec2Output | CTCOutput`` (see the class docstring)."""
        x, sample_lengths = validate_inputs(input_values, attention_mask, None, self.config)
        feeds = {"input_values": x.detach().to(torch.float32).cpu().contiguous().numpy()}
        if "attention_mask" in self.input_names:
            mask = (lengths_to_mask(sample_lengths.cpu(), x.shape[1]) if sample_lengths is not None
                    else torch.ones(x.shape, dtype=torch.bool))
            feeds["attention_mask"] = mask.to(torch.int64).numpy()
        elif sample_lengths is not None and bool((sample_lengths < x.shape[1]).any()):
            raise ValueError("this graph was exported without an attention_mask input; it takes unpadded clips "
                             "only: run them one at a time, or export with attention_mask=True")
        outputs = dict(zip(self.output_names, self.session.run(None, feeds), strict=True))
        frame_lengths = torch.from_numpy(np.asarray(outputs["frame_lengths"], dtype=np.int64))
        first = torch.from_numpy(outputs[self.output_names[0]])
        frame_mask = lengths_to_mask(frame_lengths, first.shape[1])
        if self.is_ctc:
            return CTCOutput(logits=first, frame_lengths=frame_lengths, frame_mask=frame_mask)
        return Wav2Vec2Output(last_hidden_state=first, extract_features=torch.from_numpy(outputs["extract_features"]),
                              frame_mask=frame_mask, frame_lengths=frame_lengths)

    # what callers of a torch model also use
    training = False

    def eval(self) -> OnnxModel:
        """Already inference-only; returns self (so ``model.eval()`` keeps working)."""
        return self

    def parameters(self) -> Iterator[torch.Tensor]:
        """The graph holds the weights; this yields one empty CPU tensor, so that callers that place inputs
        with ``next(model.parameters()).device`` put them on the CPU, where the session runs."""
        return iter((torch.empty(0),))

    def __repr__(self) -> str:
        kind = "Wav2Vec2ForCTC" if self.is_ctc else "Wav2Vec2Model"
        return f"OnnxModel({kind}, inputs={self.input_names}, outputs={self.output_names})"
