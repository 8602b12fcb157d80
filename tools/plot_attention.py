#!/usr/bin/env python3
"""Plot what models attend to, from `mosaic attention` CSVs (the paper's figures 12, 13, 15).

usage:
  tools/plot_attention.py maps -o maps.png MAPS_CSV:LABEL ... [--title T]
      one row of panels per CSV (a model at one context), one panel per layer, one curve per
      head: the last position's mean weight on each earlier position (figures 12 and 13)
  tools/plot_attention.py heads -o widths.png HEADS_CSV:LABEL ... [--title T]
      per head, the leaky average's time constant 1 / (1 - decay) against the recency peak's
      half-mass width (figure 15); heads without a decay (GPT) are skipped
  tools/plot_attention.py table JSON:LABEL ...
      a Markdown table from `mosaic attention --json` files: per model and context, the loss and
      the last position's mass on the last 10% of the window (mean over heads, and its range)
Needs Debian's python3-matplotlib (scripts/setup.sh installs it).
"""
import argparse
import csv
import json
import statistics
import sys
from collections import defaultdict


def split_label(arg):
    path, _, label = arg.partition(":")
    return path, label or path


def read_rows(path, needed, command):
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit(f"error: cannot read {path}: {e.strerror}\nhint: {command}")
    if not rows or not needed <= set(rows[0]):
        sys.exit(f"error: {path} is not a mosaic attention CSV\nhint: {command}")
    return rows


def read_maps(path):
    rows = read_rows(path, {"layer", "head", "position", "weight"}, f"mosaic attention -m MODEL TEXT -o {path}")
    curves = defaultdict(lambda: ([], []))  # (layer, head) -> positions, weights
    for r in rows:
        pos, w = curves[(int(r["layer"]), int(r["head"]))]
        pos.append(int(r["position"]))
        w.append(float(r["weight"]))
    return curves


def plot_maps(plt, args):
    models = [(label, read_maps(path)) for path, label in map(split_label, args.csvs)]
    layers = max(1 + max(l for l, _ in curves) for _, curves in models)
    fig, axes = plt.subplots(len(models), layers, figsize=(3.2 * layers, 2.4 * len(models)), squeeze=False,
                             sharey="row")
    for row, (label, curves) in enumerate(models):
        for (layer, head), (pos, w) in sorted(curves.items()):
            ax = axes[row][layer]
            ax.plot(pos, w, lw=0.9, label=f"head {head}")
        for layer in range(layers):
            ax = axes[row][layer]
            ax.set_title(f"{label}, layer {layer}", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.set_yscale("log")
            ax.set_ylim(bottom=1e-9)  # ALiBi's steepest heads fall to 1e-37: below this is invisible anyway
            if row == len(models) - 1:
                ax.set_xlabel("position in the window", fontsize=8)
        axes[row][0].set_ylabel("mean weight of the last position", fontsize=7)
    axes[0][-1].legend(fontsize=6)
    fig.suptitle(args.title, fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)


def plot_heads(plt, args):
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    markers = "os^vD<>"
    plotted = 0
    for i, (path, label) in enumerate(map(split_label, args.csvs)):
        rows = read_rows(path, {"layer", "head", "time_constant", "half_mass_width"},
                         f"mosaic attention -m MODEL TEXT --heads {path}")
        rows = [r for r in rows if r["time_constant"]]
        for layer in sorted({int(r["layer"]) for r in rows}):
            pts = [r for r in rows if int(r["layer"]) == layer]
            ax.scatter([float(r["time_constant"]) for r in pts], [float(r["half_mass_width"]) for r in pts],
                       marker=markers[i % len(markers)], label=f"{label}, layer {layer}", s=28)
            plotted += len(pts)
    if plotted == 0:
        sys.exit("error: no head in these CSVs has a leaky-average decay\nhint: give a Memory Mosaic's --heads CSV")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("leaky average's time constant 1 / (1 - decay), tokens")
    ax.set_ylabel("half-mass width of the last position's weights")
    ax.set_title(args.title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)


def print_table(args):
    print("| model | context | loss (nats/token) | mass on the last 10% (mean over heads) | range over heads | median half-mass width |")
    print("|---|---:|---:|---:|---:|---:|")
    for path, label in map(split_label, args.csvs):
        try:
            with open(path) as f:
                r = json.load(f)
            heads = r["heads"]
            mass = [h["mass_last_10pct"] for h in heads]
            width = statistics.median(h["half_mass_width"] for h in heads)
            print(f"| {label} | {r['context']} | {r['mean_loss']:.3f} | {statistics.mean(mass):.3f} | "
                  f"{min(mass):.3f} - {max(mass):.3f} | {width:g} |")
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"error: {path} is not a mosaic attention --json file ({e})\n"
                     f"hint: mosaic attention -m MODEL TEXT --json {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=["maps", "heads", "table"])
    ap.add_argument("csvs", nargs="+", help="CSV, optionally :LABEL")
    ap.add_argument("-o", "--out", help="output PNG (maps, heads)")
    ap.add_argument("--title", default="")
    args = ap.parse_args()
    if args.kind == "table":
        return print_table(args)
    if not args.out:
        sys.exit("error: no output file\nhint: give -o FIGURE.png")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("error: matplotlib is missing\nhint: sudo apt-get install python3-matplotlib")
    (plot_maps if args.kind == "maps" else plot_heads)(plt, args)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
