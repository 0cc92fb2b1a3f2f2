#!/usr/bin/env bash
# Re-create the committed pretraining checkpoint w2v_lite/assets/checkpoints/pretrained-tiny/ (CPU, ~10 min).
# One thread: the tiny model gains nothing from more, and on a shared machine spinning threads slow it down.
# The run writes runs/pretrain-tiny/ (weights, optimizer state, log.jsonl, eval.json); only config.json and
# model.safetensors are committed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT:-runs/pretrain-tiny}

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
nice "$PYTHON" -m w2v_lite train pretrain --config tiny --set mask_aware_group_norm=true \
    --data w2v_lite/assets/corpus/train --eval-data w2v_lite/assets/corpus/test \
    --steps 3500 --batch-seconds 4 --lr 2e-3 --temp-decay 0.995 --seed 0 --out "$OUT"

mkdir -p w2v_lite/assets/checkpoints/pretrained-tiny
cp "$OUT/config.json" "$OUT/model.safetensors" w2v_lite/assets/checkpoints/pretrained-tiny/
