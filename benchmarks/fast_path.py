"""The opt-in fast path's trade-off: speed against fp32 eager and transformers, output drift, and CER.

    python benchmarks/fast_path.py [--repeats 3] [--threads 2] [--compile] [--cpu-time]

Part 1, base model (random weights shared with transformers, eval, fp32 inputs): interleaved runs of
transformers, w2v_lite fp32 eager, `optimize_for_inference(quantize="int8")` and, with --compile, the
compiled fp32 and int8 models (their warm-up, the first call, is timed separately). Workloads as in
forward.py: one 10 s clip, and a padded batch of 1, 2, 3 and 4 s with an attention mask. Drift: max |diff|
and cosine similarity of the valid frames of `last_hidden_state` against transformers.
Part 2, the committed CTC checkpoint (tiny): held-out CER and WER, fp32 vs int8, and the time of the
60-clip pass, which shows that a tiny model gains little (its cost is overhead, not matmuls).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import transformers
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forward import workloads

from w2v_lite import Wav2Vec2Config, Wav2Vec2Model
from w2v_lite.asr.metrics import cer, wer
from w2v_lite.asr.pretrained import DEFAULT_MODEL_DIR
from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.data.audio import corpus_items, load


def hidden(model, x, mask) -> torch.Tensor:
    out = model(x, attention_mask=mask)
    return out.last_hidden_state


CLOCK = [time.perf_counter]  # --cpu-time swaps in time.process_time


def timed(model, x, mask) -> float:
    start = CLOCK[0]()
    model(x, attention_mask=mask)
    return CLOCK[0]() - start


def drift(ref: torch.Tensor, out: torch.Tensor, valid: torch.Tensor) -> tuple[float, float]:
    a, b = ref[valid], out[valid]
    return (a - b).abs().max().item(), torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()


def base_model_part(args) -> None:
    torch.manual_seed(0)
    cfg = Wav2Vec2Config.base(hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, layerdrop=0.0)
    hf = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**cfg.to_hf_dict())).eval()
    ours = Wav2Vec2Model.from_hf(hf).eval()
    variants = {"transformers fp32": hf, "w2v_lite fp32": ours, "w2v_lite int8": ours.optimize_for_inference("int8")}
    if args.compile:
        variants["w2v_lite compile"] = ours.optimize_for_inference(compile=True)
        variants["w2v_lite int8+compile"] = ours.optimize_for_inference("int8", compile=True)
    rows = []
    with torch.inference_mode() if not args.compile else torch.no_grad():
        for name, (x, mask) in workloads().items():
            valid = ours(x, attention_mask=mask).frame_mask
            ref = hidden(hf, x, mask)
            warm = {}
            for v, m in variants.items():  # first call: compile warm-up for compiled variants
                warm[v] = timed(m, x, mask)
            times = {v: [] for v in variants}
            for _ in tqdm(range(args.repeats), desc=name, leave=False):
                for v, m in variants.items():
                    times[v].append(timed(m, x, mask))
            med = {v: statistics.median(t) for v, t in times.items()}
            for v, m in variants.items():
                d, cos = drift(ref, hidden(m, x, mask), valid)
                rows.append((name, v, med[v], med[v] / med["w2v_lite fp32"], med[v] / med["transformers fp32"],
                             d, cos, warm[v]))
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {args.threads} threads, "
          f"{args.repeats} interleaved repeats (medians)")
    print("| workload | variant | median (s) | vs w2v_lite fp32 | vs transformers | max abs diff | cosine | "
          "first call (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, v, t, r1, r2, d, cos, w in rows:
        print(f"| {name} | {v} | {t:.3f} | {r1:.2f} | {r2:.2f} | {d:.2e} | {cos:.6f} | {w:.1f} |")


def ctc_part() -> None:
    items = corpus_items("test")
    recognizers = {"fp32": Recognizer.load(DEFAULT_MODEL_DIR), "int8": Recognizer.load(DEFAULT_MODEL_DIR, fast=True)}
    refs = [text for _, text in items]
    waves = [load(path) for path, _ in items]
    print(f"\ncommitted checkpoint {DEFAULT_MODEL_DIR.name}, {len(items)} held-out clips, greedy decoding")
    print("| model | CER | WER | time for the 60 clips (s) |")
    print("|---|---|---|---|")
    for name, rec in recognizers.items():
        rec.transcribe(waves[0])  # warm-up
        start = time.perf_counter()
        hyps = [rec.transcribe(w).text for w in waves]  # one clip at a time
        elapsed = time.perf_counter() - start
        print(f"| {name} | {100 * cer(refs, hyps):.2f}% | {100 * wer(refs, hyps):.2f}% | {elapsed:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (minutes of warm-up)")
    parser.add_argument("--skip-ctc", action="store_true")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with process CPU time instead of wall time: on a loaded machine, with "
                             "--threads 1, it ignores the time the process waits for a core")
    args = parser.parse_args()
    if args.cpu_time:
        CLOCK[0] = time.process_time
    torch.set_num_threads(args.threads)
    base_model_part(args)
    if not args.skip_ctc:
        ctc_part()


if __name__ == "__main__":
    main()
