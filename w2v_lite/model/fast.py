"""An opt-in inference path: int8 Linear layers and/or `torch.compile` on a copy of the model, or the model
exported to ONNX and run by ONNX Runtime.

    fast = model.optimize_for_inference(quantize="int8")                   # Wav2Vec2Model or Wav2Vec2ForCTC
    fast = model.optimize_for_inference(backend="onnxruntime")             # exact (max diff ~1e-5), faster
    fast = model.optimize_for_inference("int8", backend="onnxruntime")     # int8 transformer, fp32 conv stack
    fast = model.optimize_for_inference("int8-conv", backend="onnxruntime")  # and conv layers 1-3: fastest

- ``backend="onnxruntime"`` (needs the `fast` extra): `export.onnx_bytes` + `runtime.OnnxModel`, an object
  called like the model that returns the same output type. With ``quantize="int8"`` the transformer's,
  projection's and head's MatMul weights become int8, the conv stack stays fp32; ``"int8-conv"`` also
  computes conv layers 1 to 3 in int8 (exported as MatMuls): the fastest path, but it moves the outputs more
  (on the committed tiny model, held-out CER +0.5 to 0.8 points; see runtime.py and benchmarks/README.md).

- ``quantize="int8"``: dynamic quantisation of every `nn.Linear` (q/k/v/out, feed-forward, projection, CTC
  head): weights stored as int8, activations quantised per call. About 85% of the base model's matmul
  FLOPs sit in those layers; the conv stack stays fp32. Outputs move by about 1e-2 (cosine ~0.999).
- ``compile=True``: `torch.compile(dynamic=True)`, meant to fuse the memory-bound GELU/LayerNorm/add chains.
  Experimental: the first call takes about a minute for the base model, and in benchmarks/README.md's
  CPU-time run the compiled fp32 model was slower than eager (int8+compile no better than int8 alone).

The original model is left untouched (training, saving and parity keep working on it). The copy is in eval
mode and meant for inference only: it cannot be trained or saved with `save_pretrained`.
"""

from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING, Literal, Self, TypeVar, cast, overload

import torch
from torch import nn

if TYPE_CHECKING:
    from w2v_lite.model.runtime import OnnxModel

__all__ = ["BACKENDS", "QUANTIZE_CHOICES", "InferenceCopies", "optimize_for_inference"]

QUANTIZE_CHOICES = (None, "int8", "int8-conv")
BACKENDS = ("torch", "onnxruntime")
M = TypeVar("M", bound=nn.Module)


def optimize_for_inference(model: M, quantize: str | None = None, compile: bool = False, backend: str = "torch"):
    """A faster, inference-only copy of `model` (used by the models' method of this name).

    `quantize`: None (fp32), "int8" (dynamic int8 Linear layers / MatMuls) or "int8-conv" (onnxruntime only:
    conv layers 1-3 in int8 too). `compile`: wrap in
    `torch.compile` (torch backend only). `backend`: "torch" (a copy of the module) or "onnxruntime" (an
    `OnnxModel`; needs the `fast` extra, else `MissingExtraError`). Raises ValueError for anything else. With
    no option the copy computes exactly what `model` does.
    """
    if quantize not in QUANTIZE_CHOICES:
        raise ValueError(f"quantize must be None, 'int8' or 'int8-conv', got {quantize!r}")
    if not isinstance(compile, bool):
        raise ValueError(f"compile must be True or False, got {compile!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be 'torch' or 'onnxruntime', got {backend!r}")
    if quantize == "int8-conv" and backend != "onnxruntime":
        raise ValueError("quantize='int8-conv' needs backend='onnxruntime' (the torch backend's int8 covers the "
                         "Linear layers only: use quantize='int8')")
    if backend == "onnxruntime":
        if compile:
            raise ValueError("compile=True is for the torch backend; the onnxruntime backend optimises the graph "
                             "itself")
        from w2v_lite.model import export, runtime  # here: `import w2v_lite` stays free of the exporter

        runtime.require_onnxruntime()  # before the export's seconds of tracing
        # int8-conv: conv layers 1-3 as MatMuls, so that quantisation reaches them too
        matmul_convs = runtime.INT8_CONV_LAYERS if quantize == "int8-conv" else ()
        graph = export.onnx_bytes(model, matmul_convs=matmul_convs)  # TypeError for other modules
        if quantize is not None:
            graph = runtime.quantize_int8(graph)
        return runtime.OnnxModel(graph, model.config)  # type: ignore[arg-type]
    fast = copy.deepcopy(model).eval()
    for p in fast.parameters():
        p.requires_grad_(False)
    if quantize == "int8":
        with warnings.catch_warnings():
            # torch.ao.quantization warns that it moves to torchao. It still works in torch 2.13. torchao 0.18's
            # Int8DynamicActivationInt8WeightConfig runs on this CPU in eager mode, but was slower than this
            # fbgemm path on a base-size Linear (0.42 s vs 0.32 s for 499 x 768 -> 3072, one thread, one
            # process; benchmarks/README.md) and adds a dependency; revisit when torch.ao is removed.
            warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated",
                                    category=DeprecationWarning)
            # ... and building the int8 weights warns that quantized tensor dtypes (qint8) will go the same way
            warnings.filterwarnings("ignore", message="torch.quantize_per_tensor, torch.quantize_per_channel",
                                    category=UserWarning)
            fast = torch.ao.quantization.quantize_dynamic(fast, {nn.Linear}, dtype=torch.qint8)
    if compile:
        with warnings.catch_warnings():
            # importing the compiler stack the first time trips torch.jit's own deprecation notices
            warnings.filterwarnings("ignore", message=".*torch.jit.script_method. is deprecated",
                                    category=DeprecationWarning)
            fast = cast(M, torch.compile(fast, dynamic=True))  # a wrapper that forwards like the model
    return fast


class InferenceCopies:
    """`model.optimize_for_inference(...)`, written once for both model classes (`Wav2Vec2Model`,
    `Wav2Vec2ForCTC`), which inherit it next to `nn.Module`."""

    @overload
    def optimize_for_inference(self, quantize: str | None = None, compile: bool = False,
                               backend: Literal["torch"] = "torch") -> Self: ...
    @overload
    def optimize_for_inference(self, quantize: str | None = None, compile: bool = False, *,
                               backend: Literal["onnxruntime"]) -> OnnxModel: ...

    def optimize_for_inference(self, quantize=None, compile=False, backend="torch"):
        """An inference-only copy: int8 Linear layers (``quantize="int8"``, a CTC head included) and/or
        `torch.compile`; or, with ``backend="onnxruntime"``, the exported graph run by ONNX Runtime
        (`OnnxModel`, called like this model; needs the `fast` extra). This model is left unchanged."""
        return optimize_for_inference(cast(nn.Module, self), quantize=quantize, compile=compile, backend=backend)
