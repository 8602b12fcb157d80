#!/usr/bin/env bash
# The paper's figure 15 as it ran it: Memory Mosaics whose leaky-average decay is fixed (config
# key_decay: every head of every contextual memory, not trained) at several values, trained
# alike on the stories (configs/tinystories_mosaic.json: d 128, 4 layers, context 128), then
# `mosaic attention` at 1x on the held-out stories: does the width of a memory's attention follow
# the decay it was given? Writes results/decay_sweep/decay_<value>.{json,txt}, _heads.csv,
# summary.md and widths.png. Training resumes and finished stages are skipped: run it again
# after a stop. DECAY_VALUES (0 0.5 0.8 0.9 0.95: time constants 1, 2, 5, 10, 20 tokens),
# DECAY_STEPS (2000).
#   bash scripts/decay_sweep.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
read -r -a values <<< "${DECAY_VALUES:-0 0.5 0.8 0.9 0.95}"
steps="${DECAY_STEPS:-2000}"
out="results/decay_sweep"
text="data/tinystories/valid.txt"
mkdir -p "$out"
bash scripts/prepare_stories.sh "$build"
for value in "${values[@]}"; do
  run="runs/decay_$value"
  bash scripts/train_stories_run.sh "$build" "$run" "$steps" -c configs/tinystories_mosaic.json --key_decay "$value"
  [ -s "$out/decay_$value.json" ] && continue
  "$build/mosaic" attention -m "$run" "$text" --heads "$out/decay_${value}_heads.csv" --json "$out/decay_$value.json.tmp" \
    >"$out/decay_$value.txt"
  mv "$out/decay_$value.json.tmp" "$out/decay_$value.json"
  cp "$run/metrics.jsonl" "$out/decay_${value}_metrics.jsonl"
done

python="$(command -v /usr/bin/python3 || command -v python3)"  # Debian's, with matplotlib
"$python" - "$out" "${values[@]}" > "$out/summary.md.tmp" <<'PY'
import json, os, statistics, sys
out, values = sys.argv[1], sys.argv[2:]
print("| decay | time constant | held-out loss | half-mass width per head: median (range) | mass on the last 10%: median (range) |")
print("|---:|---:|---:|---|---|")
for v in values:
    path = os.path.join(out, f"decay_{v}.json")
    if not os.path.exists(path):
        continue
    r = json.load(open(path))
    widths = [h["half_mass_width"] for h in r["heads"]]
    mass = [h["mass_last_10pct"] for h in r["heads"]]
    tau = 1 / (1 - float(v))
    print(f"| {v} | {tau:.0f} | {r['mean_loss']:.3f} | {statistics.median(widths):.0f} ({min(widths)}-{max(widths)}) | "
          f"{statistics.median(mass):.3f} ({min(mass):.3f}-{max(mass):.3f}) |")
PY
mv "$out/summary.md.tmp" "$out/summary.md"
cat "$out/summary.md"
curves=()
for value in "${values[@]}"; do
  [ -s "$out/decay_${value}_heads.csv" ] && curves+=("$out/decay_${value}_heads.csv:decay $value")
done
if [ ${#curves[@]} -gt 0 ]; then
  "$python" tools/plot_attention.py heads -o "$out/widths.png" --title "fixed leaky-average decay vs attention width" "${curves[@]}"
fi
