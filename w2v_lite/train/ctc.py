"""CTC fine-tuning as a `loop.Task`: `w2v-lite train ctc --init {scratch | DIR} ...`.

    w2v-lite train ctc --init scratch --config tiny --data w2v_lite/assets/corpus/train \\
        --steps 1500 --out runs/ctc-scratch          # held-out CER/WER -> runs/ctc-scratch/eval.json
    w2v-lite train ctc --init w2v_lite/assets/checkpoints/pretrained-tiny --data ... --steps 1500

The shared loop (`loop.train`) does the batching, AdamW, schedule, clipping, logging, checkpoints,
resume and torchrun. This task adds:

- a character vocabulary built from the training transcripts, saved as `vocab.json` in every checkpoint
  (the model needs it to turn ids into text) and read back from the checkpoint on `--resume`;
- clips without a transcripts.tsv line are skipped with a warning before training starts;
- a `Wav2Vec2ForCTC` from scratch, from a pretrained encoder (its quantizer and projections are dropped
  and a new `lm_head` is added), or from an earlier CTC checkpoint (continued as it is);
- the conv feature encoder frozen for the first `--freeze-steps` steps, then trainable;
- `--augment`: every training clip gets a random delay/trim, speed change, room reverberation, white, pink
  or babble noise, clipping and telephone band (`w2v_lite.data.augment.Augment`); `--augment wide` adds formant
  shifts and microphone colour, `--augment vocode` a new voice source; drawn from the torch RNG that
  checkpoints save, so resumes stay exact;
- CER / WER of greedy decoding on held-out voices (`--eval-data`, default: the `test` folder next to
  `--data`) at the end, and every `--eval-every` steps into log.jsonl.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from w2v_lite.asr.metrics import cer, wer
from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data.augment import AUGMENT_PRESETS, Augment
from w2v_lite.data.dataset import AudioFolder, Clip, read_transcripts
from w2v_lite.data.tokenizer import VOCAB_FILE, CharTokenizer
from w2v_lite.model import checkpoints
from w2v_lite.model.ctc import Wav2Vec2ForCTC, required_frames
from w2v_lite.train.loop import Task, require_int, waveform_batch

__all__ = ["CTC_DEFAULTS", "CTCTask", "evaluate_ctc"]

# Fine-tuning defaults applied before the user's --set overrides (which win): the per-token mean loss keeps
# the gradient scale independent of batch and label size; zero_infinity keeps one unalignable clip from
# stopping the run; mask-aware GroupNorm makes a clip's features independent of its batch's padding,
# so training batches and single-clip inference see the same statistics.
CTC_DEFAULTS = {"ctc_loss_reduction": "mean", "ctc_zero_infinity": True, "mask_aware_group_norm": True,
                "mask_time_prob": 0.05, "mask_time_length": 5, "mask_time_min_masks": 1, "layerdrop": 0.0}


class CTCTask(Task):
    """Character CTC on a folder of clips with `transcripts.tsv`; CER/WER on held-out clips."""

    name = "ctc"
    # frozen conv parameters get no gradient in the first steps; DDP must tolerate that
    find_unused_parameters = True
    needs_transcripts = True

    def __init__(self, tokenizer: CharTokenizer | None, freeze_steps: int = 0, eval_data: Path | None = None,
                 eval_every: int = 0, augment: Augment | None = None) -> None:
        freeze_steps, eval_every = require_int("--freeze-steps", freeze_steps, 0), require_int("--eval-every",
                                                                                              eval_every, 0)
        self._given = tokenizer  # None: the vocabulary comes from the checkpoint on resume (`restore`)
        self.freeze_steps = freeze_steps
        self.eval_every = eval_every
        self.eval_data = eval_data
        self.augment = augment
        self._eval_clips: list[Clip] | None = None

    def restore(self, folder: Path) -> None:
        """On resume: the vocabulary is the checkpoint's (a different one would not fit its lm_head)."""
        saved = CharTokenizer.load(folder)
        if self._given is not None and self._given.vocab != saved.vocab:
            raise ValueError(f"{folder / VOCAB_FILE} differs from the vocabulary given; resume with the checkpoint's")
        self._given = saved

    def exact_settings(self) -> dict[str, object]:
        """When the conv stack thaws and whether clips are augmented change the run: a resume must keep them."""
        # True / False for the default recipe and none, as checkpoints before the presets recorded them
        name = next((k for k, v in AUGMENT_PRESETS.items() if v == self.augment), None)
        if self.augment is None or name == "default":
            return {"freeze_steps": self.freeze_steps, "augment": self.augment is not None}
        return {"freeze_steps": self.freeze_steps, "augment": name or str(self.augment)}

    @property
    def tokenizer(self) -> CharTokenizer:
        """The vocabulary: built from --data's transcripts, or the checkpoint's on resume."""
        if self._given is None:
            raise ValueError("no vocabulary: give a tokenizer, or resume from a checkpoint that has vocab.json")
        return self._given

    def check_data(self, data: AudioFolder, config: Wav2Vec2Config) -> None:
        """Every transcript must be spelt with the vocabulary's characters; the evaluation folder must load."""
        known = set(self.tokenizer.vocab) | {" "}
        for clip in data.clips:
            unknown = sorted(set(" ".join((clip.text or "").split())) - known)
            if unknown:
                raise ValueError(f"the transcript of {clip.path.name} uses characters {unknown} that are not in the "
                                 "vocabulary of the checkpoint; resume only on data with the same characters")
        if self.eval_data is not None and self._eval_clips is None:
            self._eval_clips = AudioFolder(self.eval_data, min_samples=self.min_samples(config),
                                           require_text=True).clips

    def checkpoint_files(self) -> dict:
        """vocab.json next to the weights of every checkpoint."""
        return {VOCAB_FILE: lambda path: self.tokenizer.save(path.parent)}

    def build_model(self, config: Wav2Vec2Config, init: Path | None) -> nn.Module:
        """Scratch (`init` None), a pretrained encoder + new head, or a CTC checkpoint (has vocab.json)."""
        config = config.replace(vocab_size=self.tokenizer.vocab_size, pad_token_id=self.tokenizer.pad_token_id)
        model = Wav2Vec2ForCTC(config)
        if init is None:
            return model
        if (Path(init) / VOCAB_FILE).is_file():  # an earlier CTC run: keep its head and vocabulary
            if CharTokenizer.load(init).vocab != self.tokenizer.vocab:
                raise ValueError(f"{init}/vocab.json differs from the vocabulary of --data; fine-tune a CTC "
                                 "checkpoint only on data with the same characters, or start from its encoder")
            checkpoints.load_into(model, checkpoints.load_state_dict(init), source=str(init))
        else:  # a pretraining (or bare encoder) checkpoint: the encoder only, with a new head
            model.load_encoder(init)
        return model

    def make_batch(self, clips: list[Clip]) -> dict[str, torch.Tensor]:
        """Padded normalised waveforms, sample_lengths, and (B, U) labels padded with -100 (augmented if asked)."""
        missing = [c.path.name for c in clips if c.text is None]
        if missing:
            raise ValueError(f"clips {missing} have no transcript; list them in transcripts.tsv")
        if self.augment is not None:
            # one numpy generator per batch, seeded from torch's RNG: the trainer saves and restores that
            rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))
            # babble comes from the batch's other clips (their clean waveforms)
            clips = [Clip(c.path, self.augment(c.waveform, rng, [o.waveform for o in clips if o is not c]), c.text)
                     for c in clips]
        texts = [c.text or "" for c in clips]  # every text is set (checked above); `or ""` is for the type checker
        return {**waveform_batch(clips), "labels": self.tokenizer.pad_labels(texts)}

    def step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Forward with labels -> (CTC loss, {frames, tokens, share of clips with an impossible label})."""
        out = model(**batch)
        tokens = (batch["labels"] >= 0).sum(-1)
        needed = required_frames(batch["labels"].cpu()).to(out.frame_lengths.device)
        too_short = (needed > out.frame_lengths).float().mean()  # clips whose loss zero_infinity zeroes
        return out.loss, {"frames": float(out.frame_lengths.sum()), "tokens": float(tokens.sum()),
                          "too_short": float(too_short)}

    def on_step(self, model: nn.Module, step: int) -> dict[str, float]:
        """Freeze the conv stack before step `freeze_steps`, unfreeze it from then on; evaluate now and then."""
        frozen = step < self.freeze_steps
        ctc = cast(Wav2Vec2ForCTC, model)  # the model build_model made
        if frozen:
            ctc.freeze_feature_encoder()
        else:
            ctc.unfreeze_feature_encoder()
        row = {"conv_frozen": float(frozen)}
        if self.eval_every and step > 0 and step % self.eval_every == 0 and self.eval_data is not None:
            start = time.perf_counter()
            model.eval()
            try:
                row.update({f"eval_{k}": v for k, v in self.evaluate(model).items()})
            finally:
                model.train()
            row["eval_seconds"] = time.perf_counter() - start
        return row

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """CER and WER of greedy decoding on `eval_data` (one clip at a time, unpadded)."""
        if self.eval_data is None:
            return {}
        ctc = cast(Wav2Vec2ForCTC, model)  # the model build_model made
        if self._eval_clips is None:
            self._eval_clips = AudioFolder(self.eval_data, min_samples=self.min_samples(ctc.config),
                                           require_text=True).clips
        return evaluate_ctc(ctc, self.tokenizer, self._eval_clips)


@torch.no_grad()
def evaluate_ctc(model: Wav2Vec2ForCTC, tokenizer: CharTokenizer, clips: Sequence[Clip]) -> dict[str, float]:
    """Greedy-decode every clip and score against its transcript -> {cer, wer, clips, exact}."""
    refs, hyps = [], []
    recognizer = Recognizer(model, tokenizer)  # fed as in training: each clip normalised on its own
    for clip in clips:
        if clip.text is None:
            raise ValueError(f"{clip.path} has no transcript; evaluation needs transcripts.tsv")
        refs.append(clip.text)
        hyps.append(recognizer.transcribe(clip.waveform).text)
    exact = sum(r == h for r, h in zip(refs, hyps, strict=True)) / len(refs)
    return {"cer": cer(refs, hyps), "wer": wer(refs, hyps), "clips": float(len(refs)), "exact": exact}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--freeze-steps", type=int, default=100,
                        help="keep the conv feature encoder frozen for this many first steps")
    parser.add_argument("--eval-data", type=Path, default=None,
                        help="held-out folder with transcripts.tsv (default: 'test' next to --data)")
    parser.add_argument("--eval-every", type=int, default=0, help="also log held-out CER/WER every N steps")
    parser.add_argument("--augment", nargs="?", const="default", default=None, choices=sorted(AUGMENT_PRESETS),
                        help="random delay/trim, speed (0.8-1.3x), reverb, white/pink/babble noise, clipping and "
                             "telephone band (8/11 kHz) on training clips (data/augment.py); --augment wide also "
                             "shifts formants and colours the microphone, --augment vocode gives a new voice "
                             "source")
    parser.set_defaults(lr=3e-3, feature_grad_mult=1.0, batch_seconds=16.0)


def make_task(args: argparse.Namespace) -> CTCTask:
    """Parsed CLI args -> CTCTask. Resolves `--init scratch` (random init; config default tiny), adds the
    fine-tuning config defaults in front of --set, and builds the vocabulary from --data's transcripts (nothing
    is written here: vocab.json goes into each checkpoint)."""
    if args.init is None:
        raise ValueError("ctc needs --init scratch (random init) or --init PRETRAINED_DIR")
    if args.max_seconds is not None:  # a cropped clip no longer says its whole transcript
        raise ValueError("--max-seconds crops clips, which breaks their transcripts; CTC trains on whole clips")
    if str(args.init) == "scratch":
        args.init = None
        args.config = args.config or "tiny"
    elif not Path(args.init).is_dir():
        raise ValueError(f"--init {args.init}: no such checkpoint folder (or say --init scratch)")
    args.overrides = [f"{k}={json.dumps(v)}" for k, v in CTC_DEFAULTS.items()] + list(args.overrides)
    tokenizer = None  # on --resume the checkpoint's vocab.json is used (CTCTask.restore)
    if not args.resume:
        table = Path(args.data) / "transcripts.tsv"
        texts = read_transcripts(table)
        if not texts:
            raise ValueError(f"no transcripts in {table}; CTC training needs 'file<TAB>text' lines")
        tokenizer = CharTokenizer.from_transcripts(texts.values())
    eval_data = args.eval_data
    if eval_data is None and (Path(args.data).parent / "test" / "transcripts.tsv").is_file():
        eval_data = Path(args.data).parent / "test"
    return CTCTask(tokenizer, args.freeze_steps, eval_data, args.eval_every,
                   AUGMENT_PRESETS[args.augment] if args.augment else None)

