#!/usr/bin/env bash
# Two builds' `mosaic bench generate` back to back (docs/performance.md, "Generation"): REPS
# alternating runs of each on a quiet machine, then 2 runs each with one core kept busy by a
# spinning shell loop, at the default threads and at -t 1; JSON per run in OUT, then
# tools/bench_generate_summary.py's tables in OUT/summary.md. Timings mean something only when
# nothing else runs.
#   bash scripts/bench_generate_ab.sh OLD_BINARY NEW_BINARY OUT   (REPS=3, CONTEXTS=256,4096)
set -euo pipefail
old="${1:?usage: bench_generate_ab.sh OLD_BINARY NEW_BINARY OUT}" new="${2:?}" out="${3:?}"
for b in "$old" "$new"; do
  [ -x "$b" ] || { echo "error: $b is not an executable" >&2; echo "hint: build both, e.g. git worktree add ../old OLD_COMMIT && make -C ../old build" >&2; exit 1; }
done
mkdir -p "$out"
run() {  # name binary [flags]
  local name=$1 bin=$2
  shift 2
  "$bin" bench generate --recompute-max 0 --tokens 256 --contexts "${CONTEXTS:-256,4096}" --batch 8 "$@" \
    --json "$out/$name.json" > "$out/$name.txt" 2>&1
}
for i in $(seq "${REPS:-3}"); do
  run "quiet_old_$i" "$old"
  run "quiet_new_$i" "$new"
done
sh -c 'while :; do :; done' &
spinner=$!
trap 'kill $spinner 2>/dev/null' EXIT
for i in 1 2; do
  run "busy_old_t0_$i" "$old"
  run "busy_old_t1_$i" "$old" -t 1
  run "busy_new_t0_$i" "$new"
  run "busy_new_t1_$i" "$new" -t 1
done
kill $spinner
python="$(command -v /usr/bin/python3 || command -v python3)"
"$python" "$(dirname "${BASH_SOURCE[0]}")/../tools/bench_generate_summary.py" "$out" > "$out/summary.md"
cat "$out/summary.md"
