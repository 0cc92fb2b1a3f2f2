"""Training checkpoints that are never half-written: one folder per checkpoint, renamed into place.

    out/
      checkpoint-000200/   the newest complete checkpoint: everything a resume needs, all from one step
        config.json  model.safetensors  [vocab.json]  trainer_state.pt  trainer_state.json
      config.json  model.safetensors  [vocab.json]    the same model at the top, for `from_pretrained(out)`
      log.jsonl  [eval.json]

`save_checkpoint` writes every file of step N into `out/.checkpoint-N.tmp/`, fsyncs each file and the
folder, renames it to `out/checkpoint-N` (the commit point: a rename is atomic) and fsyncs `out`. Only then
does it remove older checkpoints and replace the top-level model files (each by an atomic rename of a hard
link into the new checkpoint). A crash at any moment leaves the old complete checkpoint or the new one;
leftover `.checkpoint-*` folders are ignored and removed by the next run.

A new run (and `--overwrite`) never writes into `out` before its first checkpoint is complete: it trains in a
staging folder next to it, `.<out name>.w2v-new/`, and `promote` then swaps that folder with `out` in one
atomic rename (Linux `renameat2(RENAME_EXCHANGE)`; elsewhere two renames, undone by `recover` if a crash
falls between them). Until that moment `out` is byte for byte what it was, so `--overwrite` keeps the old
model until a complete new one replaces it, and `--init DIR --out DIR` cannot lose DIR (the model was read
into memory long before). Files in `out` that are not training artifacts (notes, data) move along as hard
links.

`trainer_state.json` records the step, the number of log rows that belong to it, the world size and the
SHA-256 of every other file, so `load_checkpoint` refuses a damaged or mixed folder by name instead of
resuming inexactly. `crash_point(label)` marks every write: tests make it raise (`CRASH_HOOK`) or the
environment variable `W2V_LITE_CRASH_AT=K` kills the process at the K-th write (deterministic crash tests).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from w2v_lite.model.checkpoints import WEIGHT_FILES

STATE_FILE, INFO_FILE, LOG_FILE, EVAL_FILE = "trainer_state.pt", "trainer_state.json", "log.jsonl", "eval.json"
MODEL_FILES = ("config.json", "model.safetensors", "vocab.json")  # mirrored at the top of `out`
PREFIX = "checkpoint-"
_NAME = re.compile(r"^checkpoint-(\d+)$")
CRASH_ENV = "W2V_LITE_CRASH_AT"

CRASH_HOOK: Callable[[str], None] | None = None  # tests: called with a label at every write point
_writes = 0


def crash_point(label: str) -> None:
    """Mark a write point: `CRASH_HOOK(label)` if set; `os._exit(86)` at the K-th point if W2V_LITE_CRASH_AT=K."""
    global _writes
    _writes += 1
    if CRASH_HOOK is not None:
        CRASH_HOOK(label)
    if os.environ.get(CRASH_ENV) == str(_writes):
        os._exit(86)  # a kill: no cleanup, no flush


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_folders(out: Path) -> list[tuple[int, Path]]:
    """Committed checkpoint folders in `out` as (step, path), oldest first (temporary folders excluded)."""
    if not out.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in out.iterdir() if p.is_dir() and (m := _NAME.match(p.name))]
    return sorted(found)


def existing_artifacts(out: Path) -> list[str]:
    """Names in `out` that a new run would replace: model files, checkpoints, trainer state, log, eval."""
    if not out.is_dir():
        return []
    names = {*MODEL_FILES, *WEIGHT_FILES, STATE_FILE, INFO_FILE, LOG_FILE, EVAL_FILE}
    return sorted(p.name for p in out.iterdir() if p.name in names or _NAME.match(p.name))


def remove_leftovers(out: Path) -> None:
    """Delete temporary folders and files of interrupted saves (names starting with `.checkpoint-`, `.tmp-`)."""
    if not out.is_dir():
        return
    for path in out.iterdir():
        if path.name.startswith((f".{PREFIX}", ".tmp-")):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def save_checkpoint(out: Path, step: int, writers: dict[str, Callable[[Path], None]], info: dict,
                    keep: int = 1) -> Path:
    """Write checkpoint `step` atomically: `writers` maps file name -> function writing that file.

    Returns the committed folder. `info` goes to trainer_state.json with the step and file hashes.
    Afterwards only the newest `keep` checkpoints remain, and the top-level model files point at this one.
    """
    final = out / f"{PREFIX}{step:06d}"
    tmp = out / f".{PREFIX}{step:06d}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        _write_files(tmp, step, writers, info)
    except (Exception, KeyboardInterrupt):  # Ctrl-C or a failed writer: no half-written folder stays behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():  # e.g. a checkpoint of this step from an earlier, overwritten run
        old = out / f".{PREFIX}{step:06d}.old"
        os.replace(final, old)
        shutil.rmtree(old)
    os.replace(tmp, final)
    _fsync(out)
    crash_point("commit")
    for _, folder in checkpoint_folders(out)[:-keep]:
        trash = out / f".{folder.name}.old"
        os.replace(folder, trash)  # first out of sight (atomic), then deleted
        crash_point(f"retire {folder.name}")
        shutil.rmtree(trash)
    export_model(final, out)
    return final


def _write_files(tmp: Path, step: int, writers: dict[str, Callable[[Path], None]], info: dict) -> None:
    """Write and fsync every file of checkpoint `step` into the temporary folder `tmp`, then its info file."""
    crash_point("mkdir")
    hashes = {}
    for name, write in writers.items():
        write(tmp / name)
        crash_point(f"write {name}")
        _fsync(tmp / name)
        hashes[name] = _sha256(tmp / name)
    (tmp / INFO_FILE).write_text(json.dumps({**info, "step": step, "sha256": hashes}, indent=2) + "\n")
    _fsync(tmp / INFO_FILE)
    crash_point(f"write {INFO_FILE}")
    _fsync(tmp)


def staging_folder(out: Path) -> Path:
    """Where a new run lives until its first checkpoint is complete: `.<name>.w2v-new` next to `out`."""
    out = Path(os.path.realpath(out))  # a symlinked --out: swap the folder it points at
    return out.parent / f".{out.name}.w2v-new"


def _old_folder(out: Path) -> Path:
    out = Path(os.path.realpath(out))  # a symlinked --out: swap the folder it points at
    return out.parent / f".{out.name}.w2v-old"


def can_stage(out: Path) -> str | None:
    """None if `out` can be replaced by a staged run; else why not (the run then writes into `out` directly)."""
    out = Path(os.path.realpath(out))  # a symlinked --out: swap the folder it points at
    cwd = Path.cwd()
    if cwd == out or out in cwd.parents:
        return f"the current folder is inside --out {out}"
    if out.is_dir() and out.stat().st_dev != out.parent.stat().st_dev:
        return f"--out {out} is a mount point"
    return None


def recover(out: Path) -> None:
    """Before any check: if a crash fell between the two renames of a promotion (systems without an atomic
    swap), the old `out`, put aside, comes back."""
    old = _old_folder(out)
    if old.is_dir() and not Path(out).exists():
        os.replace(old, out)


def remove_stale(out: Path) -> None:
    """After the checks: delete staging and put-aside folders of killed runs (never the user's `out`)."""
    for path in (_old_folder(out), staging_folder(out)):
        if path.is_dir():
            shutil.rmtree(path)


def _rename_exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically (Linux renameat2 RENAME_EXCHANGE); False where the system can't."""
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # this file system does not swap
        return False
    raise OSError(code, os.strerror(code), str(b))


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _carry(old: Path, new: Path) -> None:
    """Put into `new` (as hard links) whatever `old` holds that is not a training artifact: the user's files."""
    replaced = set(existing_artifacts(old))
    for path in old.iterdir():
        if path.name in replaced or path.name.startswith((f".{PREFIX}", ".tmp-")) or (new / path.name).exists():
            continue
        if path.is_symlink():
            os.symlink(os.readlink(path), new / path.name)
        elif path.is_dir():
            shutil.copytree(path, new / path.name, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(path), str(new / path.name))


def promote(stage: Path, out: Path) -> None:
    """Make the complete run in `stage` the folder `out`, in one atomic step; the old `out` is then removed."""
    out = Path(os.path.realpath(out))  # a symlinked --out: swap the folder it points at
    if not out.exists():
        os.replace(stage, out)
        _fsync(out.parent)
        crash_point("promote")
        return
    _carry(out, stage)
    shutil.copymode(out, stage)
    _fsync(stage)
    crash_point("stage ready")
    if _rename_exchange(stage, out):  # now `stage` holds the old folder
        _fsync(out.parent)
        crash_point("promote")
        shutil.rmtree(stage)
        return
    old = _old_folder(out)  # no atomic swap here: two renames, and `recover` undoes a crash between them
    os.replace(out, old)
    crash_point("put aside")
    os.replace(stage, out)
    _fsync(out.parent)
    crash_point("promote")
    shutil.rmtree(old)


def export_model(folder: Path, out: Path) -> None:
    """Make the top-level model files of `out` those of checkpoint `folder`, one atomic rename each."""
    for name in MODEL_FILES:
        if (folder / name).is_file():
            _export(folder / name, out / name)
            crash_point(f"export {name}")


def _export(source: Path, target: Path) -> None:
    """Atomically make `target` a copy of `source` (a hard link when the file system allows it)."""
    if target.exists() and os.path.samefile(source, target):
        return  # already this file (renaming a hard link onto its twin would do nothing and leave `tmp`)
    tmp = target.parent / f".tmp-{target.name}"
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
        _fsync(tmp)
    os.replace(tmp, target)


@dataclass
class Resume:
    """A checkpoint validated for resuming: its folder, step, trainer state (optimizer, scheduler, RNG)
    and trainer_state.json contents."""

    folder: Path
    step: int
    state: dict
    info: dict


def _damaged(path: Path, problem: str, good: Path | None) -> ValueError:
    last = (f"the last good checkpoint is {good}: delete {path.parent.name} to resume from it"
            if good else "no earlier good checkpoint is kept: start again with --overwrite")
    return ValueError(f"cannot resume: {path} {problem}; {last}")


def _check(folder: Path) -> tuple[dict | None, str | None, Path | None]:
    """(info, problem, damaged file) of one checkpoint folder; problem is None when it is intact."""
    info_path = folder / INFO_FILE
    try:
        info = json.loads(info_path.read_text())
        hashes, step = info["sha256"], info["step"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return None, f"is missing or unreadable ({type(err).__name__}: {err})", info_path
    named = _NAME.match(folder.name)
    if not isinstance(hashes, dict) or named is None or step != int(named.group(1)):
        return None, f"does not describe step {folder.name[len(PREFIX):]}", info_path
    for name, digest in hashes.items():
        path = folder / name
        if not path.is_file():
            return None, "is missing", path
        if _sha256(path) != digest:
            return None, "is damaged (its SHA-256 differs from the one recorded when it was saved)", path
    return info, None, None


def load_checkpoint(out: Path) -> Resume:
    """The newest checkpoint of `out`, checked file by file; ValueError naming the damaged file and the
    last good checkpoint when anything is missing, truncated or from another step."""
    found = checkpoint_folders(out)
    if not found:
        legacy = f" ({STATE_FILE} at the top was written by an older w2v_lite, whose weights and state " \
                 "may be from different steps; it cannot be resumed exactly)" if (out / STATE_FILE).is_file() else ""
        raise ValueError(f"--resume: no checkpoint-N folder in {out}{legacy}; start without --resume "
                         "(add --overwrite to replace what is there)")
    checked = [(folder, *_check(folder)) for _, folder in reversed(found)]
    folder, info, problem, path = checked[0]
    good = next((f for f, _, p, _ in checked[1:] if p is None), None)
    if problem is not None:
        raise _damaged(path or folder, problem, good)
    try:
        state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    except Exception as err:
        raise _damaged(folder / STATE_FILE, f"cannot be read ({type(err).__name__})", good) from err
    if info is None or not isinstance(state, dict) or int(state.get("step", -1)) != info["step"]:
        raise _damaged(folder / STATE_FILE, "does not hold the trainer state of this step", good)
    return Resume(folder, info["step"], state, info)


def read_log(path: Path, step: int, warn: Callable[[str], None]) -> list[dict]:
    """Rows 1..`step` of log.jsonl for a resume. A partial last line (a crash while it was written) is
    dropped with a `warn`ing, rows past `step` are dropped; a gap or a damaged line in the middle raises."""
    if step == 0:
        return []
    if not path.is_file():
        raise ValueError(f"cannot resume: {path} is missing, and it should hold the rows of steps 1..{step}")
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    if lines[-1]:  # no newline at the end: the last row was cut short
        warn(f"{path}: dropped a partial last line ({len(lines[-1])} characters), written when the run stopped")
    rows = []
    for number, line in enumerate(lines[:-1], 1):
        try:
            rows.append(json.loads(line))
        except ValueError as err:
            raise ValueError(f"cannot resume: {path} line {number} is not JSON ({err}); repair or delete it "
                             "and start again with --overwrite") from err
    rows = [r for r in rows if isinstance(r, dict) and r.get("step", step + 1) <= step]
    if [r["step"] for r in rows] != list(range(1, step + 1)):
        raise ValueError(f"cannot resume: {path} does not hold exactly one row for each step 1..{step} of the "
                         "checkpoint; restore it or start again with --overwrite")
    return rows
