#!/usr/bin/env python3
"""Plot the loss by position of `mosaic eval --per-position` CSVs (the paper's figure 10).

usage: tools/plot_positions.py -o docs/ood.png CSV[:LABEL] ... [--title T] [--logx]
       tools/plot_positions.py --difference --smooth 9 -o gap.png PAIRED.csv[:LABEL] ...
Each CSV (position,mean_loss,stderr,windows) becomes one curve with a band of +-1 standard error
(--smooth K: both as moving averages over K positions).
--difference: each argument is a `mosaic eval --vs --paired` CSV (two models on the same
windows), drawn as the first model's loss minus the second's at each position with its 95%
band (+-1.96 paired standard errors), both as moving averages over --smooth positions (the
averaged standard error bounds the standard error of the average: the band is conservative).
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


def read_paired(path):
    pos, diff, err = [], [], []
    with open(path, newline="") as f:
        rows = csv.DictReader(f)
        if rows.fieldnames is None or not {"position", "difference", "paired_stderr"} <= set(rows.fieldnames):
            sys.exit(f"error: {path} is not a mosaic eval --paired CSV\n"
                     f"hint: mosaic eval -m A --vs B TEXT --paired {path}")
        for r in rows:
            pos.append(int(r["position"]) + 1)
            diff.append(float(r["difference"]))
            err.append(float(r["paired_stderr"]))
    if not pos:
        sys.exit(f"error: {path} holds no rows\nhint: run mosaic eval --vs --paired again")
    return pos, diff, err


def moving_average(values, k):
    half = k // 2
    return [sum(values[max(0, i - half):i + half + 1]) / len(values[max(0, i - half):i + half + 1])
            for i in range(len(values))]


def plot_differences(ax, args):
    k = max(1, args.smooth)
    for spec in args.curves:
        path, _, label = spec.partition(":")
        pos, diff, err = read_paired(path)
        mean, band = moving_average(diff, k), moving_average(err, k)
        line, = ax.plot(pos, mean, label=label or path, linewidth=1.4)
        ax.fill_between(pos, [m - 1.96 * e for m, e in zip(mean, band)], [m + 1.96 * e for m, e in zip(mean, band)],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    ax.axhline(0, color="gray", linewidth=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("curves", nargs="+", help="CSV, optionally :LABEL")
    ap.add_argument("-o", "--out", required=True, help="output PNG")
    ap.add_argument("--title", default="loss by position")
    ap.add_argument("--logx", action="store_true", help="logarithmic position axis")
    ap.add_argument("--difference", action="store_true", help="plot paired differences (mosaic eval --vs --paired CSVs)")
    ap.add_argument("--smooth", type=int, default=1, help="moving average over this many positions")
    args = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("error: matplotlib is missing\nhint: sudo apt-get install python3-matplotlib")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if args.difference:
        plot_differences(ax, args)
    for spec in [] if args.difference else args.curves:
        path, _, label = spec.partition(":")
        pos, loss, err = read_curve(path)
        if args.smooth > 1:
            loss, err = moving_average(loss, args.smooth), moving_average(err, args.smooth)
        line, = ax.plot(pos, loss, label=label or path, linewidth=1.2)
        ax.fill_between(pos, [l - e for l, e in zip(loss, err)], [l + e for l, e in zip(loss, err)],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    if args.logx:
        ax.set_xscale("log")
    ax.set_xlabel("position in the window (tokens seen)")
    ax.set_ylabel("difference of mean cross-entropy (nats)" if args.difference else "mean cross-entropy (nats)")
    ax.set_title(args.title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120, bbox_inches="tight")  # a long title is not cut
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
