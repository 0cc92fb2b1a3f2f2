#!/usr/bin/env bash
# Re-create the committed CTC checkpoint w2v_lite/assets/checkpoints/ctc-tiny/ (one core: 3000 steps, 19.7 min of CPU time quiet).
# Starts from pretrained-tiny; trains on corpus/train + extra (espeak-ng) + engines (flite, festival), all committed, made by
# scripts/make_corpus.py, with --augment (delay/trim, speed, reverb, white/pink/babble noise, clipping, telephone
# band; w2v_lite/data/augment.py). The run writes runs/ctc-tiny/;
# only config.json, model.safetensors and vocab.json are committed. Then:
#     python benchmarks/eval_recognizer.py --model runs/ctc-tiny     # CER/WER per condition
# The wide recipe (benchmarks/README.md, "Other synthesisers"; not the committed one) adds festival's accented
# voices and formant shifts with microphone colour:
#     INSTALL=0 OUT=runs/ctc-tiny-wide SPLITS="train extra engines accents" AUGMENT=wide scripts/train_ctc_tiny.sh
# and the vocode recipe (not committed either) SVOX Pico's voices and a new voice source:
#     INSTALL=0 OUT=runs/ctc-all-vocode SPLITS="train extra engines accents pico" AUGMENT=vocode scripts/train_ctc_tiny.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT:-runs/ctc-tiny}
STEPS=${STEPS:-3000}
DATA=${DATA:-runs/ctc-data}
SPLITS=${SPLITS:-"train extra engines"}  # corpus splits to train on
AUGMENT=${AUGMENT:-default}  # --augment preset: default, wide or vocode
CORPUS=w2v_lite/assets/corpus

# one training folder: train/ and extra/ side by side, one transcripts.tsv with their relative names
rm -rf "$DATA" && mkdir -p "$DATA"
for split in $SPLITS; do
    cp -r "$CORPUS/$split" "$DATA/$split" && rm "$DATA/$split/transcripts.tsv"
    sed "s|^|$split/|" "$CORPUS/$split/transcripts.tsv" >> "$DATA/transcripts.tsv"
done

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # one thread: fastest on a shared 2-core CPU, and deterministic
nice "$PYTHON" -m w2v_lite train ctc --init w2v_lite/assets/checkpoints/pretrained-tiny \
    --data "$DATA" --eval-data "$CORPUS/test" --augment "$AUGMENT" --steps "$STEPS" --seed 0 --out "$OUT" \
    --no-progress "$@"

[ "${INSTALL:-1}" = 1 ] || exit 0  # INSTALL=0: train only, keep the committed checkpoint
mkdir -p w2v_lite/assets/checkpoints/ctc-tiny
cp "$OUT/config.json" "$OUT/model.safetensors" "$OUT/vocab.json" w2v_lite/assets/checkpoints/ctc-tiny/
