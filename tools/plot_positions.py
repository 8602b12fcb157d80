#!/usr/bin/env python3
"""Plot the loss by position of `mosaic eval --per-position` CSVs (the paper's figure 10).

usage: tools/plot_positions.py -o docs/ood.png CSV[:LABEL] ... [--title T] [--logx]
Each CSV (position,mean_loss,stderr,windows) becomes one curve with a band of +-1 standard error.
Needs Debian's python3-matplotlib (scripts/setup.sh installs it).
"""
import argparse
import csv
import sys


def read_curve(path):
    pos, loss, err = [], [], []
    with open(path, newline="") as f:
        rows = csv.DictReader(f)
        if rows.fieldnames is None or not {"position", "mean_loss", "stderr"} <= set(rows.fieldnames):
            sys.exit(f"error: {path} is not a mosaic eval --per-position CSV\nhint: mosaic eval -m MODEL TEXT --per-position {path}")
        for r in rows:
            pos.append(int(r["position"]) + 1)  # the number of tokens seen, 1-based
            loss.append(float(r["mean_loss"]))
            err.append(float(r["stderr"]))
    if not pos:
        sys.exit(f"error: {path} holds no rows\nhint: run mosaic eval --per-position again")
    return pos, loss, err


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("curves", nargs="+", help="CSV, optionally :LABEL")
    ap.add_argument("-o", "--out", required=True, help="output PNG")
    ap.add_argument("--title", default="loss by position")
    ap.add_argument("--logx", action="store_true", help="logarithmic position axis")
    args = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("error: matplotlib is missing\nhint: sudo apt-get install python3-matplotlib")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for spec in args.curves:
        path, _, label = spec.partition(":")
        pos, loss, err = read_curve(path)
        line, = ax.plot(pos, loss, label=label or path, linewidth=1.2)
        ax.fill_between(pos, [l - e for l, e in zip(loss, err)], [l + e for l, e in zip(loss, err)],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    if args.logx:
        ax.set_xscale("log")
    ax.set_xlabel("position in the window (tokens seen)")
    ax.set_ylabel("mean cross-entropy (nats)")
    ax.set_title(args.title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
