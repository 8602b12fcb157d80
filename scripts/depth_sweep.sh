#!/usr/bin/env bash
# The paper's figure 9 at our scale: the Memory Mosaic and the GPT baselines at several depths
# (DEPTHS, default "1 2 4 8" blocks; ARCHS, default "mosaic gpt_rope": the Memory Mosaic and the
# GPT with RoPE, the strongest baseline at this size; any name of scripts/story_model_flags.sh:
# "gpt" learned positions, "gpt_alibi" ALiBi), otherwise configs/tinystories_*.json (d 128, 4 heads,
# context 128, blocks of matched size), trained alike for STEPS steps (default 1500) on all the
# stories of ../shared/data/tinystories (valid.txt held out), seed 1337. At each depth the Memory
# Mosaic and each baseline are scored on the same held-out windows (`mosaic eval --vs`:
# results/depth/mosaic_vs_<baseline>_L<blocks>.json, the paired difference with its interval).
# Writes results/depth/summary.md and depth.png (tools/depth_summary.py: loss against depth and
# the paired difference), depth_curves.png and curves.md (training and validation curves, the
# trainer's final estimates), params.md (parameter counts). Finished runs and evaluations are
# skipped and killed runs resume: run it again.
#   STEPS=1500 DEPTHS="1 2 4 8" ARCHS="mosaic gpt_rope" bash scripts/depth_sweep.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/story_model_flags.sh
steps="${STEPS:-1500}"
depths="${DEPTHS:-1 2 4 8}"
read -r -a archs <<< "${ARCHS:-mosaic gpt_rope}"
mosaic="$build/mosaic"
out="results/depth"
data="data/stories_all"
held_out="data/tinystories/valid.txt"

bash scripts/prepare_stories.sh "$build"
mkdir -p "$out"
curves=()
echo "| model | blocks | parameters |" >"$out/params.md"
echo "|---|---:|---:|" >>"$out/params.md"
# depth by depth, so a stopped sweep leaves every model compared at the depths it reached
for depth in $depths; do
  for arch in "${archs[@]}"; do
    story_model_flags "$arch" || exit 1
    run="runs/depth_${arch}_L$depth"
    bash scripts/train_stories_run.sh "$build" "$run" "$steps" "${flags[@]}" --n_layer "$depth"
    params=$("$mosaic" info "$run" | grep -o '[0-9]* parameters' | head -1)
    echo "| $arch | $depth | ${params% parameters} |" >>"$out/params.md"
    curves+=("$run:$arch, $depth block$([ "$depth" = 1 ] || echo s)")
  done
  for arch in "${archs[@]}"; do
    [ "$arch" = mosaic ] && continue
    result="$out/mosaic_vs_${arch}_L$depth"
    [ -s "$result.json" ] && continue
    "$mosaic" eval -m "runs/depth_mosaic_L$depth" --vs "runs/depth_${arch}_L$depth" "$held_out" \
      --json "$result.json.tmp" >"$result.txt"
    mv "$result.json.tmp" "$result.json"
  done
done
python="$(command -v /usr/bin/python3 || command -v python3)"  # Debian's, with matplotlib
"$python" tools/plot_metrics.py -o "$out/depth_curves.png" --table --zoom --meta "$data/meta.json" \
  --title "depth sweep: Memory Mosaic vs GPT, $steps steps" "${curves[@]}" >"$out/curves.md"
if [[ " ${archs[*]} " == *" mosaic "* ]] && [ "${#archs[@]}" -gt 1 ]; then
  "$python" tools/depth_summary.py "$out" -o "$out/depth.png" >"$out/summary.md"
fi
cat "$out/summary.md" "$out/curves.md" 2>/dev/null || true
