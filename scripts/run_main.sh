#!/usr/bin/env bash
# The main job (`make run`): verify this build against the official PyTorch code on the parity
# fixtures (forward, every gradient, 10 AdamW steps with the loss falling, greedy decoding).
set -euo pipefail
build="${1:-build}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fixtures=("$repo_root"/../shared/reference/*.safetensors)
if [ ! -e "${fixtures[0]}" ]; then
  echo "error: no parity fixtures under ../shared/reference" >&2
  echo "hint: they ship beside the project checkout; run '$build/mosaic check FILE.safetensors' on your own" >&2
  exit 1
fi
"$build/mosaic" check "${fixtures[@]}"
