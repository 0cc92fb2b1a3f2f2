"""ONNX Runtime on our exported base graph: which session options and graph rewrites matter on this CPU.

    python benchmarks/ort_options.py [--repeats 5] [--threads 2]

One process, variants interleaved (one repeat of each in turn), the 10 s clip, the same fp32 graph that
`optimize_for_inference(backend="onnxruntime")` runs. Ratios are to `runtime.make_session`'s settings (what the
package uses). Variants:
- spinning off (`session.intra_op.allow_spinning = 0`): threads sleep between ops instead of busy-waiting;
- graph optimisation level EXTENDED / BASIC instead of ALL (ALL adds the NCHWc layout for convolutions);
- ORT's transformer optimizer (`onnxruntime.transformers.optimizer`, model type "bert": attention, SkipLayerNorm
  and bias-GELU fusions), then the same session settings;
- the int8 graph (`quantize="int8"`), for scale.
Then an op-type profile of the package's fp32 session: where the time goes, and so what any rewrite of the
non-matmul ops (the GroupNorm fold of benchmarks/README.md, for one) can win at most.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from w2v_lite import Wav2Vec2Config, Wav2Vec2Model  # noqa: E402
from w2v_lite.model.export import onnx_bytes  # noqa: E402
from w2v_lite.model.runtime import INT8_CONV_LAYERS, make_session, quantize_int8, require_onnxruntime  # noqa: E402


def fused(graph: bytes, config: Wav2Vec2Config) -> bytes:
    """The graph after ORT's transformer optimizer (fp32, exact GELU: no approximation is enabled)."""
    from onnxruntime.transformers.optimizer import optimize_model

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "in.onnx"), Path(tmp, "out.onnx")
        src.write_bytes(graph)
        model = optimize_model(str(src), model_type="bert", num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size, opt_level=1)
        print("transformer optimizer fused:", {k: v for k, v in model.get_fused_operator_statistics().items() if v})
        model.save_model_to_file(str(dst))
        return dst.read_bytes()


def op_profile(graph: bytes, feeds: dict, threads: int) -> None:
    ort = require_onnxruntime()
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.enable_profiling, options.profile_file_prefix = True, str(Path(tmp, "profile"))
        session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        for _ in range(3):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    per_op: collections.Counter = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_op[e["args"]["op_name"]] += e["dur"]
    total = sum(per_op.values())
    print("\n| op type (fp32 session) | share of kernel time |\n|---|---|")
    for op, us in per_op.most_common(8):
        print(f"| {op} | {100 * us / total:.1f}% |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    ort = require_onnxruntime()
    torch.manual_seed(0)
    config = Wav2Vec2Config.base(hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, layerdrop=0.0)
    model = Wav2Vec2Model(config).eval()
    graph = onnx_bytes(model)
    x = torch.randn(1, 160_000, generator=torch.Generator().manual_seed(0))
    feeds = {"input_values": x.numpy(), "attention_mask": torch.ones(x.shape, dtype=torch.long).numpy()}

    def session(source: bytes, **changes):
        s = make_session(source, args.threads)
        if not changes:
            return s
        options = s.get_session_options()
        for key, value in changes.items():
            if key == "level":
                options.graph_optimization_level = value
            else:
                options.add_session_config_entry(key, value)
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])

    levels = ort.GraphOptimizationLevel
    variants = {
        "package settings (ALL, spinning, sequential)": session(graph),
        "spinning off": session(graph, **{"session.intra_op.allow_spinning": "0"}),
        "level EXTENDED": session(graph, level=levels.ORT_ENABLE_EXTENDED),
        "level BASIC": session(graph, level=levels.ORT_ENABLE_BASIC),
        "transformer optimizer (fusions)": session(fused(graph, config)),
        "int8 graph (for scale)": session(quantize_int8(onnx_bytes(model, matmul_convs=INT8_CONV_LAYERS))),
    }
    reference = variants["package settings (ALL, spinning, sequential)"].run(None, feeds)[0]
    times: dict[str, list[float]] = {name: [] for name in variants}
    diffs = {name: float(abs(s.run(None, feeds)[0] - reference).max()) for name, s in variants.items()}  # warm-up
    for _ in range(args.repeats):
        for name, s in variants.items():
            start = time.perf_counter()
            s.run(None, feeds)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["package settings (ALL, spinning, sequential)"])
    print(f"base config, 10 s clip, {args.threads} threads, {args.repeats} interleaved repeats")
    print("| variant | median (s) | ratio to the package settings | max abs diff |\n|---|---|---|---|")
    for name in variants:
        med = statistics.median(times[name])
        print(f"| {name} | {med:.3f} | **{med / base:.2f}** | {diffs[name]:.1e} |")
    op_profile(graph, feeds, args.threads)


if __name__ == "__main__":
    main()
