"""Forward-pass speed: transformers, w2v_lite and its fast paths on the same base weights (eval, fp32 inputs).

    python benchmarks/forward.py [--repeats 5] [--threads 2] [--workloads 10s batch 60s] [--skip-ctc]
    python benchmarks/forward.py --profile        # the eager op profile of both models (10 s clip)

Variants, run interleaved in one process (one repeat of each in turn) so that machine noise hits all alike:
- transformers eager (the reference; every ratio is to its median);
- w2v_lite eager;
- each `optimize_for_inference` variant: torch int8 (dynamic int8 Linear layers), onnxruntime fp32 (the
  exported graph, exact), onnxruntime int8 (every weight MatMul int8 with per-channel scales, conv stack fp32)
  and onnxruntime int8-conv (conv layers 1-3 too, exported as MatMuls);
- the peer: ONNX Runtime on a graph exported from transformers' own model (legacy exporter, opset 17,
  dynamic batch and length), with the same session options as ours.
Workloads: one 10 s clip; a padded batch of 1, 2, 3 and 4 s with an attention mask; one 60 s clip. Drift is
against transformers eager on the valid frames: max abs diff and cosine similarity. After each workload, the fp32 floor:
the workload's FLOPs (`w2v_lite.cost`) at the CPU's measured fp32 GEMM rate (2048^3, the faster of torch.mm
and ORT's MatMul, same threads), as a ratio to transformers eager: an exact fp32 path that computes every
FLOP gets near it only if all its ops run as fast as one large GEMM. `--skip-ctc` leaves out
the second part: CER of the committed ctc-tiny on the held-out voices through each path.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
import warnings
from collections.abc import Callable

import torch
import transformers
from tqdm import tqdm

import w2v_lite
from w2v_lite import Wav2Vec2Config, Wav2Vec2Model, cost_model
from w2v_lite.model.runtime import make_session

Batch = tuple[torch.Tensor, torch.Tensor | None]


def workloads(names: list[str] | None = None) -> dict[str, Batch]:
    """name -> (input_values (B, L), attention_mask (B, L) or None); seeded noise."""
    g = torch.Generator().manual_seed(0)
    one = torch.randn(1, 160_000, generator=g)
    seconds = [1, 2, 3, 4]
    batch = torch.zeros(len(seconds), 64_000)
    mask = torch.zeros(len(seconds), 64_000, dtype=torch.long)
    for i, s in enumerate(seconds):
        batch[i, : s * 16_000] = torch.randn(s * 16_000, generator=g)
        mask[i, : s * 16_000] = 1
    minute = torch.randn(1, 960_000, generator=g)
    every = {"10s": ("10 s clip", (one, None)), "batch": ("batch 1+2+3+4 s", (batch, mask)),
             "60s": ("60 s clip", (minute, None))}
    return dict(every[n] for n in (names or list(every)))


class HFGraph:
    """The peer: transformers' Wav2Vec2Model exported to ONNX, run by ONNX Runtime with our session options."""

    def __init__(self, hf: torch.nn.Module, threads: int):
        class Wrapper(torch.nn.Module):
            def __init__(self, model: torch.nn.Module):
                super().__init__()
                self.model = model

            def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
                return self.model(x, attention_mask=mask).last_hidden_state

        buffer = io.BytesIO()
        x, mask = workloads(["batch"])["batch 1+2+3+4 s"]
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            # .eval() on the wrapper too: the exporter restores the wrapper's mode on everything inside it
            torch.onnx.export(Wrapper(hf).eval(), (x, mask), buffer, input_names=["x", "mask"], output_names=["y"],
                              dynamic_axes={"x": {0: "B", 1: "L"}, "mask": {0: "B", 1: "L"}, "y": {0: "B", 1: "T"}},
                              opset_version=17, dynamo=False)
        self.session = make_session(buffer.getvalue(), threads)  # the same session options as ours

    def __call__(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = attention_mask if attention_mask is not None else torch.ones(x.shape, dtype=torch.long)
        out = self.session.run(None, {"x": x.numpy(), "mask": mask.long().numpy()})[0]
        return torch.from_numpy(out)


def hidden(model: Callable, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    out = model(x, attention_mask=mask)
    return out if isinstance(out, torch.Tensor) else out.last_hidden_state


def drift(ref: torch.Tensor, out: torch.Tensor, valid: torch.Tensor) -> tuple[float, float]:
    a, b = ref[valid].double(), out[valid].double()
    return (a - b).abs().max().item(), torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()


def gemm_rate(threads: int, n: int = 2048, repeats: int = 8) -> float:
    """FLOP/s of an fp32 n x n x n matrix product, the faster of torch.mm and ONNX Runtime's MatMul (MLAS): what
    this CPU's GEMM can do. (On this AMD CPU the two differ: MKL's and MLAS' kernels are not the same.)"""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    a, b = torch.randn(n, n), torch.randn(n, n)
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
                              [numpy_helper.from_array(b.numpy(), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)  # ORT reads <= 13
    session = make_session(model.SerializeToString(), threads)
    feeds = {"a": np.ascontiguousarray(a.numpy())}
    rates = []
    for run in (lambda: a @ b, lambda: session.run(None, feeds)):
        for _ in range(2):
            run()
        start = time.perf_counter()
        for _ in range(repeats):
            run()
        rates.append(2 * n**3 * repeats / (time.perf_counter() - start))
    return max(rates)


def profile(models: dict, x: torch.Tensor) -> None:
    """Self CPU time per aten op of one forward of each eager model, and the heavy-kernel share."""
    heavy_ops = ("aten::addmm", "aten::mm", "aten::bmm", "aten::mkldnn_convolution",
                 "aten::_scaled_dot_product_flash_attention_for_cpu")
    for name, model in models.items():
        model(x)  # warm-up
        with torch.profiler.profile() as prof:
            model(x)
        events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
        total = sum(e.self_cpu_time_total for e in events)
        heavy = sum(e.self_cpu_time_total for e in events if e.key in heavy_ops)
        print(f"\n{name}: {total / 1e6:.2f} s of op self time; heavy kernels {100 * heavy / total:.1f}%")
        print("| op | self time (ms) | share | calls |")
        print("|---|---|---|---|")
        for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:8]:
            print(f"| {e.key} | {e.self_cpu_time_total / 1e3:.0f} | {100 * e.self_cpu_time_total / total:.1f}% | "
                  f"{e.count} |")


def base_part(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    cfg = Wav2Vec2Config.base(hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, layerdrop=0.0)
    hf = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**cfg.to_hf_dict())).eval()
    ours = Wav2Vec2Model.from_hf(hf).eval()
    if args.profile:
        with torch.inference_mode():
            profile({"w2v_lite": ours, "transformers": hf}, workloads(["10s"])["10 s clip"][0])
        return
    start = time.perf_counter()
    variants: dict[str, Callable] = {
        "transformers eager": hf,
        "w2v_lite eager": ours,
        "w2v_lite torch int8": ours.optimize_for_inference(quantize="int8"),
        "w2v_lite onnxruntime fp32": ours.optimize_for_inference(backend="onnxruntime"),
        "w2v_lite onnxruntime int8": ours.optimize_for_inference(quantize="int8", backend="onnxruntime"),
        "w2v_lite onnxruntime int8-conv": ours.optimize_for_inference(quantize="int8-conv", backend="onnxruntime"),
        "peer: onnxruntime on transformers' graph": HFGraph(hf, args.threads),
    }
    print(f"built every variant (exports, int8) in {time.perf_counter() - start:.0f} s")
    rate = gemm_rate(args.threads)
    print(f"fp32 GEMM rate of this CPU: {rate / 1e9:.0f} GFLOP/s (2048^3, the faster of torch.mm and ORT MatMul, "
          f"{args.threads} threads)")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, onnxruntime {_ort_version()}, "
          f"{args.threads} threads, load average {os.getloadavg()[0]:.1f} at the start")
    print("| workload | variant | median (s) | ratio to transformers eager | max abs diff | cosine | repeats |")
    print("|---|---|---|---|---|---|---|", flush=True)
    with torch.inference_mode():
        for name, (x, mask) in workloads(args.workloads).items():
            ref = hidden(hf, x, mask)  # doubles as the warm-up of the reference
            valid = ours(x, attention_mask=mask).frame_mask
            drifts = {v: drift(ref, hidden(m, x, mask), valid) for v, m in variants.items()}  # and their warm-up
            times: dict[str, list[float]] = {v: [] for v in variants}
            repeats = max(1, args.repeats // 2) if name.startswith("60") else args.repeats
            for _ in tqdm(range(repeats), desc=name, leave=False):
                for v, m in variants.items():
                    t0 = time.perf_counter()
                    m(x, attention_mask=mask)
                    times[v].append(time.perf_counter() - t0)
            reference = statistics.median(times["transformers eager"])
            for v in variants:  # printed per workload, so a long run shows its rows as they are measured
                med, (diff, cos) = statistics.median(times[v]), drifts[v]
                print(f"| {name} | {v} | {med:.3f} | **{med / reference:.2f}** | {diff:.1e} | {cos:.6f} | {repeats} |",
                      flush=True)
            flops = sum(cost_model.total(w2v_lite.cost(cfg, int(n))) for n in (mask.sum(1) if mask is not None
                                                                                  else [x.shape[1]] * len(x)))
            print(f"| {name} | fp32 floor: {flops / 1e9:.0f} GFLOP at the GEMM rate | {flops / rate:.3f} | "
                  f"**{flops / rate / reference:.2f}** | | | |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def ctc_part() -> None:
    """CER of the committed ctc-tiny on the held-out voices, eager and through every fast path."""
    from w2v_lite.asr.metrics import cer
    from w2v_lite.asr.recognizer import Recognizer
    from w2v_lite.data.audio import corpus_items, load

    items = corpus_items("test")
    refs = [text for _, text in items]
    waves = [load(path) for path, _ in items]
    eager_path = Recognizer.load()
    int8_conv = eager_path.model.optimize_for_inference(quantize="int8-conv", backend="onnxruntime")
    paths = {"eager fp32": eager_path, "torch int8": Recognizer.load(fast=True),
             "onnxruntime fp32": Recognizer.load(backend="onnxruntime"),
             "onnxruntime int8": Recognizer.load(fast=True, backend="onnxruntime"),
             "onnxruntime int8-conv": Recognizer(int8_conv, eager_path.tokenizer, eager_path.preprocessing)}
    print(f"\ncommitted ctc-tiny, {len(items)} held-out clips (corpus/test), greedy, one clip at a time")
    print("| path | CER | texts equal to eager | time for the clips (s) |")
    print("|---|---|---|---|")
    eager: list[str] = []
    for name, rec in paths.items():
        rec.transcribe(waves[0])  # warm-up
        start = time.perf_counter()
        hyps = [r.text for r in rec.transcribe(waves, batched=False)]
        elapsed = time.perf_counter() - start
        eager = eager or hyps
        same = sum(a == b for a, b in zip(hyps, eager))
        print(f"| {name} | {100 * cer(refs, hyps):.2f}% | {same}/{len(hyps)} | {elapsed:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per variant (the 60 s clip: half)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workloads", nargs="+", choices=["10s", "batch", "60s"], default=None)
    parser.add_argument("--profile", action="store_true", help="only print the eager op profile of both models")
    parser.add_argument("--skip-ctc", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base_part(args)
    if not args.skip_ctc and not args.profile:
        ctc_part()


if __name__ == "__main__":
    main()
