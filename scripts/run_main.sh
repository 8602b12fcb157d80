#!/usr/bin/env bash
# The main job (`make run`): get the TinyStories text, tokenize it, train a small Memory Mosaic
# for a few minutes on all cores, then print one validation figure (`mosaic eval` on the whole
# held-out split), two sampled stories and the path of the loss picture. runs/main keeps the
# checkpoint, metrics.jsonl, config.json, eval.json (the validation figure) and loss.png.
# Running it again resumes (or, when finished, evaluates and samples again).
# MAIN_STEPS=N changes the length of the run; MAIN_EVAL_WINDOWS=K caps the validation at K
# windows of 128 tokens (default 4096, more than the 312 of the shipped stories; 0: no cap).
set -euo pipefail
build="${1:-build}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps="${MAIN_STEPS:-400}"
eval_windows="${MAIN_EVAL_WINDOWS:-4096}"
run=runs/main
data=data/tinystories_gpt2

bash scripts/get_data.sh
if [ ! -f "$data/meta.json" ]; then
  "$build/mosaic" prepare data/tinystories/train.txt --val data/tinystories/valid.txt -o "$data"
fi

resume=()
if ls "$run"/ckpt_*.state.safetensors >/dev/null 2>&1; then resume=(--resume); fi
"$build/mosaic" train -c configs/tinystories_mosaic.json "${resume[@]}" --out_dir "$run" \
  --max_iters "$steps" --lr_decay_iters "$steps" --warmup_iters 50 --eval_interval 100 \
  --log_interval 20 --sample_interval 0 --checkpoint_interval 100

# One validation figure: every window of the held-out stories, not the trainer's sample of them.
"$build/mosaic" eval -m "$run" "$data/val.bin" --max-windows "$eval_windows" --json "$run/eval.json" >"$run/eval.txt"
echo
python3 - "$run/eval.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
scored, left = r["tokens_scored"], r["tokens_left_out"]
where = (f"the whole held-out split ({scored:,} tokens)" if left < r["context"]
         else f"the first {scored:,} tokens of the held-out split ({left:,} more not scored; MAIN_EVAL_WINDOWS=0 scores all)")
print(f"validation: {r['mean_loss']:.4f} nats/token (perplexity {r['perplexity']:.1f}, "
      f"{r['bits_per_byte']:.3f} bits per byte) on {where}")
print(f"  = the mean surprise at each next token; as unsure as a uniform pick among {r['perplexity']:.0f} tokens; "
      f"the text compressed to {100 * r['bits_per_byte'] / 8:.0f}% of its bytes "
      "(the trainer's 'val loss' lines above are estimates on a sample of the same split)")
EOF

echo
echo "== two stories from $run =="
"$build/mosaic" sample -m "$run" -p "Once upon a time" -n 150 --temp 0.8 --top-k 40 --num-samples 2 -s 7

echo
plot=(tools/plot_metrics.py "$run" -o "$run/loss.png" --meta "$data/meta.json"
      --title "runs/main: Memory Mosaic on TinyStories" --eval "$run/eval.json")
if python3 -c 'import matplotlib' 2>/dev/null || /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  python3 "${plot[@]}" >/dev/null  # Debian's python3 draws when a pyenv or venv python3 has no matplotlib
  echo "loss picture: $run/loss.png (train and validation loss against step; dashed: the unigram entropy)"
else
  echo "loss picture: not drawn, matplotlib is missing: sudo apt-get install python3-matplotlib, then" \
       "/usr/bin/python3$(printf ' %q' "${plot[@]}")"
fi
echo "run folder:   $run (checkpoints, metrics.jsonl, config.json, eval.json)"
