#!/usr/bin/env python3
"""Plot the loss by position of `mosaic eval --per-position` CSVs (the paper's figure 10).

usage: tools/plot_positions.py -o docs/ood.png CSV[:LABEL] ... [--title T] [--logx]
       tools/plot_positions.py --difference --smooth 9 -o gap.png A.csv,B.csv[:LABEL] ...
Each CSV (position,mean_loss,stderr,windows) becomes one curve with a band of +-1 standard error.
--difference: each argument is a pair A,B of CSVs over the same documents, drawn as A's loss
minus B's at each position (a moving average over --smooth positions), with a zero line.
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


def plot_differences(ax, args):
    k = max(1, args.smooth)
    for spec in args.curves:
        pair, _, label = spec.partition(":")
        if pair.count(",") != 1:
            sys.exit(f"error: {pair} is not a pair A.csv,B.csv\nhint: --difference takes A.csv,B.csv[:LABEL] arguments")
        (pa, la, _), (pb, lb, _) = (read_curve(p) for p in pair.split(","))
        b_at = dict(zip(pb, lb))
        pos = [p for p in pa if p in b_at]
        diff = [la[pa.index(p)] - b_at[p] for p in pos]
        half = k // 2
        smooth = [sum(diff[max(0, i - half):i + half + 1]) / len(diff[max(0, i - half):i + half + 1]) for i in range(len(diff))]
        ax.plot(pos, smooth, label=label or pair, linewidth=1.4)
    ax.axhline(0, color="gray", linewidth=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("curves", nargs="+", help="CSV, optionally :LABEL")
    ap.add_argument("-o", "--out", required=True, help="output PNG")
    ap.add_argument("--title", default="loss by position")
    ap.add_argument("--logx", action="store_true", help="logarithmic position axis")
    ap.add_argument("--difference", action="store_true", help="plot A - B for each pair A.csv,B.csv")
    ap.add_argument("--smooth", type=int, default=1, help="moving average over this many positions (--difference)")
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
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
