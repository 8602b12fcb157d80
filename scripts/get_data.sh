#!/usr/bin/env bash
# Makes the TinyStories text available as <repo>/data/tinystories/{train,valid}.txt: copied from
# <repo>/../shared/data/tinystories/ when present, else downloaded from Hugging Face. Idempotent.
# Not a tokenizer step (that is `mosaic prepare`); data/ is git-ignored: never commit corpus text.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$repo_root/data/tinystories"
shared="$repo_root/../shared/data/tinystories"
hf="https://huggingface.co/datasets/roneneldan/TinyStories/resolve/main"

have_all() { [ -s "$dest/train.txt" ] && [ -s "$dest/valid.txt" ]; }

if have_all; then
  echo "get_data: $dest/train.txt and valid.txt already present" >&2
  exit 0
fi
mkdir -p "$dest"

# 1. The shared copy (a 3.5 MB subset of real TinyStories; its README holds the license notice).
if [ -s "$shared/train.txt" ] && [ -s "$shared/valid.txt" ]; then
  for f in train.txt valid.txt README.md; do
    [ -f "$shared/$f" ] || continue
    cp "$shared/$f" "$dest/$f.part.$$"
    chmod 644 "$dest/$f.part.$$"           # the shared copies are read-only
    mv -f "$dest/$f.part.$$" "$dest/$f"   # atomic: a reader never sees half a file
  done
  echo "get_data: copied TinyStories from $shared to $dest" >&2
  exit 0
fi

fail() {
  echo "error: $1" >&2
  echo "hint: put TinyStories text (stories separated by lines '<|endoftext|>') in $dest/train.txt" \
       "and $dest/valid.txt, or pass any .txt/.json/.jsonl files to 'mosaic prepare INPUT... --val FILE'" >&2
  exit 1
}

# 2. The official files (train: about 1.9 GB, valid: about 19 MB).
command -v curl >/dev/null 2>&1 || fail "no shared copy in $shared and curl is not installed"
if ! curl -fsSIL --connect-timeout 10 --max-time 30 -o /dev/null "$hf/TinyStories-valid.txt"; then
  fail "no shared copy in $shared, and huggingface.co does not answer (offline or blocked)"
fi
download() {  # download URL FILE: resumable into FILE.part, renamed when complete
  echo "get_data: downloading $1" >&2
  curl -fL --connect-timeout 10 --retry 3 -C - -o "$2.part" "$1" \
    || fail "download of $1 failed (a partial file is kept in $2.part; rerun to resume)"
  mv -f "$2.part" "$2"
}
[ -s "$dest/valid.txt" ] || download "$hf/TinyStories-valid.txt" "$dest/valid.txt"
[ -s "$dest/train.txt" ] || download "$hf/TinyStories-train.txt" "$dest/train.txt"
echo "get_data: TinyStories (CDLA-Sharing-1.0, roneneldan/TinyStories) is in $dest" >&2
