#!/usr/bin/env bash
# The main job (`make run`): get the TinyStories text, tokenize it, train a small Memory Mosaic
# for a few minutes on all cores, print validation loss (mosaic eval) and sampled stories, and leave the
# checkpoint, metrics.jsonl and config.json in runs/main. Running it again resumes (or, when
# finished, just samples). MAIN_STEPS=N changes the length of the run.
set -euo pipefail
build="${1:-build}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps="${MAIN_STEPS:-400}"

bash scripts/get_data.sh
if [ ! -f data/tinystories_gpt2/meta.json ]; then
  "$build/mosaic" prepare data/tinystories/train.txt --val data/tinystories/valid.txt -o data/tinystories_gpt2
fi

resume=()
if ls runs/main/ckpt_*.state.safetensors >/dev/null 2>&1; then resume=(--resume); fi
"$build/mosaic" train -c configs/tinystories_mosaic.json "${resume[@]}" --out_dir runs/main \
  --max_iters "$steps" --lr_decay_iters "$steps" --warmup_iters 50 --eval_interval 100 \
  --log_interval 20 --sample_interval 0 --checkpoint_interval 100

echo
echo "== validation loss of runs/main (its newest checkpoint, first 100 windows of val.bin) =="
"$build/mosaic" eval -m runs/main data/tinystories_gpt2/val.bin --max-windows 100

echo
echo "== two stories from runs/main =="
"$build/mosaic" sample -m runs/main -p "Once upon a time" -n 150 --temp 0.8 --top-k 40 --num-samples 2 -s 7
echo
echo "metrics: runs/main/metrics.jsonl   plot: python3 tools/plot_metrics.py runs/main -o runs/main/loss.png --meta data/tinystories_gpt2/meta.json"
