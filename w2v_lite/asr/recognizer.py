"""The inference object: a `Recognizer` owns a CTC model, its vocabulary, its audio preprocessing and the
chunk policy, and is the one way to run a model on audio.

    Recognizer.load(folder | Hub id)                  the one loader (`asr.pretrained` reads the folder)
    rec.emissions(waveform (L,))                   -> logits (T, V), T = output_lengths(L)
    rec.emissions([waveforms])                     -> B logits (T_b, V), one padded forward
    rec.transcribe(waveform | path | [...])        -> Transcript | [Transcript]: text, words, frame path
    rec.align(waveform | path, "what it says")     -> Alignment: words with times (forced alignment)

    waveform or file -> audio.load (at the model's rate, mono) -> check_clip -> preprocessing (normalise) ->
      model (in windows above CHUNK_ABOVE_SECONDS) -> logits (T, V) -> decoder -> frame path (T ids) ->
      tokenizer.decode (collapse repeats, drop blanks) -> text;  path -> words with [start, end) times

Two things plug in. The *decoder* is any ``logits (T, V) -> ids`` function (`asr.decoding`; greedy by
default): a frame path of T ids, or the text's token ids (fewer than T, as a beam search gives), which are
force-aligned to get the frames and word times. The *model* is anything with a `.config` that is called as
``model(input_values (B, L), attention_mask=None)`` and returns an object with ``.logits`` (B, T, V):
`Wav2Vec2ForCTC`, or an exported graph behind the same call.

Frame t covers samples ``[t * hop, t * hop + window)`` with (window, hop) = `lengths.receptive_field(config)`,
at the model's own `config.sampling_rate`: 20 ms per frame at 16 kHz, 40 ms for a model trained at 8 kHz.
A list of clips from a model that ignores padding (layer norm with a mask, or the mask-aware GroupNorm) runs
in length-sorted padded batches; any other model (a published group-norm base checkpoint) gets one clip at
a time, so a clip's text never depends on the others.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, overload

import torch
from torch.nn import functional as F
from tqdm import tqdm

from w2v_lite.asr.alignment import Alignment, WordSpan, align_logits, check_transcript, forced_align, word_spans
from w2v_lite.asr.chunking import (
    CHUNK_ABOVE_SECONDS,
    CHUNK_SECONDS,
    MIN_CHUNK_SECONDS,
    STRIDE_SECONDS,
    encode_chunked,
)
from w2v_lite.asr.decoding import Decoder, greedy
from w2v_lite.asr.pretrained import DEFAULT_MODEL_DIR, Preprocessing, load_checkpoint
from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data.audio import duration, load, normalize, pad_batch
from w2v_lite.data.tokenizer import CharTokenizer
from w2v_lite.errors import UsageError, naming
from w2v_lite.lengths import frame_start_seconds, output_lengths, receptive_field, require_frames

__all__ = ["BATCH_SECONDS", "CTCModel", "FrameStep", "Recognizer", "Transcript"]

BATCH_SECONDS = 60.0  # padded audio per batch (B x longest clip), for models that ignore padding
Audio = torch.Tensor | str | os.PathLike[str]  # one clip: a waveform (L,) at the model's rate, or a file


class CTCModel(Protocol):
    """What a `Recognizer` needs of its model: a config, and ``model(x, attention_mask=None).logits``."""

    config: Wav2Vec2Config

    def __call__(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None) -> Any: ...


@dataclass
class FrameStep:
    """One frame of the path: its index, time span in ms and token ("<pad>" = blank)."""

    frame: int
    start_ms: float
    end_ms: float
    token: str
    token_id: int


@dataclass
class Transcript:
    """What `Recognizer.transcribe` returns per clip: the text, the words with times and the frame path.
    A clip that failed (with ``on_error="keep"``) has `error` set and no text. `path` is the file, or None
    for a waveform."""

    path: str | None
    text: str
    num_samples: int  # at the model's sampling rate, after resampling
    num_frames: int
    frames: list[FrameStep] = field(default_factory=list, repr=False)  # the frame path, T steps
    words: list[WordSpan] = field(default_factory=list, repr=False)
    error: str | None = None

    def as_dict(self, frames: bool = False) -> dict:
        """The --json form: {"file", "text", "words": [{"word", "start", "end"}]} (times in seconds), plus
        with `frames` (--frames) "frames": [{"frame", "start_ms", "end_ms", "token"}], the frame path."""
        if self.error is not None:
            return {"file": self.path, "error": self.error}
        out = {"file": self.path, "text": self.text, "words": [w.as_dict() for w in self.words]}
        if frames:  # asked for (--frames): the frame path, one entry per frame
            out["frames"] = [{"frame": f.frame, "start_ms": round(f.start_ms, 3), "end_ms": round(f.end_ms, 3),
                              "token": f.token} for f in self.frames]
        return out


@dataclass
class Recognizer:
    """A CTC model ready to turn audio into text (see the module docstring). `Recognizer.load(folder)` reads
    a checkpoint; ``Recognizer(model, tokenizer)`` wraps a model in memory, fed as w2v_lite trains."""

    model: CTCModel = field(repr=False)  # repr: the source and preprocessing say enough
    tokenizer: CharTokenizer = field(repr=False)
    preprocessing: Preprocessing | None = None  # None: `Preprocessing.ours(model.config)`
    decoder: Decoder = greedy
    source: str = ""

    def __post_init__(self) -> None:
        if self.preprocessing is None:
            self.preprocessing = Preprocessing.ours(self.model.config)

    @classmethod
    def load(
        cls, source: str | os.PathLike[str] = DEFAULT_MODEL_DIR, decoder: Decoder = greedy, fast: bool = False,
        backend: str = "torch",
    ) -> Recognizer:
        """The one loader: a checkpoint folder (ours or transformers' `save_pretrained`, see
        `asr.pretrained`) or a Hub id -> `Recognizer` (model in eval mode). `fast=True` runs int8 Linear
        layers (`optimize_for_inference`): faster, outputs move slightly. ``backend="onnxruntime"`` runs the
        exported graph in ONNX Runtime (exact in fp32; int8 MatMuls with `fast`; needs the `fast` extra).
        ValueError when it can't."""
        model, tokenizer, preprocessing = load_checkpoint(source)
        quantize = "int8" if fast else None
        run: CTCModel = model
        if backend == "onnxruntime":
            run = model.optimize_for_inference(quantize=quantize, backend="onnxruntime")
        elif backend != "torch":
            raise UsageError(f"backend must be 'torch' or 'onnxruntime', got {backend!r}")
        elif fast:
            run = model.optimize_for_inference(quantize="int8")
        return cls(run, tokenizer, preprocessing, decoder, str(source))

    # ---- what the model and its config say --------------------------------------------------------------

    @property
    def config(self) -> Wav2Vec2Config:
        """The model's config (rates, conv stack, vocabulary size)."""
        return self.model.config

    @property
    def sampling_rate(self) -> int:
        """Samples per second the model expects; files are resampled to it."""
        return self.config.sampling_rate

    @property
    def hop_seconds(self) -> float:
        """Seconds between frame starts (0.02 for the wav2vec 2.0 conv stack at 16 kHz). Word times are
        frame starts, the package's one convention (`lengths.frame_start_seconds`)."""
        return frame_start_seconds(1, self.config)

    @property
    def ignores_padding(self) -> bool:
        """Whether a clip's outputs in a padded batch equal its outputs alone (so batching is safe)."""
        cfg = self.config
        return self._preprocessing.return_attention_mask and cfg.ignores_padding

    @property
    def _preprocessing(self) -> Preprocessing:
        assert self.preprocessing is not None  # set in __post_init__
        return self.preprocessing

    def with_decoder(self, decoder: Decoder) -> Recognizer:
        """The same model and vocabulary with another decoder (e.g. a beam search)."""
        return dataclasses.replace(self, decoder=decoder)

    # ---- running the model ------------------------------------------------------------------------------

    def check_clip(self, waveform: object) -> torch.Tensor:
        """A float (L,) tensor long enough for one frame, as float32; TypeError / ValueError saying why not."""
        if not isinstance(waveform, torch.Tensor):
            raise TypeError(f"waveform must be a torch.Tensor (L,) at {self.sampling_rate} Hz, got "
                            f"{type(waveform).__name__}; read files with w2v_lite.data.audio.load")
        if waveform.dim() != 1 or not waveform.is_floating_point():
            raise ValueError(f"waveform must be one mono float clip (L,), got {waveform.dtype} "
                             f"{tuple(waveform.shape)}")
        require_frames(int(waveform.numel()), self.config)
        return waveform.float()

    def read(self, audio: Audio) -> torch.Tensor:
        """A file (read at the model's rate, mixed to mono) or a waveform -> a checked float (L,) clip."""
        if isinstance(audio, (str, os.PathLike)):
            audio = load(audio, sampling_rate=self.sampling_rate)
        return self.check_clip(audio)

    @overload
    def emissions(self, waveform: torch.Tensor, chunk_seconds: float | None = None) -> torch.Tensor: ...

    @overload
    def emissions(self, waveform: Sequence[torch.Tensor], chunk_seconds: float | None = None) -> list[torch.Tensor]: ...

    @torch.no_grad()
    def emissions(
        self, waveform: torch.Tensor | Sequence[torch.Tensor], chunk_seconds: float | None = None
    ) -> torch.Tensor | list[torch.Tensor]:
        """One clip (L,) -> logits (T, V) on the CPU, T = output_lengths(L), fed as the checkpoint's processor
        says; a list of clips -> a list of logits (T_b, V).

        A clip longer than `CHUNK_ABOVE_SECONDS` (or any clip, when `chunk_seconds` is given) is encoded in
        windows of `chunk_seconds` (default 20 s, 1.3 s of context each side; `asr.chunking`), so memory
        stays bounded; normalisation (when the processor asks for it) uses the whole clip's statistics.
        A list runs as one zero-padded batch (each clip normalised on its own first, with the attention
        mask when the processor passes one), as transformers does: only models that `ignores_padding`
        give the same result as one clip at a time. Long clips of a list (or all, with `chunk_seconds`)
        are encoded on their own, in windows.
        """
        if isinstance(waveform, torch.Tensor):
            return self._clip_emissions(self.check_clip(waveform), self._window(waveform.numel(), chunk_seconds))
        if not isinstance(waveform, Sequence) or isinstance(waveform, str):
            raise TypeError(f"emissions takes a waveform tensor (L,) or a list of them, got {type(waveform).__name__}")
        clips = [self.check_clip(w) for w in waveform]
        windows = [self._window(c.numel(), chunk_seconds) for c in clips]
        out: dict[int, torch.Tensor] = {i: self._clip_emissions(c, w)
                                        for i, (c, w) in enumerate(zip(clips, windows, strict=True)) if w}
        rest = [i for i in range(len(clips)) if i not in out]
        if rest:
            out.update(zip(rest, self._batch_emissions([clips[i] for i in rest]), strict=True))
        return [out[i] for i in range(len(clips))]

    def _window(self, num_samples: int, chunk_seconds: float | None) -> tuple[float, float] | None:
        """The chunk policy: (window, stride) seconds for a clip of `num_samples`, or None for one pass."""
        if chunk_seconds is None:
            if num_samples <= CHUNK_ABOVE_SECONDS * self.sampling_rate:
                return None
            chunk_seconds = CHUNK_SECONDS
        if not MIN_CHUNK_SECONDS <= chunk_seconds < float("inf"):
            raise UsageError(f"chunk_seconds must be at least {MIN_CHUNK_SECONDS:g} s (each window needs context; "
                             f"the default is {CHUNK_SECONDS:g} s) and finite, got {chunk_seconds}")
        return chunk_seconds, min(STRIDE_SECONDS, chunk_seconds / 10)

    def _device(self) -> torch.device:
        """Where the model's weights are (the CPU for a model without torch parameters)."""
        parameters = getattr(self.model, "parameters", None)
        first = next(iter(parameters()), None) if callable(parameters) else None
        return first.device if isinstance(first, torch.Tensor) else torch.device("cpu")

    def _logits(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L) input values -> (B, T, V) float32 logits on the CPU; the model runs in eval mode."""
        if isinstance(self.model, torch.nn.Module):
            self.model.eval()  # a model handed over from training may still be in train mode
        device = self._device()
        mask = attention_mask.to(device) if attention_mask is not None else None
        return self.model(x.to(device), attention_mask=mask).logits.float().cpu()

    def _clip_emissions(self, clip: torch.Tensor, window: tuple[float, float] | None) -> torch.Tensor:
        """One checked clip (L,) -> logits (T, V), in one pass or in (window, stride) windows."""
        if self._preprocessing.do_normalize:
            clip = normalize(clip[None])[0]
        if window is None:
            return self._logits(clip[None])[0]
        return encode_chunked(self.model, clip, *window, forward=self._logits).float()

    def _batch_emissions(self, clips: list[torch.Tensor]) -> list[torch.Tensor]:
        """B checked clips -> B logits (T_b, V) from one right-padded forward pass."""
        batch = pad_batch(clips)
        x = batch.input_values
        if self._preprocessing.do_normalize:
            x = normalize(x, batch.sample_lengths)
        mask = batch.attention_mask if self._preprocessing.return_attention_mask else None
        logits = self._logits(x, mask)
        frame_lengths = output_lengths(batch.sample_lengths, self.config)
        return [logits[b, : int(n)] for b, n in enumerate(frame_lengths)]

    # ---- logits -> text ---------------------------------------------------------------------------------

    def frame_path(self, logits: torch.Tensor) -> list[int]:
        """One clip's logits (T, V) -> its frame path (T ids) from the decoder: as given when the decoder
        returns T ids, else the best path that spells the ids it returned (forced alignment)."""
        ids = [int(i) for i in self.decoder(logits)]
        frames, blank = logits.shape[0], self.tokenizer.pad_token_id
        if len(ids) == frames:
            return ids
        if len(ids) > frames:
            raise ValueError(f"the decoder returned {len(ids)} ids for {frames} frames; a decoder returns a "
                             "frame path (one id per frame) or the text's token ids (fewer)")
        if not ids:
            return [blank] * frames
        return forced_align(F.log_softmax(logits.double(), dim=-1), ids, blank)[0]

    def frame_steps(self, path: Sequence[int]) -> list[FrameStep]:
        """Frame path (T ids) -> T `FrameStep`s with times from the receptive field (window, hop)."""
        window, hop = receptive_field(self.config)
        ms = 1000 / self.sampling_rate
        return [FrameStep(t, t * hop * ms, (t * hop + window) * ms, self.tokenizer.id_to_token[i], i)
                for t, i in enumerate(path)]

    def decode(self, logits: torch.Tensor, num_samples: int, name: str | None = None) -> Transcript:
        """One clip's logits (T, V) -> `Transcript` (text, words with times, frame path)."""
        path = self.frame_path(logits)
        return Transcript(name, self.tokenizer.decode(path), num_samples, len(path), self.frame_steps(path),
                          word_spans(path, self.tokenizer, self.hop_seconds))

    # ---- audio -> text ----------------------------------------------------------------------------------

    @overload
    def transcribe(  # type: ignore[overload-overlap]  # a str is a Sequence too; it is one file here
        self, audio: Audio, chunk_seconds: float | None = None, batched: bool = True, on_error: str = "raise",
        progress: bool | None = False) -> Transcript: ...

    @overload
    def transcribe(self, audio: Sequence[Audio], chunk_seconds: float | None = None, batched: bool = True,
                   on_error: str = "raise", progress: bool | None = False) -> list[Transcript]: ...

    def transcribe(
        self,
        audio: Audio | Sequence[Audio],
        chunk_seconds: float | None = None,
        batched: bool = True,
        on_error: str = "raise",
        progress: bool | None = False,
    ) -> Transcript | list[Transcript]:
        """A waveform (L,) at the model's rate or an audio file (any rate, mono or stereo) -> `Transcript`;
        a list of them -> one `Transcript` each, in the given order.

        Clips above 40 s are encoded in windows (`chunk_seconds` forces windows of that length). A list
        runs in length-sorted padded batches when the model `ignores_padding` (`batched=False`: one at a
        time). A file that is missing, unreadable or shorter than one frame raises ValueError /
        FileNotFoundError naming it, or with ``on_error="keep"`` gives a `Transcript` whose `error` says
        why. `progress=True` shows a bar on stderr; None shows it for more than 4 clips or a minute of audio.
        """
        single = isinstance(audio, (torch.Tensor, str, os.PathLike))
        items: list[Audio] = [audio] if single else _as_list(audio)  # type: ignore[list-item]
        if on_error not in ("raise", "keep"):
            raise ValueError(f"on_error must be 'raise' or 'keep', got {on_error!r}")
        if chunk_seconds is not None:
            self._window(0, chunk_seconds)  # refuse a bad window before any work
        names = _names(items, single)
        batch = batched and self.ignores_padding and chunk_seconds is None
        seconds = self._durations(items) if batch or progress is None else []  # each header read once
        show = progress if progress is not None else len(items) > 4 or sum(seconds) > 60
        results: dict[int, Transcript] = {}
        with tqdm(total=len(items), desc="transcribe", unit="file", disable=not show, file=sys.stderr) as bar:
            for group in _groups(seconds) if batch else ([i] for i in range(len(items))):
                done = self._transcribe_group([items[i] for i in group], [names[i] for i in group],
                                              chunk_seconds, on_error)
                results.update(zip(group, done, strict=True))
                bar.update(len(group))
        return results[0] if single else [results[i] for i in range(len(items))]

    def _durations(self, items: list[Audio]) -> list[float]:
        """Seconds of audio per item: a waveform's length, a file's header (read once here; 0 when
        unreadable, and reading it later says why)."""
        return [a.numel() / self.sampling_rate if isinstance(a, torch.Tensor) else _file_seconds(Path(a))
                for a in items]

    def _transcribe_group(self, items: list[Audio], names: list[str | None], chunk_seconds: float | None,
                          on_error: str) -> list[Transcript]:
        """One batch (or one clip): read and check each, run the good ones together, decode each."""
        paths = [None if isinstance(a, torch.Tensor) else str(a) for a in items]  # Transcript.path
        clips: dict[int, torch.Tensor] = {}
        failed: dict[int, Transcript] = {}
        for k, item in enumerate(items):
            try:
                clips[k] = self.read(item)  # checked here so that one bad clip does not sink its batch
            except (ValueError, OSError) as err:
                name = names[k]
                if on_error == "raise":
                    raise (err if name is None else naming(err, name)) from err
                failed[k] = Transcript(paths[k], "", 0, 0, error=str(err))
        logits = self.emissions(list(clips.values()), chunk_seconds) if len(clips) > 1 else \
            [self.emissions(c, chunk_seconds) for c in clips.values()]
        done = {k: self.decode(lg, int(clips[k].numel()), paths[k]) for k, lg in zip(clips, logits, strict=True)}
        return [done[k] if k in done else failed[k] for k in range(len(items))]

    def align(self, audio: Audio, transcript: str, chunk_seconds: float | None = None,
              warn: bool = True) -> Alignment:
        """A waveform (L,) at the model's rate or an audio file + what it says -> `Alignment` (words with
        times, tokens, frame path): the best CTC path that spells the transcript (Viterbi).

        Characters the vocabulary lacks raise ValueError naming them (an <unk> has nothing to align to), as
        does audio too short for the transcript; errors about a file name it. The words keep the
        transcript's spelling and case. Each word and the clip get scores against the greedy path; when the
        result should not be trusted (silence, a clip too short for the transcript, a mismatch) a UserWarning
        says why, unless `warn=False` (`Alignment.warning` says it either way).
        """
        name = str(audio) if isinstance(audio, (str, os.PathLike)) else None
        try:
            clip = self.read(audio)
            check_transcript(transcript, self.tokenizer)  # before running the model
            return align_logits(self.emissions(clip, chunk_seconds), transcript, self.tokenizer, self.hop_seconds,
                                clip, self.model.config.sampling_rate, warn)
        except ValueError as err:
            if name is None:
                raise
            raise naming(err, name) from err


def _as_list(audio: object) -> list[Audio]:
    """A sequence of waveforms / paths as a list; TypeError for anything else, ValueError when empty."""
    if not isinstance(audio, Sequence):
        raise TypeError(f"transcribe takes a waveform tensor (L,), an audio file path or a list of them, "
                        f"got {type(audio).__name__}")
    items = list(audio)
    if not items:
        raise ValueError("no audio files given; pass at least one path")
    wrong = [type(a).__name__ for a in items if not isinstance(a, (torch.Tensor, str, os.PathLike))]
    if wrong:
        raise TypeError(f"transcribe takes waveform tensors (L,) and audio file paths, got {wrong[0]}")
    return items


def _names(items: list[Audio], single: bool) -> list[str | None]:
    """What errors call each item: the file's path, "waveform i" in a list, nothing for one waveform."""
    return [str(a) if not isinstance(a, torch.Tensor) else None if single else f"waveform {i}"
            for i, a in enumerate(items)]


def _file_seconds(path: Path) -> float:
    """Seconds of audio in a file, from its header (0 when unreadable, or a FIFO / pipe that can be read only
    once: `load` then reads it or says why)."""
    return duration(path)


def _groups(seconds: list[float]) -> Iterator[list[int]]:
    """Indices of clips of these durations in the order to run them: length-sorted groups whose padded
    size (B x longest) stays under BATCH_SECONDS; unreadable and long (chunked) clips alone."""
    group: list[int] = []
    for i in sorted(range(len(seconds)), key=lambda i: seconds[i]):
        if seconds[i] == 0.0 or seconds[i] > CHUNK_ABOVE_SECONDS:  # unreadable, or chunked alone
            yield [i]
            continue
        if group and seconds[i] * (len(group) + 1) > BATCH_SECONDS:
            yield group
            group = []
        group.append(i)
    if group:
        yield group
