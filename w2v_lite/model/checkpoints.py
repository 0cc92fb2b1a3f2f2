"""Checkpoints: `config.json` + `model.safetensors` (or a legacy `pytorch_model.bin`), loaded safely.

Nothing is ever unpickled as code: safetensors holds raw tensors, and `.bin` files go through
`torch.load(weights_only=True)`. Folders written by transformers' `save_pretrained` load directly.
Older checkpoints (transformers 4.x, the hub) name the positional conv's weight norm `weight_g` /
`weight_v`; transformers 5.x and torch's parametrizations use `parametrizations.weight.original0/1`.
Both are accepted.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from w2v_lite.config import Wav2Vec2Config

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_LEGACY = {".weight_g": ".parametrizations.weight.original0", ".weight_v": ".parametrizations.weight.original1"}


def _checked_folder(folder: str | Path) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"checkpoint folder {folder} does not exist; pass a folder written by save_pretrained")
    return folder


def load_config(folder: str | Path) -> Wav2Vec2Config:
    """Read `folder/config.json` (ours or transformers')."""
    return Wav2Vec2Config.load(_checked_folder(folder) / "config.json")


def load_state_dict(folder: str | Path) -> dict[str, torch.Tensor]:
    """Read the weights in `folder` safely, with legacy weight-norm keys renamed. -> {name: tensor}."""
    folder = _checked_folder(folder)
    path = next((folder / name for name in WEIGHT_FILES if (folder / name).is_file()), None)
    if path is None:
        raise ValueError(f"no weights in {folder}: expected one of {', '.join(WEIGHT_FILES)}")
    try:
        if path.suffix == ".safetensors":
            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err):  # a damaged file, not a refused one
            raise ValueError(f"cannot read weights file {path} ({str(err).splitlines()[0][:120]}); it is truncated or "
                             "not a weights file: re-download or re-save the checkpoint") from err
        # torch's text is a paragraph ending in a link; say what was refused in one line
        found = re.search(r"GLOBAL (\S+)", str(err))
        what = f" (it calls {found.group(1)})" if found else ""
        raise ValueError(f"refused to load {path}: it is a pickle that would run code when loaded{what}, and only "
                         "plain tensors are read; get the model as model.safetensors from a trusted source") from None
    except Exception as err:
        raise ValueError(f"cannot read weights file {path} ({type(err).__name__}: {str(err)[:120]}); it is "
                         "truncated or not a weights file: re-download or re-save the checkpoint") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"weights file {path} does not hold a {{name: tensor}} state dict")
    renamed = {}
    for key, value in state.items():
        for old, new in _LEGACY.items():
            if key.endswith(old):
                key = key[: -len(old)] + new
        renamed[key] = value
    return renamed


def strip_prefix(state: dict[str, torch.Tensor], prefix: str, drop: Iterable[str] = ()) -> dict[str, torch.Tensor]:
    """Remove `prefix` from keys that have it (e.g. "wav2vec2." in a pretraining or CTC checkpoint) and
    drop keys that start with any of `drop` (heads the target model does not have)."""
    drop = tuple(drop)
    out = {}
    for key, value in state.items():
        if drop and key.startswith(drop):
            continue
        out[key[len(prefix):] if key.startswith(prefix) else key] = value
    return out


def load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Copy `state` into `model`, strictly: missing or unexpected keys, or wrong shapes, raise ValueError
    listing them (instead of silently leaving random weights in place)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{source} does not fit {type(model).__name__}: missing keys {missing or 'none'}; "
            f"unexpected keys {unexpected or 'none'}. Check that the config matches the weights."
        )
    wrong = [f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if state[k].shape != v.shape]
    head = expected.get("lm_head.weight")
    if head is not None and state["lm_head.weight"].shape[0] != head.shape[0]:  # say it in words first
        raise ValueError(f"{source}: the weights' CTC head has {state['lm_head.weight'].shape[0]} outputs (tokens) but "
                         f"config.json's vocab_size is {head.shape[0]}; they must agree: correct vocab_size to "
                         f"{state['lm_head.weight'].shape[0]}, or use the config.json saved with these weights")
    if wrong:
        raise ValueError(f"{source} has tensors of the wrong shape for this config: {wrong}")
    model.load_state_dict(state, strict=True)


ModelT = TypeVar("ModelT", bound=nn.Module)


def build_from_hf(cls: type[ModelT], hf_model: nn.Module) -> ModelT:
    """`cls(config)` with a live transformers model's config and weights, strictly checked, in eval mode."""
    model = cls(Wav2Vec2Config.from_hf(hf_model.config))
    load_into(model, dict(hf_model.state_dict()), source="transformers model")
    return model.eval()


def build_from_folder(cls: type[ModelT], folder: str | Path) -> ModelT:
    """`cls(config)` with `folder`'s config.json and weights (ours or transformers'), strictly checked, in eval
    mode."""
    model = cls(load_config(folder))
    load_into(model, load_state_dict(folder), source=str(folder))
    return model.eval()


def save_pretrained(model: nn.Module, config: Wav2Vec2Config, folder: str | Path) -> Path:
    """Write `config.json` and `model.safetensors` into `folder` (created if needed).

    Each file is written to a temporary name and then renamed, so an interrupted save never leaves a
    half-written checkpoint in place of a good one.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "model.safetensors", lambda p: write_weights(model, p))
    atomic_write(folder / "config.json", config.save)
    return folder


def write_weights(model: nn.Module, path: str | Path) -> None:
    """Write `model`'s state dict to `path` as safetensors (contiguous CPU tensors)."""
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"format": "pt"})


def atomic_write(target: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` on a temporary file next to `target`, fsync it, then rename it over `target`:
    readers see the old file or the new one, never a half-written one."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".tmp-{target.name}.")
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
