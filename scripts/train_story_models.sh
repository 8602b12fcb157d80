#!/usr/bin/env bash
# The four story models that the results page compares, all of one size (d 128, 4 layers,
# 4 heads, context 128, configs/tinystories_{mosaic,gpt}.json) and trained alike on all the
# stories of ../shared/data/tinystories (train.txt and extra_maxme1.txt; valid.txt held out):
# runs/ood_mosaic (Memory Mosaic), runs/ood_gpt (GPT, learned positions), runs/ood_gpt_rope
# and runs/ood_gpt_alibi (the same GPT with RoPE or ALiBi instead); on request Memory Mosaics
# v2 (runs/ood_mosaic_v2, configs/tinystories_mosaic_v2.json) and its ablations, each one flag:
# v2_no_long (no long-term memory), v2_fixed_m (the delay fixed at its inference value),
# v2_fixed_beta (beta1 + beta0 instead of beta1 n^alpha + beta0), v2_v1_keys (v1's leaky keys).
# A finished model is skipped and a killed one resumes from its checkpoint: run it again.
# SEED=N trains with another seed (init, data order, dropout) into runs/ood_<model>_s<N>; the
# default seed (1337) keeps runs/ood_<model>.
#   STEPS=4000 SEED=2 bash scripts/train_story_models.sh [BUILD_DIR] [MODEL...]
#   (MODEL: mosaic gpt gpt_rope gpt_alibi mosaic_v2 v2_no_long v2_fixed_m v2_fixed_beta v2_v1_keys)
set -euo pipefail
build="${1:-build}"
shift || true
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/story_model_flags.sh
steps="${STEPS:-4000}"
seed="${SEED:-1337}"
suffix="" seed_flag=()
[ "$seed" = 1337 ] || { suffix="_s$seed"; seed_flag=(--seed "$seed"); }
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(mosaic gpt gpt_rope gpt_alibi)

bash scripts/prepare_stories.sh "$build"

for model in "${models[@]}"; do
  story_model_flags "$model" || exit 1
  bash scripts/train_stories_run.sh "$build" "runs/ood_$model$suffix" "$steps" "${flags[@]}" "${seed_flag[@]}"
done
