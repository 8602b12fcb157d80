#!/usr/bin/env bash
# The paper's figures 12, 13 and 15 with our models: the four story models of
# scripts/train_story_models.sh (Memory Mosaic; GPT with learned positions, RoPE, ALiBi; one
# size, trained alike), then `mosaic attention` on the held-out stories at 1x and 3x their
# training context (the learned-position GPT cannot run at 3x: its refusal is recorded),
# --explain on a story opening, the figures and a summary table. Writes results/attention/.
# Training resumes and finished models are skipped: run it again after a kill.
#   STEPS=3000 bash scripts/attention.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mosaic="$build/mosaic"
out="results/attention"
text="data/tinystories/valid.txt"
block=$(grep -o '"block_size": *[0-9]*' configs/tinystories_gpt.json | grep -o '[0-9]*$')
opening="Lily had a red ball. She gave the ball to her friend Tom. Tom threw the ball and the dog ran after the ball. The dog"

bash scripts/train_story_models.sh "$build"
mkdir -p "$out"
for model in mosaic gpt gpt_rope gpt_alibi; do
  for times in 1 3; do
    name="${model}_${times}x"
    args=(-m "runs/ood_$model" "$text" --context $((block * times)))
    if [ "$model" = gpt ] && [ "$times" != 1 ]; then
      if "$mosaic" attention "${args[@]}" >"$out/$name.refused" 2>&1; then
        echo "error: the learned-position GPT ran at ${times}x its block_size" >&2; exit 1
      fi
      continue
    fi
    "$mosaic" attention "${args[@]}" -o "$out/$name.csv" --heads "$out/${name}_heads.csv" --json "$out/$name.json" \
      | tee "$out/$name.txt"
  done
  "$mosaic" attention -m "runs/ood_$model" --explain --top 3 --text "$opening" >"$out/explain_$model.txt"
done

python="$(command -v /usr/bin/python3 || command -v python3)"  # Debian's, with matplotlib
"$python" tools/plot_attention.py maps -o "$out/maps_1x.png" --title "the last position's weights, context $block (1x)" \
  "$out/mosaic_1x.csv:mosaic" "$out/gpt_1x.csv:GPT learned" "$out/gpt_rope_1x.csv:GPT RoPE" "$out/gpt_alibi_1x.csv:GPT ALiBi"
"$python" tools/plot_attention.py maps -o "$out/maps_3x.png" --title "the last position's weights, context $((3 * block)) (3x)" \
  "$out/mosaic_3x.csv:mosaic" "$out/gpt_rope_3x.csv:GPT RoPE" "$out/gpt_alibi_3x.csv:GPT ALiBi"
"$python" tools/plot_attention.py heads -o "$out/widths.png" --title "Memory Mosaic: leaky average vs recency width" \
  "$out/mosaic_1x_heads.csv:context $block" "$out/mosaic_3x_heads.csv:context $((3 * block))"
"$python" tools/plot_attention.py table "$out/mosaic_1x.json:mosaic" "$out/mosaic_3x.json:mosaic" \
  "$out/gpt_1x.json:GPT learned" "$out/gpt_rope_1x.json:GPT RoPE" "$out/gpt_rope_3x.json:GPT RoPE" \
  "$out/gpt_alibi_1x.json:GPT ALiBi" "$out/gpt_alibi_3x.json:GPT ALiBi" | tee "$out/summary.md"
