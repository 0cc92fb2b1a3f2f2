"""Forward-pass speed: w2v_lite vs transformers on the same base weights (eval, inference mode, fp32).

    python benchmarks/forward.py [--repeats 7] [--threads 2] [--profile] [--cpu-time]

Runs are interleaved in one process (ours, HF, ours, HF, ...) so that machine noise hits both alike;
the ratio ours/HF is the number to read. Workloads: (a) one 10 s clip; (b) a padded batch of 1, 2, 3
and 4 s clips with an attention mask. `--profile` adds a torch.profiler table per model on the 10 s clip:
the share of self time in the heavy kernels (convolution, matmul, fused attention) against the memory-bound
glue (GELU, norms, adds, copies), which bounds what an eager rewrite could gain.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import transformers
from tqdm import tqdm

from w2v_lite import Wav2Vec2Config, Wav2Vec2Model


def workloads() -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    g = torch.Generator().manual_seed(0)
    one = torch.randn(1, 160_000, generator=g)
    seconds = [1, 2, 3, 4]
    batch = torch.zeros(len(seconds), 64_000)
    mask = torch.zeros(len(seconds), 64_000, dtype=torch.long)
    for i, s in enumerate(seconds):
        batch[i, : s * 16_000] = torch.randn(s * 16_000, generator=g)
        mask[i, : s * 16_000] = 1
    return {"10 s clip": (one, None), "batch 1+2+3+4 s": (batch, mask)}


CLOCK = [time.perf_counter]  # --cpu-time swaps in time.process_time


def timed(model, x, mask) -> float:
    start = CLOCK[0]()
    model(x, attention_mask=mask)
    return CLOCK[0]() - start


HEAVY = ("aten::addmm", "aten::mm", "aten::mkldnn_convolution", "aten::_scaled_dot_product_flash_attention_for_cpu")


def profile(models: dict, x: torch.Tensor) -> None:
    """Self CPU time per aten op of one forward of each model, and the heavy-kernel share."""
    for name, model in models.items():
        model(x)  # warm-up
        with torch.profiler.profile() as prof:
            model(x)
        events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
        total = sum(e.self_cpu_time_total for e in events)
        heavy = sum(e.self_cpu_time_total for e in events if e.key in HEAVY)
        top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:8]
        print(f"\n{name}: {total / 1e6:.2f} s of op self time; heavy kernels {100 * heavy / total:.1f}%, "
              f"everything else {100 * (total - heavy) / total:.1f}%")
        print("| op | self time (ms) | share | calls |")
        print("|---|---|---|---|")
        for e in top:
            print(f"| {e.key} | {e.self_cpu_time_total / 1e3:.0f} | {100 * e.self_cpu_time_total / total:.1f}% | "
                  f"{e.count} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="also print an op profile of each model")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with process CPU time instead of wall time: on a loaded machine, with "
                             "--threads 1, it ignores the time the process waits for a core")
    args = parser.parse_args()
    if args.cpu_time:
        CLOCK[0] = time.process_time
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = Wav2Vec2Config.base(hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, layerdrop=0.0)
    hf = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**cfg.to_hf_dict())).eval()
    ours = Wav2Vec2Model.from_hf(hf).eval()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {args.threads} threads, "
          f"attn_implementation={hf.config._attn_implementation}, {args.repeats} interleaved repeats")
    rows = []
    with torch.inference_mode():
        for name, (x, mask) in workloads().items():
            timed(ours, x, mask), timed(hf, x, mask)  # warm-up
            t_ours, t_hf = [], []
            for _ in tqdm(range(args.repeats), desc=name, leave=False):
                t_ours.append(timed(ours, x, mask))
                t_hf.append(timed(hf, x, mask))
            m_ours, m_hf = statistics.median(t_ours), statistics.median(t_hf)
            rows.append((name, m_ours, m_hf, m_ours / m_hf))
    print("| workload | w2v_lite median (s) | transformers median (s) | ratio ours/HF |")
    print("|---|---|---|---|")
    for name, a, b, r in rows:
        print(f"| {name} | {a:.3f} | {b:.3f} | {r:.3f} |")
    if args.profile:
        with torch.inference_mode():
            profile({"w2v_lite": ours, "transformers": hf}, workloads()["10 s clip"][0])


if __name__ == "__main__":
    main()
