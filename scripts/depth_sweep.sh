#!/usr/bin/env bash
# The paper's figure 9 at our scale: the Memory Mosaic and the GPT baseline at several depths
# (DEPTHS, default "1 2 4" blocks; otherwise configs/tinystories_{mosaic,gpt}.json: d 128,
# 4 heads, context 128, blocks of matched size), trained alike for STEPS steps (default 1500)
# on all the stories of ../shared/data/tinystories (valid.txt held out). Writes
# results/depth/{depth.png,summary.md} (train and validation curves, final losses, parameter
# counts). Finished runs are skipped and killed ones resume: run it again.
#   STEPS=1500 DEPTHS="1 2 4" bash scripts/depth_sweep.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps="${STEPS:-1500}"
depths="${DEPTHS:-1 2 4}"
mosaic="$build/mosaic"
out="results/depth"
data="data/stories_all"

bash scripts/prepare_stories.sh "$build"
mkdir -p "$out"
curves=()
echo "| model | blocks | parameters |" >"$out/params.md"
echo "|---|---:|---:|" >>"$out/params.md"
for arch in mosaic gpt; do
  for depth in $depths; do
    run="runs/depth_${arch}_L$depth"
    bash scripts/train_stories_run.sh "$build" "$run" "$steps" -c "configs/tinystories_$arch.json" --n_layer "$depth"
    params=$("$mosaic" info "$run" | grep -o '[0-9]* parameters' | head -1)
    echo "| $arch | $depth | ${params% parameters} |" >>"$out/params.md"
    curves+=("$run:$arch, $depth block$([ "$depth" = 1 ] || echo s)")
  done
done
python="$(command -v /usr/bin/python3 || command -v python3)"  # Debian's, with matplotlib
"$python" tools/plot_metrics.py -o "$out/depth.png" --table --zoom --meta "$data/meta.json" \
  --title "depth sweep: Memory Mosaic vs GPT, $steps steps" "${curves[@]}" | tee "$out/summary.md"
