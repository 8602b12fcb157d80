#!/usr/bin/env bash
# All the stories of ../shared/data/tinystories (train.txt and extra_maxme1.txt) as token
# shards in data/stories_all, valid.txt held out as its validation split: the corpus of the
# results page's models. Skipped when done.
#   bash scripts/prepare_stories.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
shared="../shared/data"
data="data/stories_all"
[ -s "$shared/tinystories/extra_maxme1.txt" ] || {
  echo "error: $shared/tinystories/extra_maxme1.txt is missing" >&2
  echo "hint: the story models train on ../shared/data beside the checkout" >&2
  exit 1
}
bash scripts/get_data.sh
if [ ! -f "$data/meta.json" ]; then
  "$build/mosaic" prepare data/tinystories/train.txt "$shared/tinystories/extra_maxme1.txt" \
    --val data/tinystories/valid.txt -o "$data"
fi
