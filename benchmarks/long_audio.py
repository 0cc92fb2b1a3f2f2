"""Long recordings: explain and chunked encoding of 10 minutes (time, peak RSS), word start times from
forced alignment, and length-sorted batching of many files.

    python benchmarks/long_audio.py                 # all four, 10-minute clip
    python benchmarks/long_audio.py align           # only the alignment accuracy (a few seconds)
    python benchmarks/long_audio.py explain chunked --minutes 10 --threads 2
    python benchmarks/long_audio.py batching

Each measured command runs in its own child process, so its peak RSS (ru_maxrss) is its own.
  explain:  `w2v-lite explain FILE` (base config) on a 10-minute 16 kHz WAV. Target <= 10 s, <= 1.5 GB.
  chunked:  `encode_chunked` of a random-init base Wav2Vec2Model over the clip (20 s windows, 1.3 s of context
            each side) vs 60 x one full 10 s forward, both in the same child. Targets: peak RSS <= 2 GB,
            time <= 1.3 x (60 x 10 s).
  align:    the committed CTC checkpoint (or --model DIR) aligns every one-word clip of the test corpus,
            laid end to end with 0.3 s of silence between them (teach.long_audio.gapped_clip); start-time
            errors against the known truth. Target: within 40 ms.
  batching: `transcribe` of the 60 test-corpus files, length-sorted padded batches vs one at a time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHUNKED_CHILD = """
import json, resource, sys, time, torch
from w2v_lite import Wav2Vec2Config, Wav2Vec2Model
from w2v_lite.asr.chunking import encode_chunked
torch.set_num_threads({threads})
torch.manual_seed(0)
model = Wav2Vec2Model(Wav2Vec2Config.base()).eval()
clip = torch.randn(int({minutes} * 60 * 16000), generator=torch.Generator().manual_seed(0))
with torch.inference_mode():
    model(clip[None, :160000])  # warm-up
    start = time.perf_counter()
    for _ in range(3):
        model(clip[None, :160000])
    ten = (time.perf_counter() - start) / 3
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    out = encode_chunked(model, clip, chunk_seconds={chunk}, stride_seconds={stride})
    whole = time.perf_counter() - start
print(json.dumps(dict(ten=ten, whole=whole, frames=out.shape[0], rss_before=before,
                      rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))
"""


def child(cmd: list[str]) -> tuple[float, float, str]:
    """Run a child process: (wall seconds, its peak RSS in GB, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT),
                                                                          "PATH": "/usr/bin:/bin"})
    wall = time.perf_counter() - start
    if run.returncode:
        raise SystemExit(f"error: {' '.join(cmd)} failed:\n{run.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        print("  (peak RSS not above an earlier child's; run this part alone for its own number)")
    return wall, peak / 1e6, run.stdout


def long_wav(minutes: float, folder: Path) -> Path:
    import numpy as np
    import soundfile as sf

    path = folder / f"{minutes:g}min.wav"
    rng = np.random.default_rng(0)
    sf.write(path, (0.1 * rng.standard_normal(int(minutes * 60 * 16000))).astype(np.float32), 16000,
             subtype="PCM_16")
    return path


def bench_explain(minutes: float, folder: Path) -> None:
    path = long_wav(minutes, folder)
    wall, rss, out = child([sys.executable, "-m", "w2v_lite", "explain", str(path), "--config", "base"])
    print(f"explain, {minutes:g}-minute WAV, base: {wall:.1f} s wall, peak RSS {rss:.2f} GB "
          f"(targets <= 10 s, <= 1.5 GB)")
    print("  " + next(line for line in out.splitlines() if line.startswith("transformer")))


def bench_chunked(minutes: float, threads: int, chunk: float, stride: float) -> None:
    code = CHUNKED_CHILD.format(threads=threads, minutes=minutes, chunk=chunk, stride=stride)
    _, rss, out = child([sys.executable, "-c", code])
    r = json.loads(out)
    linear = minutes * 6 * r["ten"]
    print(f"chunked base encoding, {minutes:g} min, {chunk:g} s windows, {stride:g} s stride, {threads} threads: "
          f"{r['whole']:.1f} s vs {minutes * 6:g} x {r['ten']:.2f} s (10 s clip) = {linear:.1f} s -> "
          f"ratio {r['whole'] / linear:.2f} (target <= 1.3); peak RSS {rss:.2f} GB (target <= 2 GB), "
          f"{r['rss_before'] / 1e6:.2f} GB after the 10 s passes; {r['frames']} frames")


def bench_align(model: str) -> None:
    import numpy as np

    from w2v_lite.asr.recognizer import Recognizer
    from w2v_lite.data.audio import corpus_items
    from w2v_lite.teach.long_audio import gapped_clip

    words = sum(" " not in t for _, t in corpus_items("test"))
    clip = gapped_clip(words=words, gap_seconds=0.3)
    result = Recognizer.load(model).align(clip.audio, clip.transcript)
    errors = np.array([w.start for w in result.words]) - np.array(clip.starts)
    within = np.mean(np.abs(errors) <= 0.04)
    print(f"align, {Path(model).name}: {len(errors)} words, 0.3 s gaps; "
          f"start error median |e| {1000 * np.median(np.abs(errors)):.0f} ms, mean e {1000 * errors.mean():+.0f} ms, "
          f"max |e| {1000 * np.abs(errors).max():.0f} ms; {100 * within:.0f} % within 40 ms (target: within 40 ms)")
    print("  per word (ms): " + ", ".join(f"{w} {1000 * e:+.0f}" for w, e in zip(clip.words, errors)))


def bench_batching(threads: int) -> None:
    import torch

    from w2v_lite.asr.recognizer import Recognizer
    from w2v_lite.data.audio import corpus_items

    torch.set_num_threads(threads)
    files = [p for p, _ in corpus_items("test")]
    recognizer = Recognizer.load()  # the committed ctc-tiny
    recognizer.transcribe(files[:4])  # warm-up
    times = {}
    texts = {}
    for batched in (True, False, True, False):
        start = time.perf_counter()
        texts[batched] = [r.text for r in recognizer.transcribe(files, batched=batched)]
        times.setdefault(batched, []).append(time.perf_counter() - start)
    fast, slow = min(times[True]), min(times[False])
    same = sum(a == b for a, b in zip(texts[True], texts[False]))
    print(f"transcribe {len(files)} corpus files, ctc-tiny, {threads} threads: length-sorted batches {fast:.2f} s, "
          f"one at a time {slow:.2f} s -> speed-up {slow / fast:.2f}x; {same}/{len(files)} texts identical")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", default=["explain", "chunked", "align", "batching"],
                        choices=["explain", "chunked", "align", "batching"])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk", type=float, default=20.0)
    parser.add_argument("--stride", type=float, default=1.3)
    parser.add_argument("--model", default="default", help="CTC checkpoint for `align` (default: committed)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        for part in args.parts:
            if part == "explain":
                bench_explain(args.minutes, Path(tmp))
            elif part == "chunked":
                bench_chunked(args.minutes, args.threads, args.chunk, args.stride)
            elif part == "align":
                from w2v_lite.asr.pretrained import DEFAULT_MODEL_DIR

                bench_align(str(DEFAULT_MODEL_DIR) if args.model == "default" else args.model)
            else:
                bench_batching(args.threads)


if __name__ == "__main__":
    main()
