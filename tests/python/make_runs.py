#!/usr/bin/env python3
"""Tiny trained runs for the Python module's tests and the example (ctest fixture python_runs).

Writes OUT/stories.txt (simple made-up stories), prepares them with `mosaic prepare` and trains a
small Memory Mosaic (OUT/mosaic) and GPT (OUT/gpt) with `mosaic train`: the binary only, so that
what the tests check in the module is not also what made their inputs. A few seconds on one core.
Usage: MOSAIC_BINARY=build/mosaic make_runs.py OUT
"""
import os
import random
import shutil
import subprocess
import sys

# Both runs: GPT-2's vocabulary with d=16, so that a step is milliseconds; `mosaic train` flags.
TINY = ["--n_layer", "2", "--n_head", "2", "--n_embd", "16", "--block_size", "32", "--pmem_size", "8",
        "--batch_size", "4", "--eval_iters", "2", "--sample_interval", "0", "--log_interval", "10",
        "--warmup_iters", "5", "--checkpoint_interval", "0", "--threads", "1", "--learning_rate", "1e-2"]
STEPS = {"mosaic": 200, "gpt": 20}


def stories(count, seed=0):
    """Short stories from a few templates: enough regularity for a tiny model to learn a little."""
    rng = random.Random(seed)
    names = ["Tom", "Lily", "Sam", "Mia", "Ben", "Anna"]
    things = ["ball", "cat", "kite", "cake", "boat", "tree"]
    feelings = ["happy", "sad", "tired", "brave", "curious"]
    out = []
    for _ in range(count):
        name, friend = rng.sample(names, 2)
        thing, feeling = rng.choice(things), rng.choice(feelings)
        out.append(f"Once upon a time, {name} had a {thing}. {name} was {feeling}. "
                   f"{friend} saw the {thing} and said, \"Can I play with your {thing}?\" "
                   f"{name} said yes, and they played all day. The end.")
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    binary = os.environ.get("MOSAIC_BINARY", "mosaic")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    with open(os.path.join(out, "stories.txt"), "w") as f:
        f.write("\n<|endoftext|>\n".join(stories(400)) + "\n")
    subprocess.run([binary, "prepare", os.path.join(out, "stories.txt"), "-o", os.path.join(out, "shards"),
                    "--val-frac", "0.1", "-q"], check=True)
    for arch, steps in STEPS.items():
        subprocess.run([binary, "train", "--arch", arch, "--data_dir", os.path.join(out, "shards"),
                        "--out_dir", os.path.join(out, arch), "--max_iters", str(steps),
                        "--lr_decay_iters", str(steps), "--eval_interval", str(steps)] + TINY, check=True)


if __name__ == "__main__":
    main()
