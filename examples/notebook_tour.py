#!/usr/bin/env python3
"""What a notebook does with `import mosaic`: load a run, sample from it, plot its loss at each
position of the window and one attention map, and watch a Memory Mosaic's memory grow.

    PYTHONPATH=build/python python3 examples/notebook_tour.py runs/main --text data/tinystories/valid.txt

Writes loss_by_position.png and attention.png to --out (default: the current folder). `make test`
runs it on a tiny model (tests/python/make_runs.py) with matplotlib's Agg backend.
"""
import argparse
import os

import matplotlib.pyplot as plt
import numpy as np

import mosaic

STORY = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the sun. "
         "One day, she saw a big red ball in the park. She ran to the ball and kicked it high.")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a run folder (its newest checkpoint) or a model file")
    parser.add_argument("--text", help="text to score (default: a short story, repeated)")
    parser.add_argument("--out", default=".", help="folder for the figures")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    model = mosaic.load(args.run)
    print(model)
    print("config:", {k: model.config[k] for k in ("arch", "n_layer", "n_head", "n_embd", "block_size")})
    print("sample:", "Once upon a time" + model.generate("Once upon a time", max_tokens=40, seed=1))

    # The loss at each position of the window, averaged over the text's windows (as `mosaic eval
    # --per-position`): a model that learns in context keeps improving along the window.
    text = open(args.text, encoding="utf-8").read() if args.text else " ".join([STORY] * 8)
    result = model.evaluate(text, context=model.block_size)
    print(f"loss {result['mean_loss']:.3f} nats/token over {result['windows']} windows of {result['context']}")
    position = np.arange(result["context"])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(position, result["position_loss"])
    ax.fill_between(position, result["position_loss"] - 2 * result["position_stderr"],
                    result["position_loss"] + 2 * result["position_stderr"], alpha=0.3)
    ax.set(xlabel="position in the window", ylabel="loss (nats/token)", title="loss by position")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "loss_by_position.png"), dpi=100)

    # What the last position of a window attends to, per head of the last layer (as `mosaic
    # attention`): a (layers, heads, positions) array, one row per head here.
    maps = model.attention(text, context=model.block_size, windows=64)
    last = maps[-1]
    fig, ax = plt.subplots(figsize=(6, 0.6 * last.shape[0] + 1.5))
    image = ax.imshow(last, aspect="auto", cmap="viridis")
    ax.set(xlabel="position in the window (the last one asks)", ylabel="head", yticks=range(last.shape[0]),
           title=f"layer {maps.shape[0] - 1}: attention of the last position")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "attention.png"), dpi=100)

    # A stream keeps its memory between calls: each token fed stores one more (key, value) pair
    # per head (a GPT: one more KV-cache entry, up to its window).
    stream = model.start_stream(seed=1)
    for sentence in STORY.split(". "):
        stream.feed(sentence + ". ")
        print(f"{stream.position:4d} tokens fed: {stream.memory_size().sum(axis=1)} entries per layer")
    print("wrote", os.path.join(args.out, "loss_by_position.png"), "and", os.path.join(args.out, "attention.png"))


if __name__ == "__main__":
    main()
