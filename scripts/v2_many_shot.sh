#!/usr/bin/env bash
# Memory Mosaics v2's many-shot in-context learning claim (arXiv 2507.03285, section 5.3) on the
# synthetic task of `mosaic many-shot` (new classes and labels in every sequence): Memory Mosaic
# v1, v2 and a GPT with RoPE of the same size (configs/many_shot_*.json: d 128, 4 layers, context
# 256, about 4.6 rounds of 8 classes) trained on sequences of 1 to 6 rounds, then scored on
# sequences of 16 rounds (896 tokens, 3.5x the training context): accuracy against shots.
# Writes results/v2/many_shot_<model>.json and results/v2/many_shot.md. Every stage is skipped
# when done and training resumes from its checkpoint: run it again after a stop.
# MANY_SHOT_SEEDS="1 2" trains each model once per seed (runs/many_shot_<model>_s<seed>);
# MANY_SHOT_MODELS picks the models (mosaic_v2 mosaic gpt gpt_long; gpt_long is the GPT trained
# 4x as long, 8,000 steps: at 2,000 the GPT has not learned the task even inside its context).
#   bash scripts/v2_many_shot.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
read -r -a seeds <<< "${MANY_SHOT_SEEDS:-1}"
read -r -a models <<< "${MANY_SHOT_MODELS:-mosaic_v2 mosaic gpt gpt_long}"
out="results/v2"
mkdir -p "$out"
[ -s data/many_shot/task.json ] || "$build/mosaic" many-shot prepare -o data/many_shot
for seed in "${seeds[@]}"; do
  for model in "${models[@]}"; do
    run="runs/many_shot_${model}_s$seed"
    flags=(-c "configs/many_shot_$model.json")
    [ "$model" = gpt_long ] && flags=(-c configs/many_shot_gpt.json --max_iters 8000 --lr_decay_iters 8000)
    if ls "$run"/ckpt_*.state.safetensors >/dev/null 2>&1; then flags+=(--resume); fi
    "$build/mosaic" train "${flags[@]}" --out_dir "$run" --seed "$seed"
    result="$out/many_shot_${model}_s$seed.json"
    [ -s "$result" ] || "$build/mosaic" many-shot eval -m "$run" --rounds 16 --sequences 200 --json "$result"
    # Inside the training context (4 rounds, 224 tokens): did the model learn the task at all?
    result="$out/many_shot_${model}_s${seed}_4rounds.json"
    [ -s "$result" ] || "$build/mosaic" many-shot eval -m "$run" --rounds 4 --sequences 200 --json "$result"
  done
done
python="$(command -v /usr/bin/python3 || command -v python3)"
"$python" - "$out" > "$out/many_shot.md.tmp" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
rows = sorted(p for p in glob.glob(os.path.join(out, "many_shot_*_s*.json")) if not p.endswith("_4rounds.json"))
shots = [0, 1, 2, 4, 8, 12, 15]
print("| model, seed | " + " | ".join(f"{k} shots" for k in shots) + " |")
print("|---|" + "---:|" * len(shots))
for path in rows:
    r = json.load(open(path))
    name = os.path.basename(path)[len("many_shot_"):-len(".json")]
    print(f"| {name} | " + " | ".join(f"{r['accuracy'][k]:.3f} ± {r['stderr'][k]:.3f}" for k in shots) + " |")
inside = sorted(glob.glob(os.path.join(out, "many_shot_*_s*_4rounds.json")))
if inside:
    print("\nInside the training context (4 rounds, 224 tokens)\n")
    print("| model, seed | " + " | ".join(f"{k} shots" for k in range(4)) + " |")
    print("|---|" + "---:|" * 4)
    for path in inside:
        r = json.load(open(path))
        name = os.path.basename(path)[len("many_shot_"):-len("_4rounds.json")]
        print(f"| {name} | " + " | ".join(f"{r['accuracy'][k]:.3f} ± {r['stderr'][k]:.3f}" for k in range(4)) + " |")
PY
mv "$out/many_shot.md.tmp" "$out/many_shot.md"
cat "$out/many_shot.md"
"$python" - "$out" <<'PY'
import glob, json, os, sys
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("v2_many_shot: no figure (needs Debian's python3-matplotlib)")
out = sys.argv[1]
fig, ax = plt.subplots(figsize=(7, 4.5))
for path in sorted(p for p in glob.glob(os.path.join(out, "many_shot_*_s*.json")) if not p.endswith("_4rounds.json")):
    r = json.load(open(path))
    name = os.path.basename(path)[len("many_shot_"):-len(".json")]
    shots = list(range(len(r["accuracy"])))
    ax.errorbar(shots, r["accuracy"], yerr=[1.96 * e for e in r["stderr"]], label=name, capsize=2, linewidth=1.2)
ax.axhline(1 / 8, color="gray", linewidth=1, linestyle=":", label="chance among the 8 labels in context")
ax.axvline(4.6, color="gray", linewidth=1, linestyle="--", label="end of the training context")
ax.set_xlabel("shots (earlier examples of the class in the context)")
ax.set_ylabel("label accuracy (95% interval over sequences)")
ax.set_title("many-shot in-context classification, 16 rounds (896 tokens)")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(out, "many_shot.png"), dpi=120)
print(f"wrote {os.path.join(out, 'many_shot.png')}")
PY
