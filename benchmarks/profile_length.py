"""Where the time goes as the clip grows: per-stage timings of the base model from 1 s to 60 s of audio.

    python benchmarks/profile_length.py [--seconds 1 2 5 10 20 30 60] [--repeats 3] [--threads 2] [--replot]

Each stage is timed with forward hooks (perf_counter before and after the module): the seven conv layers,
the feature projection, the positional conv, the q/k/v/out projections, the attention core (scores, softmax,
x V: one fused SDPA call), the feed-forward blocks, and "other" (LayerNorms, residual adds, input checks:
total minus the rest). Lengths are interleaved within each repeat (1 s, 2 s, ..., 60 s, then again), so load
changes hit every length alike; medians are reported. Memory: the measured peak of live activations
(`ActivationMeter`, one untimed run per length) against the cost model's `peak_activation_bytes`.

Writes benchmarks/results/profile_length.json and two figures under benchmarks/figures/: the time share
per stage against length, and time against length on log-log axes with the T^2 crossover marked.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

import torch
from tqdm import tqdm

from w2v_lite import Wav2Vec2Config, Wav2Vec2Model
from w2v_lite.cost_model import ActivationMeter, cost, peak_activation_bytes, total
from w2v_lite.lengths import output_lengths

HERE = Path(__file__).resolve().parent
STAGES = ("conv stack", "feature_projection", "pos_conv", "qkv_out", "attention core", "feed_forward", "other")
LINEAR_PER_LAYER = ("qkv_out", "feed_forward")  # the parts of a transformer layer that grow linearly in T


class StageTimer:
    """Forward hooks that add each module's wall time to its stage (nested modules: inner time subtracted)."""

    def __init__(self, model: Wav2Vec2Model):
        self.times: dict[str, float] = defaultdict(float)
        self._start: dict[int, float] = {}
        self._stage: dict[int, str] = {}
        self.handles = []
        for layer in model.feature_extractor.conv_layers:
            self._watch(layer, "conv stack")
        self._watch(model.feature_projection, "feature_projection")
        self._watch(model.encoder.pos_conv_embed, "pos_conv")
        for layer in model.encoder.layers:
            self._watch(layer.attention, "attention core")  # minus its four projections, below
            for proj in (layer.attention.q_proj, layer.attention.k_proj, layer.attention.v_proj,
                         layer.attention.out_proj):
                self._watch(proj, "qkv_out", parent="attention core")
            self._watch(layer.feed_forward, "feed_forward")

    def _watch(self, module: torch.nn.Module, stage: str, parent: str | None = None) -> None:
        key = id(module)

        def pre(_module, _args):
            self._start[key] = time.perf_counter()

        def post(_module, _args, _out):
            elapsed = time.perf_counter() - self._start.pop(key)
            self.times[stage] += elapsed
            if parent is not None:
                self.times[parent] -= elapsed

        self.handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]

    def run(self, model: Wav2Vec2Model, x: torch.Tensor) -> dict[str, float]:
        self.times.clear()
        start = time.perf_counter()
        model(x)
        wall = time.perf_counter() - start
        times = dict(self.times)
        times["other"] = wall - sum(times.values())
        times["total"] = wall
        return times


def crossover_frames(config: Wav2Vec2Config) -> int:
    """T where a layer's T^2 attention FLOPs (4 T^2 H) equal its linear ones (T H (8 H + 4 I)): 2 H + I."""
    return 2 * config.hidden_size + config.intermediate_size


def plot(results: dict, config: Wav2Vec2Config, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = [r["seconds"] for r in results["rows"]]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []

    fig, ax = plt.subplots(figsize=(8, 4.5))
    bottom = [0.0] * len(seconds)
    for stage in STAGES:
        share = [r["times"][stage] / r["times"]["total"] for r in results["rows"]]
        ax.bar([str(s) for s in seconds], share, bottom=bottom, label=stage)
        bottom = [b + s for b, s in zip(bottom, share)]
    ax.set_xlabel("clip length (s)")
    ax.set_ylabel("share of forward time")
    ax.set_title("wav2vec 2.0 base, fp32 CPU: where the time goes as the clip grows")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    paths.append(out_dir / "profile_share.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    attn = [r["times"]["attention core"] for r in results["rows"]]
    linear = [sum(r["times"][s] for s in LINEAR_PER_LAYER) for r in results["rows"]]
    ax.loglog(seconds, [r["times"]["total"] for r in results["rows"]], "o-", label="total")
    ax.loglog(seconds, [r["times"]["conv stack"] for r in results["rows"]], "s-", label="conv stack")
    ax.loglog(seconds, linear, "^-", label="q/k/v/out + feed-forward (linear in T)")
    ax.loglog(seconds, attn, "v-", label="attention core (T^2)")
    # extend both per-layer curves with their fitted laws: linear a*T, quadratic b*T^2 (from the longest clip)
    frames = [output_lengths(r["num_samples"], config) for r in results["rows"]]
    a, b = linear[-1] / frames[-1], attn[-1] / frames[-1] ** 2
    t_cross = a / b
    s_cross = (400 + 320 * (t_cross - 1)) / config.sampling_rate
    grid = [seconds[0] * (1.3**i) for i in range(40) if seconds[0] * 1.3**i <= max(4 * s_cross, 2 * seconds[-1])]
    grid_t = [(s * config.sampling_rate - 400) / 320 + 1 for s in grid]
    ax.loglog(grid, [a * t for t in grid_t], ":", color="C2")
    ax.loglog(grid, [b * t * t for t in grid_t], ":", color="C3")
    ax.axvline(s_cross, color="grey", ls="--")
    ax.annotate(f"measured T^2 crossover\n~{s_cross:.0f} s ({t_cross:.0f} frames)", (s_cross, attn[0]),
                xytext=(5, 0), textcoords="offset points", fontsize=8)
    s_flops = (400 + 320 * (crossover_frames(config) - 1)) / config.sampling_rate
    ax.axvline(s_flops, color="black", ls=":")
    ax.annotate(f"FLOP crossover\nT = 2H + I = {crossover_frames(config)}\n({s_flops:.0f} s)",
                (s_flops, max(attn) / 4), xytext=(5, 0), textcoords="offset points", fontsize=8)
    ax.set_xlabel("clip length (s)")
    ax.set_ylabel("forward time (s)")
    ax.set_title("time vs length (log-log); dotted: fitted a T and b T^2")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out_dir / "profile_loglog.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    results["measured_crossover"] = {"frames": round(t_cross), "seconds": round(s_cross, 1)}
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[1, 2, 5, 10, 20, 30, 60])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "profile_length.json")
    parser.add_argument("--figures", type=Path, default=HERE / "figures")
    parser.add_argument("--replot", action="store_true", help="redraw the figures from --out, measure nothing")
    args = parser.parse_args()
    if args.replot:
        config = Wav2Vec2Config.base()
        print(*plot(json.loads(args.out.read_text()), config, args.figures), sep="\n")
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = Wav2Vec2Config.base(layerdrop=0.0)
    model = Wav2Vec2Model(config).eval()
    clips = {s: torch.randn(1, int(s * config.sampling_rate)) for s in args.seconds}
    rows = {s: {"seconds": s, "num_samples": x.shape[1]} for s, x in clips.items()}

    with torch.no_grad():
        for s, x in tqdm(clips.items(), desc="memory", leave=False):
            with ActivationMeter() as meter:
                model(x)
            rows[s]["measured_peak_bytes"] = meter.peak + x.nbytes
            rows[s]["predicted_peak_bytes"] = peak_activation_bytes(config, x.shape[1])["peak"]
            stages = cost(config, x.shape[1])
            rows[s]["gflops"] = {k: v / 1e9 for k, v in total(stages, by_group=True).items()}
        timer = StageTimer(model)
        timer.run(model, clips[args.seconds[0]])  # warm-up
        samples: dict[float, list[dict[str, float]]] = defaultdict(list)
        for _ in tqdm(range(args.repeats), desc="repeats", leave=False):
            for s, x in clips.items():  # interleaved: every length once per repeat
                samples[s].append(timer.run(model, x))
    for s in clips:
        rows[s]["times"] = {k: statistics.median(t[k] for t in samples[s]) for k in (*STAGES, "total")}
    results = {"torch": torch.__version__, "threads": args.threads, "repeats": args.repeats,
               "rows": [rows[s] for s in clips]}
    paths = plot(results, config, args.figures)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")

    print(f"torch {torch.__version__}, {args.threads} threads, {args.repeats} interleaved repeats, medians; "
          f"figures: {', '.join(map(str, paths))}")
    print("| clip | frames | total (s) | " + " | ".join(STAGES) + " | GFLOP | GFLOP/s | peak MB measured / model |")
    print("|---" * (len(STAGES) + 6) + "|")
    for r in results["rows"]:
        t = r["times"]
        gflop = sum(r["gflops"].values())
        shares = " | ".join(f"{100 * t[k] / t['total']:.0f}%" for k in STAGES)
        print(f"| {r['seconds']:g} s | {output_lengths(r['num_samples'], config)} | {t['total']:.2f} | {shares} | "
              f"{gflop:.0f} | {gflop / t['total']:.0f} | {r['measured_peak_bytes'] / 1e6:.0f} / "
              f"{r['predicted_peak_bytes'] / 1e6:.0f} |")
    cross = results["measured_crossover"]
    print(f"attention core overtakes q/k/v/out + feed-forward at ~{cross['seconds']} s ({cross['frames']} frames, "
          f"fitted); by FLOPs at T = 2H + I = {crossover_frames(config)} frames")


if __name__ == "__main__":
    main()
