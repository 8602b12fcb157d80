#!/usr/bin/env bash
# Memory Mosaics v2's many-shot in-context learning claim (arXiv 2507.03285, section 5.3) on the
# synthetic task of `mosaic many-shot` (new classes and labels in every sequence): Memory Mosaic
# v1, v2 and a GPT with RoPE of the same size (configs/many_shot_*.json: d 128, 4 layers, context
# 256, about 4.6 rounds of 8 classes) trained on sequences of 1 to 6 rounds, then scored on
# sequences of 16 rounds (896 tokens, 3.5x the training context): accuracy against shots.
# Writes results/v2/many_shot_<model>.json and results/v2/many_shot.md. Every stage is skipped
# when done and training resumes from its checkpoint: run it again after a stop.
# MANY_SHOT_SEEDS="1 2" trains each model once per seed (runs/many_shot_<model>_s<seed>).
#   bash scripts/v2_many_shot.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
read -r -a seeds <<< "${MANY_SHOT_SEEDS:-1}"
out="results/v2"
mkdir -p "$out"
[ -s data/many_shot/task.json ] || "$build/mosaic" many-shot prepare -o data/many_shot
for seed in "${seeds[@]}"; do
  for model in mosaic_v2 mosaic gpt; do
    run="runs/many_shot_${model}_s$seed"
    resume=()
    if ls "$run"/ckpt_*.state.safetensors >/dev/null 2>&1; then resume=(--resume); fi
    "$build/mosaic" train -c "configs/many_shot_$model.json" "${resume[@]}" --out_dir "$run" --seed "$seed"
    result="$out/many_shot_${model}_s$seed.json"
    [ -s "$result" ] || "$build/mosaic" many-shot eval -m "$run" --rounds 16 --sequences 200 --json "$result"
  done
done
python="$(command -v /usr/bin/python3 || command -v python3)"
"$python" - "$out" > "$out/many_shot.md.tmp" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
rows = sorted(glob.glob(os.path.join(out, "many_shot_*_s*.json")))
shots = [0, 1, 2, 4, 8, 12, 15]
print("| model, seed | " + " | ".join(f"{k} shots" for k in shots) + " |")
print("|---|" + "---:|" * len(shots))
for path in rows:
    r = json.load(open(path))
    name = os.path.basename(path)[len("many_shot_"):-len(".json")]
    print(f"| {name} | " + " | ".join(f"{r['accuracy'][k]:.3f} ± {r['stderr'][k]:.3f}" for k in shots) + " |")
PY
mv "$out/many_shot.md.tmp" "$out/many_shot.md"
cat "$out/many_shot.md"
