#!/usr/bin/env bash
# Data-parallel training speed on this machine: the 7.2M-parameter Memory Mosaic of
# configs/tinystories_mosaic.json for STEPS steps (default 40; the first 10 are not counted) as
# 1 process x 2 threads x batch 8, then 2 processes x 1 thread with batch 4 each (the same
# global batch) and batch 8 each, with and without overlap_allreduce, and 2 processes on two
# "hosts" (network namespaces over TCP, tests/two_hosts.sh; root only). Prints one row per
# setting: ms per step, tokens/s, and the allreduce time per step (all, and not hidden by the
# backward pass). Run it on an otherwise idle machine.
#   bash scripts/bench_mpi.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps="${STEPS:-40}"
bash scripts/prepare_stories.sh "$build" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
train=("$build/mosaic" train -c configs/tinystories_mosaic.json --data_dir data/stories_all --max_iters "$steps"
       --log_interval 1 --eval_interval 0 --eval_iters 1 --checkpoint_interval 0 --sample_interval 0)
summary() {  # label, run folder
  python3 - "$1" "$2/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[2]) if '"train"' in l][10:]
n = len(rows)
ms = sum(r["ms"] for r in rows) / n
tok = sum(r["tok_s"] for r in rows) / n
comm = sum(r.get("comm_ms", 0) for r in rows) / n
exposed = sum(r.get("comm_exposed_ms", 0) for r in rows) / n
print(f"| {sys.argv[1]} | {ms:.1f} | {tok:,.0f} | {comm:.1f} | {exposed:.1f} |")
PY
}
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; steps $((steps - 10)) counted"
echo "| setting | ms/step | tokens/s | allreduce ms/step | not hidden ms/step |"
echo "|---|---:|---:|---:|---:|"
"${train[@]}" -t 2 --batch_size 8 --out_dir "$work/p1" 2>/dev/null >/dev/null
summary "1 process x 2 threads, batch 8" "$work/p1"
for batch in 4 8; do
  for overlap in true false; do
    run="$work/p2_${batch}_$overlap"
    mpirun -np 2 --oversubscribe "${train[@]}" -t 1 --batch_size "$batch" --overlap_allreduce "$overlap" \
      --out_dir "$run" 2>/dev/null >/dev/null
    summary "2 processes x 1 thread, batch $batch each, overlap $overlap" "$run"
  done
done
if [ "$(id -u)" = 0 ]; then
  for overlap in true false; do
    run="$work/hosts_$overlap"
    if bash tests/two_hosts.sh "${train[@]}" -t 1 --batch_size 8 --overlap_allreduce "$overlap" --out_dir "$run" \
      2>/dev/null >/dev/null; then
      summary "2 hosts (TCP over veth) x 1 thread, batch 8 each, overlap $overlap" "$run"
    fi
  done
fi
