#!/usr/bin/env bash
# The paper's figure 10 with our models: a Memory Mosaic and the GPT baseline of the same size
# (scripts/train_story_models.sh: d 128, 4 layers, context 128, trained on all the stories of
# ../shared/data/tinystories, valid.txt held out), then the loss at each position of a document
# on Simple English Wikipedia, on the matching English Wikipedia pages (harder) and on the
# held-out stories, by `mosaic eval --documents`.
# Writes results/ood/{mosaic,gpt}_{simplewiki,enwiki,stories}.{csv,json}, results/ood/ood.png and
# ood_gap.png (the Memory Mosaic's loss minus the GPT's at each position).
# Every stage is skipped when done and training resumes from its checkpoint, so a killed run
# goes on where it stopped: run it again. OOD_STEPS=N changes the training length (3000).
#   bash scripts/ood.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps="${OOD_STEPS:-3000}"
shared="../shared/data"
out="results/ood"
mosaic="$build/mosaic"

for f in "$shared/simplewiki/simplewiki.txt" "$shared/simplewiki/enwiki.txt"; do
  [ -s "$f" ] || { echo "error: $f is missing" >&2; echo "hint: the OOD experiment needs ../shared/data beside the checkout" >&2; exit 1; }
done
STEPS="$steps" bash scripts/train_story_models.sh "$build" mosaic gpt

mkdir -p "$out"
for arch in mosaic gpt; do
  run="runs/ood_$arch"
  for set in simplewiki enwiki stories; do
    text="$shared/simplewiki/$set.txt"
    [ "$set" = stories ] && text="data/tinystories/valid.txt"
    "$mosaic" eval -m "$run" "$text" --documents --per-position "$out/${arch}_$set.csv" --json "$out/${arch}_$set.json"
  done
done

python="$(command -v /usr/bin/python3 || command -v python3)"  # Debian's, with matplotlib
"$python" tools/plot_positions.py -o "$out/ood.png" --title "loss by position in a document (trained on stories)" \
  "$out/mosaic_simplewiki.csv:mosaic, Simple Wikipedia" "$out/gpt_simplewiki.csv:GPT, Simple Wikipedia" \
  "$out/mosaic_enwiki.csv:mosaic, English Wikipedia" "$out/gpt_enwiki.csv:GPT, English Wikipedia" \
  "$out/mosaic_stories.csv:mosaic, stories" "$out/gpt_stories.csv:GPT, stories"
"$python" tools/plot_positions.py --difference --smooth 15 -o "$out/ood_gap.png" \
  --title "Memory Mosaic minus GPT, loss by position (15-position moving average)" \
  "$out/mosaic_simplewiki.csv,$out/gpt_simplewiki.csv:Simple Wikipedia" \
  "$out/mosaic_enwiki.csv,$out/gpt_enwiki.csv:English Wikipedia" \
  "$out/mosaic_stories.csv,$out/gpt_stories.csv:held-out stories"
