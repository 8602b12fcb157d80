#!/usr/bin/env bash
# Memory Mosaics v2's length-extrapolation claim (arXiv 2507.03285, table 3) at our scale, and
# its ablations: models trained at context 128 on the stories (scripts/train_story_models.sh:
# Memory Mosaic v1, v2, GPT with RoPE, GPT with ALiBi; then v2 without its long-term memory,
# with a fixed delay, a fixed bandwidth, v1's keys), each evaluated by `mosaic eval` at 1x, 2x,
# 4x and 8x that context on the held-out stories and on Simple English Wikipedia, with the loss
# at every position: the same first V2_TOKENS tokens of each text at every context (windows in a
# row: 256 of 128 tokens, ..., 32 of 1,024), so the four means score the same text.
# Writes results/v2/<model>_<text>_<context>.{csv,json}, v2 against every other model on the same
# windows (`mosaic eval --vs`: paired differences with intervals over windows) in
# results/v2/paired/mosaic_v2_vs_<model>_<text>_<context>.{csv,json}, results/v2/summary.md (mean
# losses and the paired differences) and the loss by position at 8x
# (results/v2/extrapolation_<text>.png, tools/plot_positions.py). Every stage is skipped when done and
# training resumes from its checkpoint: a killed run goes on where it stopped when run again.
# V2_STEPS=N changes the training length (4000); V2_MODELS the models; V2_TOKENS the tokens
# scored per (model, text, context) (32768).
#   bash scripts/v2_extrapolation.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps="${V2_STEPS:-4000}"
tokens="${V2_TOKENS:-32768}"
read -r -a models <<< "${V2_MODELS:-mosaic_v2 mosaic gpt_rope gpt_alibi v2_no_long v2_fixed_m v2_fixed_beta v2_v1_keys}"
shared="../shared/data"
out="results/v2"
[ -s "$shared/simplewiki/simplewiki.txt" ] || {
  echo "error: $shared/simplewiki/simplewiki.txt is missing" >&2
  echo "hint: the experiment needs ../shared/data beside the checkout" >&2
  exit 1
}
mkdir -p "$out"
for model in "${models[@]}"; do
  STEPS="$steps" bash scripts/train_story_models.sh "$build" "$model"
  for set in stories simplewiki; do
    text="$shared/simplewiki/simplewiki.txt"
    [ "$set" = stories ] && text="data/tinystories/valid.txt"
    for context in 128 256 512 1024; do
      result="$out/${model}_${set}_${context}"
      [ -s "$result.json" ] && continue
      "$build/mosaic" eval -m "runs/ood_$model" "$text" --context "$context" --max-windows $((tokens / context)) \
        --per-position "$result.csv" --json "$result.json.tmp"
      mv "$result.json.tmp" "$result.json"
    done
  done
done

# v2 against each other model on the same windows: the whole window and its last quarter.
mkdir -p "$out/paired"
for model in "${models[@]}"; do
  [ "$model" = mosaic_v2 ] && continue
  [ -d "runs/ood_mosaic_v2" ] && [ -d "runs/ood_$model" ] || continue
  for set in stories simplewiki; do
    text="$shared/simplewiki/simplewiki.txt"
    [ "$set" = stories ] && text="data/tinystories/valid.txt"
    for context in 128 256 512 1024; do
      result="$out/paired/mosaic_v2_vs_${model}_${set}_${context}"
      [ -s "$result.json" ] && continue
      "$build/mosaic" eval -m runs/ood_mosaic_v2 --vs "runs/ood_$model" "$text" --context "$context" \
        --max-windows $((tokens / context)) --ranges "0:$context,$((context * 3 / 4)):$context" \
        --paired "$result.csv" --json "$result.json.tmp"
      mv "$result.json.tmp" "$result.json"
    done
  done
done

python="$(command -v /usr/bin/python3 || command -v python3)"
"$python" - "$out" "${models[@]}" > "$out/summary.md.tmp" <<'PY'
import json, os, sys
out, models = sys.argv[1], sys.argv[2:]
contexts = [128, 256, 512, 1024]
print("Mean loss (nats per token) on the same tokens at each context\n")
print("| model | text | " + " | ".join(f"{c} ({c // 128}x)" for c in contexts) + " |")
print("|---|---|" + "---:|" * len(contexts))
for model in models:
    for text in ("stories", "simplewiki"):
        cells = []
        for c in contexts:
            path = os.path.join(out, f"{model}_{text}_{c}.json")
            if not os.path.exists(path):
                cells.append("-")
                continue
            r = json.load(open(path))
            cells.append(f"{r['mean_loss']:.3f}")
        print(f"| {model} | {text} | " + " | ".join(cells) + " |")
print("\nv2 minus each model on the same windows, whole window (95% bootstrap interval over windows)\n")
print("| v2 minus | text | " + " | ".join(f"{c} ({c // 128}x)" for c in contexts) + " |")
print("|---|---|" + "---|" * len(contexts))
for model in models:
    for text in ("stories", "simplewiki"):
        cells = []
        for c in contexts:
            path = os.path.join(out, "paired", f"mosaic_v2_vs_{model}_{text}_{c}.json")
            if not os.path.exists(path):
                cells.append("-")
                continue
            r = json.load(open(path))["paired"]["ranges"][0]
            cells.append(f"{r['difference']:+.3f} [{r['ci95'][0]:+.3f}, {r['ci95'][1]:+.3f}]")
        if any(c != "-" for c in cells):
            print(f"| {model} | {text} | " + " | ".join(cells) + " |")
PY
mv "$out/summary.md.tmp" "$out/summary.md"
cat "$out/summary.md"
for set in stories simplewiki; do
  curves=()
  for model in "${models[@]}"; do
    [ -s "$out/${model}_${set}_1024.csv" ] && curves+=("$out/${model}_${set}_1024.csv:$model")
  done
  if [ ${#curves[@]} -gt 0 ]; then
    "$python" tools/plot_positions.py -o "$out/extrapolation_$set.png" --logx --smooth 31 \
      --title "loss by position at 8x the training context (128), $set (31-position average)" "${curves[@]}"
  fi
  # v2 against the baselines, and against its ablations (v2_*), one figure each.
  for group in baselines ablations; do
    pairs=()
    for model in "${models[@]}"; do
      case "$group:$model" in baselines:v2_* | ablations:mosaic | ablations:gpt*) continue ;; esac
      [ -s "$out/paired/mosaic_v2_vs_${model}_${set}_1024.csv" ] && pairs+=("$out/paired/mosaic_v2_vs_${model}_${set}_1024.csv:v2 - $model")
    done
    suffix=""
    [ "$group" = ablations ] && suffix="_ablations"
    if [ ${#pairs[@]} -gt 0 ]; then
      "$python" tools/plot_positions.py --difference --smooth 31 -o "$out/extrapolation_${set}_paired$suffix.png" --logx \
        --title "v2 minus each of its $group at 1,024 tokens (8x), $set (95% band)" "${pairs[@]}"
    fi
  done
done
