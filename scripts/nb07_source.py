"""Source of notebooks/07_what_length_costs.ipynb: writes the (unexecuted) notebook from the cells below.

    python scripts/nb07_source.py && python scripts/make_notebooks.py notebooks/07_what_length_costs.ipynb

The recorded base-model measurements in section 3 and 6 come from benchmarks/profile_length.py and
benchmarks/fast_path.py (see benchmarks/README.md); update them here when those are rerun.
"""

from __future__ import annotations

import json
import pprint
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
RECORDED = json.loads((ROOT / "benchmarks" / "results" / "profile_length.json").read_text())
PROFILE = {int(r["seconds"]): {k: round(v, 3) for k, v in r["times"].items()} for r in RECORDED["rows"]}

CELLS: list[tuple[str, str]] = [
("md", """# 07 · What length costs

> **The question, continued.** Notebooks 01 to 03 showed how L samples become T frames and why that lets one
> set of weights serve any length. The next question is the bill: **what does a longer clip cost**, in
> arithmetic and in memory, and which stage pays? This notebook builds an exact cost model from the config and
> L alone, checks it against PyTorch's own FLOP counter and a memory meter, then uses it to explain the
> measured profile of the base model, the quadratic attention, the memory of the first conv layer, what
> chunking buys, and what int8 and `torch.compile` change.

Small configs run live; the base model's timings are recorded measurements (timings vary from run to run and
machine to machine, so none are printed live).

**The series.** 01 samples → frames · 02 512 is channels, not time · 03 batches and masks: where each clip
ends (the complete answer to the length question) · 04 pretraining · 05 CTC fine-tuning · 06 long
recordings and word times · 07 what length costs (*this one*)."""),
("code", """%matplotlib inline
import matplotlib.pyplot as plt
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from w2v_lite import Wav2Vec2Config, Wav2Vec2Model, cost, layer_lengths, output_lengths
from w2v_lite.cost_model import ActivationMeter, peak_activation_bytes, total
from w2v_lite.teach.cost_viz import chunked_cost, cost_breakdown, cost_breakdown_text, cost_widget

torch.manual_seed(0)
torch.set_num_threads(1)
base = Wav2Vec2Config.base()
tiny = Wav2Vec2Config.tiny(layerdrop=0.0)
model = Wav2Vec2Model(tiny).eval()
# FlopCounterMode has a formula for the CUDA attention kernels only; give the CPU kernel the same one
CPU_SDPA = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu:
            lambda q, k, v, *a, out_shape=None, **kw: sdpa_flop_count(q, k, v)}"""),
("md", """## 1. Counting by hand: a conv layer is a matmul over every output step

A FLOP here is what `torch.utils.flop_counter` counts: 2 per multiply-add of convolutions, matmuls and
attention (norms, GELU and adds are free; they are cheap in arithmetic but not in memory, see section 3).
Conv layer i makes `L_{i+1}` output steps; each one is a dot product of `C_i x k_i` inputs for each of the
`C_{i+1}` output channels:

    flops(conv i) = 2 x L_{i+1} x C_{i+1} x C_i x k_i

Derive it for the first layer of the tiny model on 2 s of audio in plain torch, and let PyTorch count:"""),
("code", """L = 32_000
x = torch.randn(1, L)
L1 = layer_lengths(L, tiny)[1]
by_hand = 2 * L1 * tiny.conv_dim[0] * 1 * tiny.conv_kernel[0]  # one input channel
with torch.no_grad(), FlopCounterMode(display=False) as counter:
    torch.nn.functional.conv1d(x[:, None], torch.randn(64, 1, 10), stride=5)
print(f"L1 = {L1} steps -> {by_hand:,} FLOPs by hand, {counter.get_total_flops():,} counted")
assert by_hand == counter.get_total_flops() == cost(tiny, L)["conv0"]["flops"]"""),
("md", """`w2v_lite.cost(config, L)` does this for every stage: the 7 conv layers, the feature projection, the
positional conv, and per transformer layer the q/k/v/out projections, the attention scores, attention x V and
the feed-forward block, each with the bytes it writes. Its total must equal PyTorch's count of a real forward
pass, FLOP for FLOP:"""),
("code", """stages = cost(tiny, L)
with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=CPU_SDPA) as counter:
    model(x)
print(f"cost model {total(stages):,} FLOPs, FlopCounterMode {counter.get_total_flops():,}")
assert total(stages) == counter.get_total_flops()
print(cost_breakdown_text(tiny, 2))"""),
("md", """## 2. Why attention is quadratic

Each of the T frames asks a question (q) of every frame (k): the scores are a T x T matrix per head, and the
weighted sum of values multiplies that matrix by the T values. With H = heads x d:

    scores:        2 x T x T x d per head  ->  2 T^2 H per layer
    attention x V: 2 x T x T x d per head  ->  2 T^2 H per layer

Everything else in a layer is per frame (q/k/v/out: 8 T H^2; feed-forward: 4 T H I), so it grows as T. In plain
torch, for the tiny model's 4 heads of 24:"""),
("code", """T, heads, d = 100, tiny.num_attention_heads, tiny.hidden_size // tiny.num_attention_heads
q, k = torch.randn(heads, T, d), torch.randn(heads, T, d)
scores = q @ k.transpose(1, 2)  # (heads, T, T): one row per query frame, one column per key frame
print("scores", tuple(scores.shape), "->", 2 * T * T * d * heads, "FLOPs")
assert scores.shape == (heads, T, T)
samples_100 = 400 + 320 * (T - 1)  # the shortest clip with T = 100 frames
assert cost(tiny, samples_100)["layer0.scores"]["flops"] == 2 * T * T * d * heads
# double the frames: attention costs 4x, the feed-forward 2x
samples_200 = 400 + 320 * 199
for stage, factor in (("layer0.scores", 4), ("layer0.feed_forward", 2)):
    assert cost(tiny, samples_200)[stage]["flops"] == factor * cost(tiny, samples_100)[stage]["flops"]"""),
("md", """So the T^2 terms must overtake the linear ones at some length. Per layer, `4 T^2 H = T H (8 H + 4 I)` at
**T = 2H + I**. For the base model (H = 768, I = 3072) that is 4608 frames, **92.2 s** of audio: in arithmetic,
attention only dominates clips longer than about a minute and a half."""),
("code", """T_cross = 2 * base.hidden_size + base.intermediate_size
seconds_cross = (400 + 320 * (T_cross - 1)) / base.sampling_rate
print(f"T = {T_cross} frames = {seconds_cross:.1f} s")
assert (T_cross, round(seconds_cross, 1)) == (4608, 92.2)
per_layer = lambda n, kinds: sum(cost(base, n)[f"layer0.{s}"]["flops"] for s in kinds)
n = 400 + 320 * (T_cross - 1)
assert per_layer(n, ("scores", "attn_v")) == per_layer(n, ("qkv_out", "feed_forward"))"""),
("md", """## 3. Where the time goes (recorded, base model)

FLOPs are not time. `benchmarks/profile_length.py` times every stage of the base model with forward hooks,
lengths interleaved, on this 2-core CPU. Its recorded medians (seconds, `--threads 1`, see
`benchmarks/README.md` for the machine's load at the time):"""),
("code", f"""recorded = {pprint.pformat(PROFILE, width=110, sort_dicts=False)}
stages_shown = ["conv stack", "feature_projection", "pos_conv", "qkv_out", "attention core", "feed_forward", "other"]
print(f"{{'clip':>6}}{{'total s':>9}}" + "".join(f"{{s[:12]:>14}}" for s in stages_shown))
for sec, t in recorded.items():
    shares = "".join(f"{{100 * t[s] / t['total']:>13.0f}}%" for s in stages_shown)
    print(f"{{sec:>5g}}s{{t['total']:>9.2f}}" + shares)"""),
("code", """fig, ax = plt.subplots(1, 2, figsize=(11, 3.8))
secs = [float(s) for s in recorded]
for s in stages_shown:
    ax[0].plot(secs, [t[s] / t["total"] for t in recorded.values()], "o-", label=s)
ax[0].set(xscale="log", xlabel="clip length (s)", ylabel="share of time", title="share per stage")
ax[0].legend(fontsize=7)
ax[1].loglog(secs, [t["total"] for t in recorded.values()], "o-", label="total")
ax[1].loglog(secs, [t["attention core"] for t in recorded.values()], "v-", label="attention core (T^2)")
ax[1].loglog(secs, [t["qkv_out"] + t["feed_forward"] for t in recorded.values()], "^-", label="q/k/v/out + FFN")
ax[1].set(xlabel="clip length (s)", ylabel="seconds", title="time vs length (log-log)")
ax[1].legend(fontsize=7)
plt.tight_layout()
plt.show()"""),
("md", """Three things to read off:

* The **conv stack** is a large share at every length (between 20% and 45% of the time): it does a third of
  the base model's FLOPs at 10 s (computed below), on 512-channel signals up to 64 times longer than T, and
  its GroupNorm and GELU passes are memory-bound.
* The **attention core** share grows with length; the fused CPU kernel is slower per FLOP than the big
  matmuls, so in time it overtakes sooner than the FLOP crossover of section 2. Fitting `a T` to the linear
  parts and `b T^2` to attention over **all seven lengths** (least squares on relative error, so that every
  row counts alike) puts the crossover near 3100 frames, about a minute (computed below).
* **other** (LayerNorms, residual adds, input checks) is the memory-bound glue that no FLOP count sees.

**How far to trust these timings.** They were recorded on a shared 2-core machine, and they are not
consistent: from 30 s to 60 s the feed-forward's FLOPs double but its recorded time triples, which says the
machine got busier during the run, not that the feed-forward changed. A quiet rerun was not possible when this
notebook was last revised (the machine was loaded), so the recorded numbers stay, and the crossover is fitted
over every length rather than read off one row. The rows disagree: the crossover each row implies on its own
runs from about 1100 frames (1 s, where per-call overhead dominates the attention kernel) to about 3400 (60 s)."""),
("code", """b10 = cost_breakdown(base, 160_000)
conv_share = b10["groups"]["conv stack"]["share"]
print(f"10 s: {b10['gflops']:.1f} GFLOP, conv stack {100 * conv_share:.1f}% of them")
assert round(100 * conv_share) == 33
attention_share = [t["attention core"] / t["total"] for t in recorded.values()]
assert attention_share == sorted(attention_share)  # grows with every step in length
assert all(0.2 < t["conv stack"] / t["total"] < 0.45 for t in recorded.values())
frames = torch.tensor([output_lengths(s * 16_000, base) for s in recorded], dtype=torch.float64)
linear = torch.tensor([t["qkv_out"] + t["feed_forward"] for t in recorded.values()], dtype=torch.float64)
attention = torch.tensor([t["attention core"] for t in recorded.values()], dtype=torch.float64)
# least squares on relative error: minimise sum ((a x / y) - 1)^2, i.e. a = sum(x / y) / sum((x / y)^2)
fit = lambda x, y: float((x / y).sum() / ((x / y) ** 2).sum())
a, b = fit(frames, linear), fit(frames**2, attention)
per_row = linear / frames / (attention / frames**2)  # each row's own crossover
crossover = a / b
seconds_fit = (400 + 320 * (crossover - 1)) / 16000
print(f"fit over all {len(recorded)} lengths: linear parts {1e3 * a:.2f} ms per frame, attention {1e6 * b:.2f} us "
      f"per frame^2")
print(f"time crossover T = a / b = {crossover:.0f} frames ({seconds_fit:.0f} s); FLOP crossover {T_cross}")
print("each row alone:", ", ".join(f"{s} s: {v:.0f}" for s, v in zip(recorded, per_row.tolist())))
ff_time = {s: recorded[s]["feed_forward"] for s in (30, 60)}
ff_flops = {s: cost(base, s * 16_000)["layer0.feed_forward"]["flops"] for s in (30, 60)}
print(f"feed-forward from 30 s to 60 s: FLOPs x{ff_flops[60] / ff_flops[30]:.2f}, "
      f"recorded time x{ff_time[60] / ff_time[30]:.1f}")
assert ff_time[60] / ff_time[30] > 2.5 and ff_flops[60] / ff_flops[30] < 2.01  # the inconsistency named above
assert 3000 < crossover < 3300 < T_cross and 1000 < min(per_row) < 1200 and 3300 < max(per_row) < 3500"""),
("md", """## 4. Memory: the first conv layer

The largest tensor in the whole network is the first conv layer's output: 512 channels x L/5 steps. While
GELU runs, its input and output are both alive, so the peak is about `2 x 512 / 5 x 4` bytes = **819 bytes
per input sample, 13.1 MB per second of audio**, far above anything the transformer holds (T is L/320). The
cost model's `peak_activation_bytes` says which part sets the peak; `ActivationMeter` measures the live
tensors of a real forward (tiny model, 64 channels, live):"""),
("code", """per_sample = 2 * 512 / 5 * 4
print(f"{per_sample:.1f} bytes per sample, {per_sample * 16_000 / 1e6:.1f} MB per second")
assert (round(per_sample), round(per_sample * 16_000 / 1e6, 1)) == (819, 13.1)
for seconds in (2, 6):
    n = seconds * 16_000
    wave = torch.randn(1, n)
    with torch.no_grad(), ActivationMeter() as meter:
        model(wave)
    measured = (meter.peak + wave.nbytes) / 1e6
    predicted = peak_activation_bytes(tiny, n)
    print(f"tiny, {seconds} s: measured peak {measured:.2f} MB, cost model {predicted['peak'] / 1e6:.2f} MB "
          f"(set by: {max(predicted, key=lambda k: predicted[k] if k != 'peak' else -1)})")
    assert abs(measured / (predicted["peak"] / 1e6) - 1) < 0.03"""),
("code", """for seconds in (1, 10, 60):
    p = peak_activation_bytes(base, seconds * 16_000)
    print(f"base, {seconds:>2} s: peak {p['peak'] / 1e6:7.1f} MB  (conv stack {p['conv stack'] / 1e6:7.1f}, "
          f"pos conv {p['pos_conv'] / 1e6:5.1f}, transformer {p['transformer'] / 1e6:6.1f})")
assert round(peak_activation_bytes(base, 60 * 16_000)["peak"] / 1e6) == 790"""),
("md", """Below about 1.5 s the base model's peak is the positional conv's kernel, which weight norm rebuilds on every
forward (768 x 48 x 128 floats = 18.9 MB, whatever the length). From there on the first conv layer wins, and
a minute of audio needs **790 MB** of live activations in fp32."""),
("md", """## 5. What chunking buys

Long recordings are usually encoded in windows of C seconds that overlap a little (so that every frame has
context on both sides), then stitched. With the cost model we can price that without running anything: 10
minutes of audio for the base model, one pass vs the windows `w2v-lite transcribe` would use
(`asr.chunking.chunk_plan`, notebook 06) with 2.5 s of context on each side:"""),
("code", """ten_minutes = 600 * 16_000
print(f"{'windows':>16}{'count':>7}{'GFLOP':>10}{'peak MB':>10}")
whole = chunked_cost(base, ten_minutes, 600, 0)
print(f"{'one 600 s pass':>16}{1:>7}{whole['gflops']:>10.0f}{whole['peak_mb']:>10.0f}")
for chunk in (10, 20, 30, 60):
    c = chunked_cost(base, ten_minutes, chunk, 2.5 if chunk > 10 else 1)
    print(f"{f'{chunk} s':>16}{c['windows']:>7}{c['gflops']:>10.0f}{c['peak_mb']:>10.0f}")
c30 = chunked_cost(base, ten_minutes, 30, 2.5)
print(f"30 s windows: {c30['whole_gflops'] / c30['gflops']:.1f}x fewer FLOPs, "
      f"{c30['whole_peak_mb'] / c30['peak_mb']:.0f}x less memory")
assert (round(c30["whole_gflops"] / c30["gflops"], 1), round(c30["whole_peak_mb"] / c30["peak_mb"])) == (3.5, 20)"""),
("md", """Chunking into 30 s windows does **3.5x fewer FLOPs** than one 10-minute pass (the T^2 attention of a
30 000-frame sequence is most of that pass) and needs **20x less memory**, at the price of 5 s of context per
window (2.5 s on each side) and no context beyond a window. Shorter windows are cheaper still, until the overlap
dominates."""),
("md", """## 6. int8 and `torch.compile`: what they change, and what they cost

`model.optimize_for_inference(quantize="int8", compile=False)` returns an inference-only copy. `"int8"` stores
the weights of every Linear layer (q/k/v/out, feed-forward, projection, CTC head) as int8 and quantises the
activations on the fly; the conv stack stays fp32. Live on the committed tiny CTC checkpoint, the held-out
character error rate barely moves:"""),
("code", """from w2v_lite.asr.metrics import cer
from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.data.audio import corpus_items, load

from w2v_lite.asr.pretrained import DEFAULT_MODEL_DIR  # the committed ctc-tiny, found through the package

recognizer = Recognizer.load(DEFAULT_MODEL_DIR)
ctc, tok = recognizer.model, recognizer.tokenizer
fast = ctc.optimize_for_inference(quantize="int8")
items = corpus_items("test")[:20]
waves, refs = [load(path) for path, _ in items], [text for _, text in items]
fp32_cer = cer(refs, [recognizer.transcribe(w).text for w in waves])
int8_cer = cer(refs, [Recognizer(fast, tok).transcribe(w).text for w in waves])
print(f"20 held-out clips: CER fp32 {100 * fp32_cer:.1f}%, int8 {100 * int8_cer:.1f}%")
assert abs(int8_cer - fp32_cer) <= 0.005"""),
("md", """The base model's recorded numbers (`benchmarks/fast_path.py --cpu-time --threads 1`: the same random weights
in transformers and w2v_lite, a 10 s clip and a padded batch of 1+2+3+4 s; CPU seconds, medians of 3; see
`benchmarks/README.md`). int8 takes the base model to **0.71x to 0.75x** of fp32 eager, with a cosine similarity
of 0.999 to the fp32 output. `torch.compile` (dynamic shapes) was *slower* than eager in the same kind of run,
after a first call of about a minute, so it stays experimental:"""),
("code", """recorded_fast = {  # workload: {variant: (CPU s, max |diff| vs transformers, cosine)}
    "10 s clip": {"transformers fp32": (1.565, 0.0, 1.0), "w2v_lite fp32": (1.599, 0.0, 1.0),
                  "w2v_lite int8": (1.141, 0.224, 0.998991)},
    "batch 1+2+3+4 s": {"transformers fp32": (2.371, 0.0, 1.0), "w2v_lite fp32": (2.291, 0.0, 1.0),
                        "w2v_lite int8": (1.723, 0.219, 0.998911)},
}
print(f"{'workload':<17}{'variant':<19}{'vs fp32':>8}{'vs HF':>7}{'max diff':>10}{'cosine':>9}")
for work, rows in recorded_fast.items():
    for variant, (sec, diff, cos) in rows.items():
        print(f"{work:<17}{variant:<19}{sec / rows['w2v_lite fp32'][0]:>8.2f}"
              f"{sec / rows['transformers fp32'][0]:>7.2f}{diff:>10.3f}{cos:>9.4f}")
int8_ratio = [rows["w2v_lite int8"][0] / rows["w2v_lite fp32"][0] for rows in recorded_fast.values()]
assert [round(r, 2) for r in int8_ratio] == [0.71, 0.75]
assert all(round(rows["w2v_lite int8"][2], 3) == 0.999 for rows in recorded_fast.values())"""),
("md", """int8 touches only the Linear layers,
which hold 57% of the base model's FLOPs at 10 s (computed below); the conv stack, a third, stays fp32, and
that caps the gain. For the **tiny** model neither pays: its forward is dominated by per-op overhead, not arithmetic (in
`fast_path.py` the int8 tiny model took longer over the 60 held-out clips than fp32)."""),
("code", """g = b10["groups"]
linear = g["qkv_out"]["gflops"] + g["feed_forward"]["gflops"] + g["feature_projection"]["gflops"]
linear_share = linear / b10["gflops"]
print(f"Linear layers: {100 * linear_share:.0f}% of the base model's FLOPs at 10 s")
assert round(100 * linear_share) == 57"""),
("md", """## 7. Try it: length in, cost out

Move the slider (seconds of audio) to see the base model's cost per stage kind, and the peak memory. Watch the
attention rows grow four-fold when the length doubles, and everything else two-fold."""),
("code", """from w2v_lite.teach.widgets import cost_figure_widget

widget = cost_figure_widget(base, value=10)  # a slider over seconds; the bars redraw
widget"""),
("md", """## Exercise

For a 20 s clip of the base model, how many FLOPs do the attention **scores** of *one* layer take? Use the
formula of section 2 (you need T first). Replace `None` and run the cell: `check.exercise_07_1` prints
`correct: ...`, a hint, or `not answered yet`."""),
("code", """from w2v_lite.teach import check

score_flops = None  # your answer: a whole number of FLOPs
_ = check.exercise_07_1(score_flops)"""),
("md", """<details><summary>Solution</summary>

```python
T20 = output_lengths(20 * 16_000, base)  # 999 frames, not 1000
score_flops = 2 * T20 * T20 * base.hidden_size  # 2 T^2 H = 1,532,929,536
```
</details>"""),
("md", """## 8. The length formula, derived by the compiler

Notebook 01 derived `T = floor((L - 400) / 320) + 1` by hand. `torch.export` can derive it too: give the conv
stack's input a *symbolic* length `L` (a `torch.export.Dim`) and it traces the seven convolutions once, carrying
`L` through every `floor((L - k) / s) + 1`. The output's time axis is then an expression in `L`, not a number
(this is what `w2v_lite.export_onnx` relies on for a graph that takes any length). The conv stack of the tiny
model has the same kernels and strides as the base one; the export takes tens of seconds."""),
("code", """from w2v_lite import samples_for_frames

stack = Wav2Vec2Model(tiny).eval().feature_extractor  # (B, L) -> (B, C, T)
L_dim = torch.export.Dim("L", min=samples_for_frames(2, tiny)[0], max=1_000_000)
program = torch.export.export(stack, (torch.randn(1, 16_000),), dynamic_shapes={"input_values": {1: L_dim}})
(out_node,) = [n for n in program.graph.nodes if n.op == "output"]
T_sym = out_node.args[0][0].meta["val"].shape[-1]  # a SymInt: the time axis of the output
expr = T_sym.node.expr
(L_sym,) = expr.free_symbols
print("output shape:", tuple(out_node.args[0][0].meta["val"].shape))
print("T =", str(expr).replace(str(L_sym), "L"))"""),
("md", """Read it from the inside out: the compiler merged nested floor divisions where it could prove them equal, so
the strides of the first layers multiply into `L // 80` (5 x 2 x 2 x 2 x 2), and the rest is what is left of
the `- k` terms. It looks nothing like the hand formula, so check it, for every length from one frame's
window (400 samples) to 100 000 samples at once: the printed expression is valid Python, and `//` works
element-wise on a tensor."""),
("code", """Ls = torch.arange(400, 100_001)
derived = eval(str(expr), {str(L_sym): Ls})  # the compiler's formula, on 99 601 lengths at once
assert torch.equal(derived, output_lengths(Ls, tiny))
print(f"equal to lengths.output_lengths for all {Ls.numel():,} lengths from 400 to 100 000")"""),
("md", """**Why a minimum length?** PyTorch's symbolic shapes treat sizes 0 and 1 as special: a size-1 axis broadcasts,
so code may behave differently there, and the tracer assumes a dynamic size is never 1. Here that means T
must stay at least 2 frames, so the export emits a *guard*, `T != 1`, and refuses a range of L that contains
lengths giving a single frame (400 to 719 samples). `samples_for_frames(2)` gives the first safe length, 720;
the guide's "about 1 200" is simply a round minimum above it. Ask for `min=400` and the exporter says so:"""),
("code", """try:
    torch.export.export(stack, (torch.randn(1, 16_000),),
                        dynamic_shapes={"input_values": {1: torch.export.Dim("L", min=400, max=1_000_000)}})
except Exception as err:  # torch._dynamo.exc.UserError
    guard = next(line for line in str(err).splitlines() if "guard" in line)
    print(type(err).__name__, ":", guard.strip()[:160])
print("lengths giving exactly one frame:", samples_for_frames(1, tiny))"""),
("md", """## Summary

* Cost is exact from the config and L: the conv stack and every Linear grow as T, attention as T^2; the cost
  model equals PyTorch's FLOP counter on real forward passes.
* For the base model, attention's FLOPs overtake the rest of a layer only beyond T = 2H + I = 4608 frames
  (92 s); in time it happens sooner (near 3100 frames, fitted over the recorded lengths), because attention
  runs slower per FLOP.
* Memory peaks in the first conv layer: about 13 MB per second of audio, 790 MB for a minute.
* Chunking long audio into overlapping windows turns the T^2 term into a constant per window.
* int8 Linear layers are the cheap speed-up for big models (about 0.7x, CER within 0.5 point here); compile was
  slower in our runs; tiny models gain nothing.
* `torch.export` with a symbolic length derives the output length formula itself; it needs L to give at least
  2 frames (the 0/1 specialisation guard)."""),
]


def build() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, text in CELLS:
        nb.cells.append(nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text))
    return nb


if __name__ == "__main__":
    path = ROOT / "notebooks" / "07_what_length_costs.ipynb"
    nbformat.write(build(), path)
    print(path)
