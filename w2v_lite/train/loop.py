"""Shared training machinery: one loop for every objective (pretraining, CTC fine-tuning).

An objective plugs in as a `Task` (build the model, turn clips into a batch, compute the loss); `train`
does the rest the same way for all of them:

    AudioFolder(dir)  (data/dataset.py) the folder's clips in memory, cropped to `max_seconds`
    BucketBatchSampler  similar-length clips together, at most `batch_seconds` of padded audio per batch;
                      under DDP rank r takes every R-th batch
    AdamW + warm-up/linear decay (LambdaLR), gradient clipping, fairseq's `feature_grad_mult`
    out/log.jsonl     one JSON line per step (rank 0): loss, the task's parts, lr, padded fraction, ...
    out/checkpoint-N/ one complete checkpoint (config.json, model.safetensors, the task's files such as
                      vocab.json, trainer_state.pt with optimizer, scheduler, step and every rank's RNG,
                      trainer_state.json with the step, log position and file hashes), written to a temporary
                      folder and renamed into place (`checkpointing.py`); the previous one is removed only
                      after the new one is complete
    out/config.json, model.safetensors [, vocab.json]   the newest checkpoint's model, for `from_pretrained(out)`

Checks come before writes: the data, config, --init and --out are all checked (and a resume checkpoint
verified file by file) before anything in `out` is touched. An `out` that already holds a model or a run is
never replaced unless `resume=True` (continue it) or `overwrite=True` (start afresh there).
`resume=True` continues *exactly*: the batch order is a function of (seed, epoch), crops of
(seed, epoch, clip), and the RNG states are restored, so 2 steps + resume + 2 steps equal 4 steps; a
crash at any write leaves a checkpoint that resumes exactly, or a clear refusal.
Run it under `torchrun --nproc_per_node=N` unchanged: gloo on CPU, NCCL on GPUs, only rank 0 writes.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from w2v_lite.config import SAMPLING_RATE, Wav2Vec2Config
from w2v_lite.data.audio import normalize, pad_batch
from w2v_lite.data.batching import BucketBatchSampler, padded_fraction
from w2v_lite.data.dataset import AudioFolder, Clip
from w2v_lite.lengths import receptive_field
from w2v_lite.model import checkpoints
from w2v_lite.train.checkpointing import (
    LOG_FILE,
    STATE_FILE,
    Resume,
    clear_artifacts,
    crash_point,
    existing_artifacts,
    export_model,
    load_checkpoint,
    read_log,
    remove_leftovers,
    save_checkpoint,
)


def waveform_batch(clips: Sequence[Clip]) -> dict[str, torch.Tensor]:
    """B clips -> {"input_values": (B, Lmax) normalised per clip over its own samples, "sample_lengths": (B,)}."""
    padded = pad_batch([c.waveform for c in clips])
    return {"input_values": normalize(padded.input_values, padded.sample_lengths),
            "sample_lengths": padded.sample_lengths}


class Task:
    """What an objective provides to `train`. Subclass it and override the methods marked *required*.

    `step` gets the model as wrapped for training (DDP or not: just call it); `on_step` and `evaluate`
    get the bare model. Batches are dicts of tensors; `train` moves them to the device.
    """

    name = "task"
    find_unused_parameters = False  # set True if some parameters get no gradient in a step (DDP needs it)
    needs_transcripts = False  # True: clips without a transcripts.tsv line are skipped (with a warning)

    def build_model(self, config: Wav2Vec2Config, init: Path | None) -> nn.Module:
        """*Required.* A fresh model for `config`, or one initialised from checkpoint folder `init`."""
        raise NotImplementedError

    def make_batch(self, clips: list[Clip]) -> dict[str, torch.Tensor]:
        """*Required.* B clips -> tensors, e.g. {"input_values": (B, L), "sample_lengths": (B,)}."""
        raise NotImplementedError

    def step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """*Required.* Forward one batch: -> (loss () to backpropagate, {name: float} to log)."""
        raise NotImplementedError

    def min_samples(self, config: Wav2Vec2Config) -> int:
        """Shortest usable clip in samples; shorter files are skipped. Default: one frame's window."""
        return receptive_field(config)[0]

    def restore(self, folder: Path) -> None:
        """On resume, before the model is built: read what the task saved in checkpoint `folder`."""

    def check_data(self, data: AudioFolder, config: Wav2Vec2Config) -> None:
        """Before anything is written: raise ValueError if the training data (or evaluation data) is unusable."""

    def checkpoint_files(self) -> dict[str, Callable[[Path], None]]:
        """Extra files of each checkpoint: {file name: function writing it to the given path}."""
        return {}

    def on_step(self, model: nn.Module, step: int) -> dict[str, float]:
        """Called before optimizer step `step` (0-based); returns values to log (e.g. a temperature)."""
        return {}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Called on rank 0 after training (model in eval mode); the result goes to out/eval.json."""
        return {}


@dataclass
class TrainArgs:
    """Hyper-parameters of `train` (the shared flags of `w2v-lite train`)."""

    data: Path
    out: Path
    steps: int  # optimizer steps in total; the learning-rate schedule ends here
    batch_seconds: float = 8.0  # cap on padded audio per batch (per process), in seconds
    max_seconds: float | None = None  # crop longer clips to this many seconds
    lr: float = 5e-4
    warmup_steps: int | None = None  # default: 10% of `steps`
    weight_decay: float = 0.01
    grad_clip: float = 5.0  # max global grad norm; 0 = no clipping
    feature_grad_mult: float = 0.1  # conv stack gradient scale (fairseq); 0 = frozen conv stack
    seed: int = 0
    save_every: int = 0  # also checkpoint every N steps (0: only at the end)
    stop_at: int | None = None  # stop (and checkpoint) after this step, e.g. to resume later
    resume: bool = False
    overwrite: bool = False  # replace a model or run already in `out` (otherwise refused)
    keep_checkpoints: int = 1  # checkpoint-N folders kept (the newest ones)
    progress: bool = True
    device: str | None = None  # default: cuda if available, else cpu
    config_overrides: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data, self.out = Path(self.data), Path(self.out)
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not (math.isfinite(self.batch_seconds) and math.isfinite(self.lr)):
            raise ValueError("batch_seconds and lr must be finite numbers")
        if self.batch_seconds <= 0 or self.lr <= 0 or self.grad_clip < 0 or self.feature_grad_mult < 0:
            raise ValueError("batch_seconds and lr must be > 0; grad_clip and feature_grad_mult >= 0")
        if self.save_every < 0 or (self.stop_at is not None and self.stop_at < 1) or self.keep_checkpoints < 1:
            raise ValueError("save_every must be >= 0, stop_at >= 1 and keep_checkpoints >= 1")
        if self.resume and self.overwrite:
            raise ValueError("--resume continues the run in --out and --overwrite replaces it: give only one")
        if self.max_seconds is not None and not 0 < self.max_seconds < math.inf:
            raise ValueError(f"max_seconds must be a positive number of seconds, got {self.max_seconds}")
        if self.warmup_steps is None:
            self.warmup_steps = max(1, self.steps // 10)


def seed_everything(seed: int) -> None:
    """Seed python's `random`, numpy's global RNG (span masks, negatives) and torch (init, dropout, Gumbel)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Every RNG state of this process, as tensors and plain types (loadable with `weights_only=True`)."""
    py_version, py_keys, py_gauss = random.getstate()
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": (py_version, list(py_keys), py_gauss), "torch": torch.get_rng_state(),
             "numpy": (kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), pos, has_gauss, gauss)}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what `rng_state` captured."""
    version, keys, gauss = state["python"]
    random.setstate((version, tuple(keys), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def warmup_linear_decay(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """LR factor for step s (0-based): rises linearly to 1 over `warmup_steps`, then falls to 0 at the end."""

    def factor(s: int) -> float:
        if s < warmup_steps:
            return (s + 1) / warmup_steps
        return max(0.0, (total_steps - s) / max(1, total_steps - warmup_steps))

    return factor


def conv_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters of the conv feature encoder (any submodule named `feature_extractor`)."""
    return [p for name, p in model.named_parameters() if "feature_extractor." in name]


def _distributed(device: str | None) -> tuple[int, int, torch.device, bool]:
    """(rank, world size, device, whether we started the process group) from torchrun's environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() and device in (None, "cuda")
    dev = torch.device(f"cuda:{local_rank}" if cuda else device or "cpu")
    started = False
    if world > 1 and not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if cuda else "gloo")
        started = True
    rank = dist.get_rank() if dist.is_initialized() else 0
    return rank, world, dev, started


def _mean_over_ranks(row: dict[str, float], world: int, device: torch.device) -> dict[str, float]:
    if world == 1:
        return row
    keys = sorted(row)
    values = torch.tensor([float(row[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return {k: v / world for k, v in zip(keys, values.tolist())}


def train(task: Task, config: Wav2Vec2Config, args: TrainArgs, init: Path | None = None) -> list[dict]:
    """Train `task` on `args.data` for `args.steps` optimizer steps; returns rank 0's logged rows.

    Writes a checkpoint (see the module docstring) into `args.out` at the end, every `save_every` steps
    and at `stop_at`. `args.resume` continues from the newest checkpoint in `args.out` (its config wins).
    Every check (data, config, init, out) runs before the first write; a failed one raises ValueError.
    """
    rank, world, device, started = _distributed(args.device)
    try:
        return _train(task, config, args, init, rank, world, device)
    finally:
        if started:
            dist.destroy_process_group()


def _check_out(args: TrainArgs) -> Resume | None:
    """Refuse an `out` that is a file, or that holds a model or run we may not replace; on resume, the
    verified newest checkpoint."""
    out = args.out
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; pass a folder for the checkpoints")
    if args.resume:
        return load_checkpoint(out)
    found = existing_artifacts(out)
    if found and not args.overwrite:
        run = any(n.startswith("checkpoint-") or n in (LOG_FILE, STATE_FILE) for n in found)
        what = "a training run" if run else "a model"
        raise ValueError(f"{out} already holds {what} ({', '.join(found[:4])}{', ...' if len(found) > 4 else ''}); "
                         "pass --resume to continue a run, --overwrite to replace it, or pick a new --out")
    return None


def _prepare_out(args: TrainArgs, history: list[dict]) -> None:
    """The first writes, after every check passed: create `out`, clear it (--overwrite), write the log."""
    out = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise ValueError(f"cannot write to --out {out}: {err.strerror or err}; choose a writable folder") from None
    if args.overwrite:
        clear_artifacts(out)
    remove_leftovers(out)
    log = "".join(json.dumps(r) + "\n" for r in history)
    checkpoints.atomic_write(out / LOG_FILE, lambda p: p.write_text(log))


def _train(task: Task, config: Wav2Vec2Config, args: TrainArgs, init: Path | None, rank: int, world: int,
           device: torch.device) -> list[dict]:
    resume = _check_out(args)
    if resume is not None:
        config = checkpoints.load_config(resume.folder)
        task.restore(resume.folder)
        init = None  # the checkpoint's weights replace whatever --init gave
    if args.config_overrides:
        try:  # Wav2Vec2Config.replace is the one check of field names (TypeError) and types
            config = config.replace(**args.config_overrides)
        except TypeError as err:  # a bad --set is a user error, not a bug
            raise ValueError(f"--set: {err}") from err

    seed_everything(args.seed)  # same on every rank: identical init (DDP also broadcasts rank 0's weights)
    model = task.build_model(config, init).to(device)
    config = getattr(model, "config", config)
    if resume is not None:
        checkpoints.load_into(model, checkpoints.load_state_dict(resume.folder), source=str(resume.folder))
    conv = conv_parameters(model)
    if args.feature_grad_mult == 0:
        for p in conv:
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.98), eps=1e-6,
                                  weight_decay=args.weight_decay)  # fairseq's wav2vec 2.0 settings
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear_decay(args.warmup_steps or 0, args.steps))

    data = AudioFolder(args.data, args.max_seconds, task.min_samples(config), require_text=task.needs_transcripts)
    task.check_data(data, config)
    lengths = data.sample_lengths
    sampler = BucketBatchSampler(lengths, int(args.batch_seconds * SAMPLING_RATE), seed=args.seed,
                                 num_replicas=world, rank=rank)
    step = 0
    seed_everything(args.seed + rank)  # ranks draw different masks, dropout and Gumbel noise
    if resume is not None:
        try:
            optimizer.load_state_dict(resume.state["optimizer"])
            scheduler.load_state_dict(resume.state["scheduler"])
        except (KeyError, ValueError, RuntimeError) as err:
            raise ValueError(f"cannot resume: {resume.folder / STATE_FILE} does not fit this model and its "
                             f"settings ({type(err).__name__}: {err})") from err
        step = resume.step
        if len(resume.state["rng"]) == world:
            set_rng_state(resume.state["rng"][rank])
        else:
            warnings.warn(f"checkpoint was written by {len(resume.state['rng'])} processes, resuming with {world}: "
                          "the RNG streams restart from the seed, so the run is not bit-exact", stacklevel=2)
    end = min(args.steps, args.stop_at or args.steps)
    if step > args.steps or (step == end < args.steps):
        raise ValueError(f"the checkpoint in {args.out} is at step {step}, not before --steps {args.steps} / "
                         f"--stop-at {args.stop_at}; raise them to train further")
    history: list[dict] = []
    if world > 1:
        dist.barrier()  # every rank has checked `out` before rank 0 writes into it
    if rank == 0:
        history = read_log(args.out / LOG_FILE, step, lambda msg: warnings.warn(msg, stacklevel=4))
        _prepare_out(args, history)  # the first write: every check above has passed
        if resume is not None:
            export_model(resume.folder, args.out)  # in case a crash came between its commit and its export
    wrapped = model
    if world > 1:
        wrapped = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=task.find_unused_parameters)

    bar = tqdm(total=end, initial=step, disable=not (args.progress and rank == 0), desc=task.name)
    epoch, offset = divmod(step, len(sampler))
    while step < end:
        sampler.set_epoch(epoch)
        for indices in list(sampler)[offset:]:
            if step >= end:
                break
            started_at = time.perf_counter()
            clips = [data.clip(i, epoch, args.seed) for i in indices]
            batch = {k: v.to(device) for k, v in task.make_batch(clips).items()}
            model.train()
            row: dict[str, float] = {"step": step + 1, "epoch": epoch, "lr": float(scheduler.get_last_lr()[0])}
            row.update(task.on_step(model, step))
            loss, metrics = task.step(wrapped, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at step {step + 1}; lower --lr or check data")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if args.feature_grad_mult not in (0.0, 1.0):  # = fairseq's GradMultiply on the conv features
                for p in conv:
                    if p.grad is not None:
                        p.grad.mul_(args.feature_grad_mult)
            norm = nn.utils.clip_grad_norm_(params, args.grad_clip if args.grad_clip > 0 else float("inf"))
            optimizer.step()
            scheduler.step()
            step += 1
            row.update(loss=loss.item(), **metrics, grad_norm=norm.item(), batch_clips=len(indices),
                       padded_fraction=padded_fraction([lengths[i] for i in indices],
                                                       [list(range(len(indices)))], config),
                       seconds=time.perf_counter() - started_at)
            row = {**_mean_over_ranks(row, world, device), "step": step, "epoch": epoch}
            if rank == 0:
                history.append(row)
                with open(args.out / LOG_FILE, "a") as log:
                    log.write(json.dumps(row) + "\n")
                crash_point(f"log row {step}")
                bar.update(1)
                bar.set_postfix(loss=f"{row['loss']:.3f}")
            if step == end or (args.save_every and step % args.save_every == 0):
                _save(task, model, config, optimizer, scheduler, step, args, rank, world)
        epoch, offset = epoch + 1, 0
    bar.close()
    if rank == 0 and step >= args.steps:
        model.eval()
        with torch.no_grad():
            result = task.evaluate(model)
        if result:
            text = json.dumps(result, indent=2) + "\n"
            checkpoints.atomic_write(args.out / "eval.json", lambda p: p.write_text(text))
    return history


def _save(task: Task, model: nn.Module, config: Wav2Vec2Config, optimizer, scheduler, step: int,
          args: TrainArgs, rank: int, world: int) -> None:
    """Checkpoint `step`: every rank's RNG is gathered, rank 0 writes one folder atomically (checkpointing.py)."""
    rngs: list[dict | None] = [None] * world
    if world > 1:
        dist.all_gather_object(rngs, rng_state())  # every rank's RNG, so that a resume is exact
    else:
        rngs = [rng_state()]
    if rank != 0:
        return
    state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step,
             "rng": rngs}
    writers = {"config.json": config.save, "model.safetensors": lambda p: checkpoints.write_weights(model, p),
               **task.checkpoint_files(), STATE_FILE: lambda p: torch.save(state, p)}
    info = {"log_rows": step, "world_size": world, "args": {k: str(v) for k, v in asdict(args).items()}}
    save_checkpoint(args.out, step, writers, info, keep=args.keep_checkpoints)
