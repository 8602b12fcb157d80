#!/usr/bin/env bash
# One run of the results page: `mosaic train` on data/stories_all (scripts/prepare_stories.sh)
# for STEPS steps with the cosine schedule ending there, into RUN; resumed from its checkpoints
# when it has some (a finished run returns at once). A finished run's metrics.jsonl and
# config.json are copied to results/training/<run name>/, the files the docs' training numbers
# come from.
#   bash scripts/train_stories_run.sh BUILD_DIR RUN STEPS TRAIN_FLAGS...
set -euo pipefail
build="$1" run="$2" steps="$3"
shift 3
cd "$(dirname "${BASH_SOURCE[0]}")/.."
resume=()
if ls "$run"/ckpt_*.state.safetensors >/dev/null 2>&1; then resume=(--resume); fi
"$build/mosaic" train "$@" "${resume[@]}" --data_dir data/stories_all --out_dir "$run" \
  --max_iters "$steps" --lr_decay_iters "$steps" --sample_interval 0
archive="results/training/$(basename "$run")"
mkdir -p "$archive"
cp "$run/metrics.jsonl" "$run/config.json" "$archive/"
