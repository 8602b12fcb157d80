#!/usr/bin/env bash
# Every number of docs/long_memory.md: approximate retrieval (HNSW top-K + the newest W pairs)
# against exact retrieval in Memory Mosaic streams.
#  1. Quality, independent of the CPU: the story models (runs/ood_mosaic and runs/ood_mosaic_v2,
#     made by scripts/train_story_models.sh; or MODEL_V1 / MODEL_V2) streamed over LM_TOKENS
#     tokens, the first half held-out stories (data/tinystories/valid.txt), the second Simple
#     English Wikipedia pages, once with exact retrieval and once per K in LM_K (W = 32); then v1
#     at K = 256 with exact retrieval over the newest 128 pairs only beside it (the context the
#     model was trained at), and at K = 32 with W = 0 and W = 128. Each run: the loss of every
#     next token, recall@K of the index against the true top-K, the total-variation distance
#     between exact and approximate weights (`mosaic bench retrieval`). Approximate from
#     LM_MIN_PAIRS pairs per head on.
#  2. Speed: a random d128 model whose memories are prefilled with 16k, 128k and 1M pairs per
#     head, exact and approximate with the defaults: generated tokens/s with 2 threads, and the
#     resident bytes per stored pair (`mosaic bench generate --pairs`). Run it on a quiet machine:
#     the 1M-pair prefill inserts 16M keys into 16 graphs (minutes) and holds about 10 GB.
#     LM_PAIRS changes the sizes; LM_SPEED=0 skips it; the exact column at 1M reads 4 GB a token,
#     so it times LM_EXACT_TOKENS tokens there.
# Writes results/long_memory/quality_{v1,v2,v1_k256,v1_w0,v1_w128}.{txt,json} and
# speed_{exact,approx}_<pairs>.{txt,json}, then summary.md (tools/long_memory_summary.py); a stage
# whose .json exists is skipped.
#   bash scripts/long_memory.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tokens="${LM_TOKENS:-16384}"
k_list="${LM_K:-8,16,32,64}"
min_pairs="${LM_MIN_PAIRS:-1024}"
pairs="${LM_PAIRS:-16384,131072,1048576}"
model_v1="${MODEL_V1:-runs/ood_mosaic}"
model_v2="${MODEL_V2:-runs/ood_mosaic_v2}"
stories="data/tinystories/valid.txt"
wiki="../shared/data/simplewiki/simplewiki.txt"
out="results/long_memory"
mkdir -p "$out"
for f in "$stories" "$wiki"; do
  [ -s "$f" ] || { echo "error: $f is missing" >&2; echo "hint: scripts/get_data.sh fetches the stories; ../shared/data holds the pages" >&2; exit 1; }
done

# One thread per stream: the measurements are per token, and a second OpenMP thread only spins
# on a shared machine. The figures of this stage do not depend on the CPU.
quality() {  # name model k_list recent [more flags]
  local result="$out/$1"
  [ -s "$result.json" ] && return 0
  [ -e "$2" ] || { echo "long_memory: $2 not found, $1 skipped (scripts/train_story_models.sh makes it)" >&2; return 0; }
  "$build/mosaic" bench retrieval -m "$2" --text "$stories,$wiki" --tokens "$tokens" --approx-k "$3" --approx-recent "$4" \
    --approx-min-pairs "$min_pairs" -t 1 "${@:5}" --json "$result.json.tmp" | tee "$result.txt"
  mv "$result.json.tmp" "$result.json"
}
quality quality_v1 "$model_v1" "$k_list" 32
quality quality_v2 "$model_v2" "$k_list" 32
quality quality_v1_k256 "$model_v1" 256 32 --window 128  # and exact over the training context only
quality quality_v1_w0 "$model_v1" 32 0
quality quality_v1_w128 "$model_v1" 32 128

if [ "${LM_SPEED:-1}" != 0 ]; then
  IFS=, read -r -a sizes <<< "$pairs"
  for n in "${sizes[@]}"; do
    for backend in exact approx; do
      result="$out/speed_${backend}_$n"
      [ -s "$result.json" ] && continue
      timed="${LM_TOKENS_TIMED:-32}"
      [ "$backend" = exact ] && [ "$n" -ge 1000000 ] && timed="${LM_EXACT_TOKENS:-4}"
      # A process per cell: each starts from an empty heap, so its resident bytes are its own.
      "$build/mosaic" bench generate --pairs "$n" --memory "$backend" --tokens "$timed" -t 2 --json "$result.json.tmp" |
        tee "$result.txt"
      mv "$result.json.tmp" "$result.json"
    done
  done
fi

python3 tools/long_memory_summary.py "$out" > "$out/summary.md"
echo "wrote $out/summary.md" >&2
