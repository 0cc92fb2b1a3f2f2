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

Checks come before writes: the numbers (`TrainArgs`), data, config, --init and --out are all checked (and a
resume checkpoint verified file by file) before anything is written, and --init is read into memory. An `out`
that already holds a model or a run is never replaced unless `resume=True` (continue it) or `overwrite=True`
(start afresh there). A new run trains in a staging folder next to `out` until its first checkpoint is
complete, which then replaces `out` in one atomic swap (`checkpointing.promote`): a crash or Ctrl-C before
that leaves `out` byte for byte as it was, so `--overwrite` and `--init DIR --out DIR` lose nothing.
`resume=True` continues *exactly*: the batch order is a function of (seed, epoch), crops of
(seed, epoch, clip), and the RNG states are restored, so 2 steps + resume + 2 steps equal 4 steps; a
crash at any write leaves a checkpoint that resumes exactly, or a clear refusal. Each checkpoint records
the arguments that decide the numbers (data fingerprint, seed, lr, --set, the task's settings, ...); a resume
that changes one is refused with the flag named, unless `force=True`.

The parts: `_setup` (build everything, seeded), `_restore` (optimizer, schedule, RNG from a checkpoint),
`_open_out` (the first writes), `_loop` / `_step` / `_log` / `_save` (one step, its log row, a checkpoint),
`_evaluate` (eval.json).
Run it under `torchrun --nproc_per_node=N` unchanged: gloo on CPU, NCCL on GPUs, only rank 0 writes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
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
from w2v_lite.errors import UsageError
from w2v_lite.lengths import receptive_field
from w2v_lite.model import checkpoints
from w2v_lite.train.checkpointing import (
    LOG_FILE,
    STATE_FILE,
    Resume,
    can_stage,
    crash_point,
    existing_artifacts,
    export_model,
    load_checkpoint,
    promote,
    read_log,
    recover,
    remove_leftovers,
    remove_stale,
    save_checkpoint,
    staging_folder,
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

    def exact_settings(self) -> dict[str, object]:
        """The task's own settings that change the numbers of a run ({field name: value}, JSON types); each
        checkpoint records them and `resume` refuses a change (the field is named as a flag: `--temp-decay`)."""
        return {}


MAX_INT = 2**63 - 1  # steps and seeds end up in int64 tensors (torch's RNG, the scheduler state)
_INT_FIELDS = {"steps": 1, "warmup_steps": 0, "seed": 0, "save_every": 0, "stop_at": 1, "keep_checkpoints": 1}
_FLOAT_FIELDS = {"batch_seconds": False, "max_seconds": False, "lr": False,  # False: must be > 0
                 "weight_decay": True, "grad_clip": True, "feature_grad_mult": True}  # True: 0 allowed
_OPTIONAL = {"warmup_steps", "stop_at", "max_seconds"}  # None means "the default" (see TrainArgs)


def flag(name: str) -> str:
    """The command-line flag of a field: `warmup_steps` -> `--warmup-steps` (errors name the flag)."""
    return "--" + name.replace("_", "-")


def require_int(name: str, value: object, minimum: int) -> int:
    """`value` as a whole number in [minimum, 2**63 - 1], else TypeError / ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > MAX_INT:
        raise ValueError(f"{name} must be at most 2**63 - 1 = {MAX_INT}, got {value}")
    return int(value)


def require_float(name: str, value: object, minimum: float = 0.0, zero_ok: bool = True) -> float:
    """`value` as a finite number >= minimum (> minimum unless `zero_ok`), else an error naming `name`.

    nan and inf are refused here, before training, instead of as a nan loss many steps later."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if value < minimum or (value == minimum and not zero_ok):
        raise ValueError(f"{name} must be {'>=' if zero_ok else '>'} {minimum:g}, got {value}")
    return float(value)


@dataclass
class TrainArgs:
    """Hyper-parameters of `train` (the shared flags of `w2v-lite train`). Every value is checked here, once,
    so Python callers and the command line get the same message (naming the flag)."""

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
    force: bool = False  # with resume: continue even though data, seed, config, ... differ from the checkpoint's
    keep_checkpoints: int = 1  # checkpoint-N folders kept (the newest ones)
    progress: bool = True
    device: str | None = None  # default: cuda if available, else cpu
    config_overrides: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data, self.out = Path(self.data), Path(self.out)
        for name, minimum in _INT_FIELDS.items():
            if getattr(self, name) is not None or name not in _OPTIONAL:
                setattr(self, name, require_int(flag(name), getattr(self, name), minimum))
        for name, zero_ok in _FLOAT_FIELDS.items():
            if getattr(self, name) is not None or name not in _OPTIONAL:
                setattr(self, name, require_float(flag(name), getattr(self, name), 0.0, zero_ok))
        for name in ("resume", "overwrite", "force", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not isinstance(self.config_overrides, dict):
            raise TypeError(f"config_overrides must be a dict of config fields, got {self.config_overrides!r}")
        if self.resume and self.overwrite:
            raise ValueError("--resume continues the run in --out and --overwrite replaces it: give only one")
        if self.force and not self.resume:
            raise ValueError("--force only lets --resume continue with changed arguments; add --resume or drop it")
        _check_device(self.device)
        if self.warmup_steps is None:
            self.warmup_steps = max(1, self.steps // 10)


def _check_device(device: str | None) -> None:
    """Refuse a device this torch can't use, with one line, before anything is built."""
    if device is None:
        return
    kind, _, index = str(device).partition(":")
    if kind not in ("cpu", "cuda") or (index and not index.isdigit()):
        raise ValueError(f"--device must be cpu, cuda or cuda:N, got {device!r}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: this torch build sees no CUDA GPU; use --device cpu")


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
    and at `stop_at`; a new run lives beside `args.out` until its first checkpoint replaces it atomically.
    `args.resume` continues from the newest checkpoint in `args.out` (its config wins), refusing changed
    arguments unless `args.force`. Every check (numbers, data, config, init, out, resume arguments) runs
    before the first write; a failed one raises ValueError (TypeError for a wrong type).
    """
    rank, world, device, started = _distributed(args.device)
    try:
        rows = _train(task, config, args, init, rank, world, device)
        if started:  # rank 0 writes the last checkpoint after the last collective: the ranks leave together
            dist.barrier()
        return rows
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
    why_not = can_stage(out)
    if found and why_not:
        raise ValueError(f"--overwrite: {why_not}, so the old model could not be kept until the new one is "
                         "complete; run from another folder or pick a new --out")
    return None


# ---- the arguments a resume must share with the run it continues ---------------------------------------------


def data_fingerprint(data: AudioFolder, root: Path) -> str:
    """SHA-256 of the clips `train` uses (relative names, transcripts, samples): the same data moved elsewhere
    matches, the same path with other clips does not."""
    digest = hashlib.sha256()
    for clip in data.clips:
        name = clip.path.relative_to(root) if clip.path.is_relative_to(root) else clip.path.name
        digest.update(f"{name}\0{clip.text or ''}\0".encode())
        digest.update(clip.waveform.contiguous().numpy().tobytes())
    return digest.hexdigest()


def _exact_args(task: Task, args: TrainArgs) -> dict:
    """What decides the run's numbers (besides the data): a resume that changes one is not exact."""
    names = ("seed", "steps", "batch_seconds", "max_seconds", "lr", "warmup_steps", "weight_decay", "grad_clip",
             "feature_grad_mult")
    exact = {"objective": task.name, **{n: getattr(args, n) for n in names}, "set": args.config_overrides,
             **task.exact_settings()}
    return json.loads(json.dumps(exact, default=str))  # as trainer_state.json will hold them


def _difference(name: str, old: object, new: object, info: dict) -> tuple[str, str]:
    """(what changed, how to rerun as the checkpoint was) for one argument, in the words of the CLI."""
    if name == "objective":
        return f"the checkpoint is from `train {old}`, this is `train {new}`", f"`w2v-lite train {old}`"
    if name == "data":
        was = info.get("data", "?")
        return f"--data holds other clips than the ones the checkpoint was trained on ({was})", f"--data {was}"
    if name == "set":
        return (f"--set gave {json.dumps(old)} in the checkpoint, now {json.dumps(new)}",
                "the checkpoint's --set values")

    def shown(value: object) -> str:
        return "unset" if value is None else ("on" if value is True else "off" if value is False else str(value))

    rerun = f"without {flag(name)}" if old is None or old is False else flag(name) if old is True else \
        f"{flag(name)} {old}"  # `is`: 0 == False, and --seed 0 is a value
    return f"{flag(name)} was {shown(old)} in the checkpoint, now {shown(new)}", rerun


def _compare_args(resume: Resume, current: dict, force: bool) -> None:
    """Refuse (or, with force, warn about) a resume whose arguments differ from those the checkpoint recorded."""
    stored = resume.info.get("exact")
    if not isinstance(stored, dict):
        warnings.warn(f"{resume.folder} does not record its arguments (an older w2v_lite wrote it); "
                      "cannot check that this resume uses the same ones", stacklevel=4)
        return
    names = [k for k, v in current.items() if k in stored and stored[k] != v]
    if "objective" in names:
        names = ["objective"]  # another objective: its other defaults differ too, and say nothing more
    changed = [_difference(k, stored[k], current[k], resume.info) for k in names]
    if not changed:
        return
    said = "; ".join(what for what, _ in changed)
    if force:
        warnings.warn(f"--resume --force: {said}; continuing anyway, so the run is no longer exact", stacklevel=4)
        return
    raise ValueError(f"--resume: {said}; rerun with {' '.join(r for _, r in changed)}, "
                     "or add --force to continue anyway")


# ---- setup, restore, step, log, save: the parts of `train` ---------------------------------------------------


@dataclass
class _Run:
    """One process's training state: what `_setup` builds and every `_step` advances."""

    task: Task
    args: TrainArgs
    config: Wav2Vec2Config
    model: nn.Module
    params: list[nn.Parameter]
    conv: list[nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    data: AudioFolder
    sampler: BucketBatchSampler
    rank: int
    world: int
    device: torch.device
    exact: dict  # `_exact_args` and the data's fingerprint, recorded in every checkpoint
    sample_lengths: list[int] = field(default_factory=list)  # samples per (cropped) clip, as the sampler sees them
    wrapped: nn.Module | None = None  # the model as trained: DDP-wrapped under torchrun, else `model`
    step: int = 0
    folder: Path = Path()  # where rank 0 writes: the staging folder until the first checkpoint, then `out`
    staged: bool = False  # True until the first complete checkpoint has replaced `out` (`promote`)
    history: list[dict] = field(default_factory=list)

    @property
    def end(self) -> int:
        """The step this invocation stops after: --steps, or --stop-at if sooner."""
        return min(self.args.steps, self.args.stop_at or self.args.steps)


def _train(task: Task, config: Wav2Vec2Config, args: TrainArgs, init: Path | None, rank: int, world: int,
           device: torch.device) -> list[dict]:
    if rank == 0:
        recover(args.out)  # a crash inside an earlier promotion: the old folder comes back first
    resume = _check_out(args)
    if resume is not None:
        _compare_args(resume, _exact_args(task, args), args.force)
    run = _setup(task, config, args, init, resume, rank, world, device)
    if resume is not None:
        _compare_args(resume, {"data": run.exact["data"]}, args.force)
        _restore(run, resume)
    if run.step > args.steps:  # only reachable with --force: a lower --steps is refused above
        raise ValueError(f"the checkpoint in {args.out} is at step {run.step}, past --steps {args.steps}; "
                         "a run can't go back")
    if run.step == run.end < args.steps:
        raise ValueError(f"the checkpoint in {args.out} is at step {run.step}, the --stop-at {args.stop_at} given; "
                         "raise --stop-at or drop it to train further")
    _open_out(run, resume)
    try:
        _loop(run)
    except (Exception, KeyboardInterrupt):  # Ctrl-C or an error before the first checkpoint: `out` untouched
        if run.staged:  # the staging folder (or, past the swap, the old `out` it now holds) goes
            shutil.rmtree(run.folder, ignore_errors=True)
            recover(args.out)  # interrupted between the two renames of a non-atomic swap: the old `out` returns
        raise
    if rank == 0 and run.step >= args.steps:
        _evaluate(run)
    return run.history


def _setup(task: Task, config: Wav2Vec2Config, args: TrainArgs, init: Path | None, resume: Resume | None,
           rank: int, world: int, device: torch.device) -> _Run:
    """Config, model (from init or the checkpoint), optimizer, schedule, data and sampler; seeds every RNG.
    Only reads: `init` is in memory afterwards, so `out` may even be the same folder."""
    if resume is not None:
        config = checkpoints.load_config(resume.folder)
        task.restore(resume.folder)
        init = None  # the checkpoint's weights replace whatever --init gave
    if args.config_overrides:
        try:  # Wav2Vec2Config.replace is the one check of field names (TypeError) and types
            config = config.replace(**args.config_overrides)
        except TypeError as err:  # a bad --set is a user error, not a bug
            raise UsageError(f"--set: {err}") from err
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
    sampler = BucketBatchSampler(data.sample_lengths, int(args.batch_seconds * SAMPLING_RATE), seed=args.seed,
                                 num_replicas=world, rank=rank)
    seed_everything(args.seed + rank)  # ranks draw different masks, dropout and Gumbel noise
    exact = {**_exact_args(task, args), "data": data_fingerprint(data, args.data)}
    return _Run(task, args, config, model, params, conv, optimizer, scheduler, data, sampler, rank, world, device,
                exact, data.sample_lengths)


def _restore(run: _Run, resume: Resume) -> None:
    """Continue from checkpoint `resume`: optimizer, schedule, step and this rank's RNG states."""
    try:
        run.optimizer.load_state_dict(resume.state["optimizer"])
        run.scheduler.load_state_dict(resume.state["scheduler"])
    except (KeyError, ValueError, RuntimeError) as err:
        raise ValueError(f"cannot resume: {resume.folder / STATE_FILE} does not fit this model and its "
                         f"settings ({type(err).__name__}: {err})") from err
    run.step = resume.step
    if len(resume.state["rng"]) == run.world:
        set_rng_state(resume.state["rng"][run.rank])
    else:
        warnings.warn(f"checkpoint was written by {len(resume.state['rng'])} processes, resuming with {run.world}: "
                      "the RNG streams restart from the seed, so the run is not bit-exact", stacklevel=4)


def _open_out(run: _Run, resume: Resume | None) -> None:
    """The first writes, after every check passed (rank 0): a new run goes to the staging folder, a resume
    into `out`; the log holds the rows up to the checkpoint. Then DDP wraps the model."""
    args = run.args
    if run.world > 1:
        dist.barrier()  # every rank has checked `out` before rank 0 writes into it
    if run.rank == 0:
        run.history = read_log(args.out / LOG_FILE, run.step, lambda msg: warnings.warn(msg, stacklevel=5))
        run.staged = resume is None and can_stage(args.out) is None
        run.folder = staging_folder(args.out) if run.staged else args.out
        _prepare_out(args, run.folder, run.history)
        if resume is not None:
            export_model(resume.folder, args.out)  # in case a crash came between its commit and its export
    run.wrapped = run.model
    if run.world > 1:
        run.wrapped = nn.parallel.DistributedDataParallel(
            run.model, device_ids=[run.device.index] if run.device.type == "cuda" else None,
            find_unused_parameters=run.task.find_unused_parameters)


def _prepare_out(args: TrainArgs, folder: Path, history: list[dict]) -> None:
    """Check that `out` (if it exists) and `folder` can be written, clear what killed runs left, write the log."""
    out = args.out
    try:
        if out.is_dir():
            with tempfile.TemporaryFile(dir=out):
                pass
        remove_stale(out)
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(f"cannot write to --out {out}: {err.strerror or err}; choose a writable folder") from None
    remove_leftovers(folder)
    log = "".join(json.dumps(r) + "\n" for r in history)
    checkpoints.atomic_write(folder / LOG_FILE, lambda p: p.write_text(log))


def _loop(run: _Run) -> None:
    """Steps from `run.step` to `run.end`, in the sampler's (seed, epoch) order; logs and checkpoints."""
    args = run.args
    bar = tqdm(total=run.end, initial=run.step, disable=not (args.progress and run.rank == 0), desc=run.task.name)
    epoch, offset = divmod(run.step, len(run.sampler))
    while run.step < run.end:
        run.sampler.set_epoch(epoch)
        for indices in list(run.sampler)[offset:]:
            if run.step >= run.end:
                break
            _log(run, _step(run, indices, epoch), bar)
            if run.step == run.end or (args.save_every and run.step % args.save_every == 0):
                _save(run)
        epoch, offset = epoch + 1, 0
    bar.close()


def _step(run: _Run, indices: list[int], epoch: int) -> dict[str, float]:
    """One optimizer step on the clips `indices`; -> the log row (averaged over ranks)."""
    args, model, started_at = run.args, run.model, time.perf_counter()
    clips = [run.data.clip(i, epoch, args.seed) for i in indices]
    batch = {k: v.to(run.device) for k, v in run.task.make_batch(clips).items()}
    model.train()
    row: dict[str, float] = {"step": run.step + 1, "epoch": epoch, "lr": float(run.scheduler.get_last_lr()[0])}
    row.update(run.task.on_step(model, run.step))
    loss, metrics = run.task.step(run.wrapped if run.wrapped is not None else model, batch)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss is {loss.item()} at step {run.step + 1}; lower --lr or check data")
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if args.feature_grad_mult not in (0.0, 1.0):  # = fairseq's GradMultiply on the conv features
        for p in run.conv:
            if p.grad is not None:
                p.grad.mul_(args.feature_grad_mult)
    norm = nn.utils.clip_grad_norm_(run.params, args.grad_clip if args.grad_clip > 0 else float("inf"))
    run.optimizer.step()
    run.scheduler.step()
    run.step += 1
    row.update(loss=loss.item(), **metrics, grad_norm=norm.item(), batch_clips=len(indices),
               padded_fraction=padded_fraction([run.sample_lengths[i] for i in indices], [list(range(len(indices)))],
                                               run.config),
               seconds=time.perf_counter() - started_at)
    return {**_mean_over_ranks(row, run.world, run.device), "step": run.step, "epoch": epoch}


def _log(run: _Run, row: dict[str, float], bar: tqdm) -> None:
    """Rank 0: keep the row, append it to log.jsonl, move the progress bar."""
    if run.rank != 0:
        return
    run.history.append(row)
    with open(run.folder / LOG_FILE, "a") as log:
        log.write(json.dumps(row) + "\n")
    crash_point(f"log row {run.step}")
    bar.update(1)
    bar.set_postfix(loss=f"{row['loss']:.3f}")


def _save(run: _Run) -> None:
    """Checkpoint `run.step`: every rank's RNG is gathered, rank 0 writes one folder atomically (checkpointing.py);
    the first checkpoint of a staged run then replaces `out` in one step (`promote`)."""
    rngs: list[dict | None] = [None] * run.world
    if run.world > 1:
        dist.all_gather_object(rngs, rng_state())  # every rank's RNG, so that a resume is exact
    else:
        rngs = [rng_state()]
    if run.rank != 0:
        return
    state = {"optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(), "step": run.step,
             "rng": rngs}
    writers = {"config.json": run.config.save, "model.safetensors": lambda p: checkpoints.write_weights(run.model, p),
               **run.task.checkpoint_files(), STATE_FILE: lambda p: torch.save(state, p)}
    info = {"log_rows": run.step, "world_size": run.world, "data": str(run.args.data.resolve()),
            "exact": run.exact, "args": {k: str(v) for k, v in asdict(run.args).items()}}
    save_checkpoint(run.folder, run.step, writers, info, keep=run.args.keep_checkpoints)
    if run.staged:
        promote(run.folder, run.args.out)
        run.folder, run.staged = run.args.out, False


def _evaluate(run: _Run) -> None:
    """Rank 0 after the last step: the task's evaluation, if any, into out/eval.json."""
    run.model.eval()
    with torch.no_grad():
        result = run.task.evaluate(run.model)
    if result:
        text = json.dumps(result, indent=2) + "\n"
        checkpoints.atomic_write(run.args.out / "eval.json", lambda p: p.write_text(text))
