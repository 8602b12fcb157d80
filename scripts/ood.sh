#!/usr/bin/env bash
# The paper's figure 10 with our models, as a paired comparison: the Memory Mosaic against the
# GPT baselines of the same size (scripts/train_story_models.sh: d 128, 4 layers, context 128,
# trained on all the stories of ../shared/data/tinystories, valid.txt held out; learned
# positions, RoPE, ALiBi), scored on the same documents (`mosaic eval --documents --vs`) of
# Simple English Wikipedia, English Wikipedia (harder) and the held-out stories. The claim
# tested is the out-of-distribution advantage minus the in-distribution one, per seed.
# Writes results/ood/<model><seed>_<text>.{csv,json} (each model alone),
# results/ood/mosaic_vs_<baseline><seed>_<text>.{csv,json} (paired differences with intervals
# over documents), results/ood/summary.md (tools/ood_summary.py: every baseline and seed in
# results/ood, not only this call's), ood.png and ood_gap.png.
# Every stage is skipped when done and training resumes from its checkpoint, so a killed run
# goes on where it stopped: run it again. OOD_STEPS (4000), OOD_SEEDS ("1337": the default
# seed, runs/ood_<model>; others train runs/ood_<model>_s<seed>), OOD_BASELINES
# ("gpt_rope gpt_alibi gpt").
#   bash scripts/ood.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps="${OOD_STEPS:-4000}"
read -r -a seeds <<< "${OOD_SEEDS:-1337}"
read -r -a baselines <<< "${OOD_BASELINES:-gpt_rope gpt_alibi gpt}"
shared="../shared/data"
out="results/ood"
mosaic="$build/mosaic"
ranges="0:16,16:64,64:100,100:128,0:128"

for f in "$shared/simplewiki/simplewiki.txt" "$shared/simplewiki/enwiki.txt"; do
  [ -s "$f" ] || { echo "error: $f is missing" >&2; echo "hint: the OOD experiment needs ../shared/data beside the checkout" >&2; exit 1; }
done
mkdir -p "$out"
for seed in "${seeds[@]}"; do
  suffix=""
  [ "$seed" = 1337 ] || suffix="_s$seed"
  STEPS="$steps" SEED="$seed" bash scripts/train_story_models.sh "$build" mosaic "${baselines[@]}"
  for set in simplewiki enwiki stories; do
    text="$shared/simplewiki/$set.txt"
    [ "$set" = stories ] && text="data/tinystories/valid.txt"
    for model in mosaic "${baselines[@]}"; do
      result="$out/$model${suffix}_$set"
      [ -s "$result.json" ] && continue
      "$mosaic" eval -m "runs/ood_$model$suffix" "$text" --documents --per-position "$result.csv" --json "$result.json.tmp"
      mv "$result.json.tmp" "$result.json"
    done
    for baseline in "${baselines[@]}"; do
      result="$out/mosaic_vs_$baseline${suffix}_$set"
      [ -s "$result.json" ] && continue
      "$mosaic" eval -m "runs/ood_mosaic$suffix" --vs "runs/ood_$baseline$suffix" "$text" --documents \
        --ranges "$ranges" --paired "$result.csv" --json "$result.json.tmp"
      mv "$result.json.tmp" "$result.json"
    done
  done
done

python="$(command -v /usr/bin/python3 || command -v python3)"  # Debian's, with matplotlib
"$python" tools/ood_summary.py "$out" > "$out/summary.md.tmp"  # every baseline and seed evaluated so far
mv "$out/summary.md.tmp" "$out/summary.md"
cat "$out/summary.md"
"$python" tools/plot_positions.py -o "$out/ood.png" --title "loss by position in a document (trained on stories)" \
  "$out/mosaic_simplewiki.csv:mosaic, Simple Wikipedia" "$out/${baselines[0]}_simplewiki.csv:${baselines[0]}, Simple Wikipedia" \
  "$out/mosaic_enwiki.csv:mosaic, English Wikipedia" "$out/${baselines[0]}_enwiki.csv:${baselines[0]}, English Wikipedia" \
  "$out/mosaic_stories.csv:mosaic, stories" "$out/${baselines[0]}_stories.csv:${baselines[0]}, stories"
"$python" tools/plot_positions.py --difference --smooth 15 -o "$out/ood_gap.png" \
  --title "Memory Mosaic minus ${baselines[0]} by position (15-position average, 95% band)" \
  "$out/mosaic_vs_${baselines[0]}_simplewiki.csv:Simple Wikipedia" \
  "$out/mosaic_vs_${baselines[0]}_enwiki.csv:English Wikipedia" \
  "$out/mosaic_vs_${baselines[0]}_stories.csv:held-out stories"
