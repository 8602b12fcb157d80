#!/usr/bin/env python3
"""Figure 9 from scripts/depth_sweep.sh's paired evaluations: held-out loss against depth.

usage: tools/depth_summary.py results/depth [-o results/depth/depth.png]

Reads every mosaic_vs_<baseline>_L<blocks>.json in the folder (`mosaic eval -m
runs/depth_mosaic_L<blocks> --vs runs/depth_<baseline>_L<blocks>` on the held-out stories: both
models on the same windows) and prints a Markdown table per baseline: each model's loss and the
Memory Mosaic's minus the baseline's over the whole window, with the 95% bootstrap interval over
windows; then the change of that difference from the shallowest depth to each deeper one (the
paper's claim is about how the gap moves with depth). With -o, draws the two panels: loss against
blocks per model, and the paired difference with its interval.
One training seed per point: the intervals are over held-out windows, not over training runs.
"""
import argparse
import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_metrics import pyplot  # noqa: E402

NAMES = {"gpt_rope": "GPT-RoPE", "gpt_alibi": "GPT-ALiBi", "gpt": "GPT (learned positions)"}


def whole_window(path):
    with open(path) as f:
        r = json.load(f)
    if "paired" not in r:
        sys.exit(f"error: {path} holds no paired comparison\nhint: run mosaic eval -m A --vs B ... --json {path}")
    ranges = r["paired"]["ranges"]
    widest = max(x["end"] - x["begin"] for x in ranges)
    return next(x for x in ranges if x["end"] - x["begin"] == widest and x["begin"] == 0)


def discover(out):
    """{baseline: {blocks: whole-window paired result}} from mosaic_vs_<baseline>_L<blocks>.json."""
    found = {}
    for name in sorted(os.listdir(out)):
        m = re.fullmatch(r"mosaic_vs_(.+)_L(\d+)\.json", name)
        if m:
            found.setdefault(m.group(1), {})[int(m.group(2))] = whole_window(os.path.join(out, name))
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="scripts/depth_sweep.sh's results folder")
    ap.add_argument("-o", "--figure", help="PNG to draw")
    args = ap.parse_args()
    if not os.path.isdir(args.out):
        sys.exit(f"error: {args.out} is not a folder\nhint: give scripts/depth_sweep.sh's results folder, results/depth")
    found = discover(args.out)
    if not found:
        sys.exit(f"error: no mosaic_vs_<baseline>_L<blocks>.json in {args.out}\nhint: run scripts/depth_sweep.sh first")

    for baseline, by_depth in found.items():
        name = NAMES.get(baseline, baseline)
        depths = sorted(by_depth)
        tokens = by_depth[depths[0]]["tokens"]
        print(f"Held-out stories, {by_depth[depths[0]]['windows']} windows ({tokens:,} tokens), "
              f"Memory Mosaic against {name} (nats per token; 95% bootstrap interval over windows)\n")
        print(f"| blocks | Memory Mosaic | {name} | Memory Mosaic minus {name} |")
        print("|---:|---:|---:|---|")
        for d in depths:
            x = by_depth[d]
            print(f"| {d} | {x['mean_loss_a']:.3f} | {x['mean_loss_b']:.3f} | "
                  f"{x['difference']:+.3f} [{x['ci95'][0]:+.3f}, {x['ci95'][1]:+.3f}] |")
        if len(depths) > 1:
            # The two differences come from different models on the same windows; their standard
            # errors are added in quadrature (an approximation: it ignores the windows' correlation).
            first = by_depth[depths[0]]
            print(f"\nChange of the difference from {depths[0]} block{'s' if depths[0] > 1 else ''} "
                  "(negative: the Memory Mosaic gains more from depth; 95% normal interval)\n")
            print("| blocks | change |")
            print("|---:|---|")
            for d in depths[1:]:
                x = by_depth[d]
                c = x["difference"] - first["difference"]
                se = math.hypot(x["paired_stderr"], first["paired_stderr"])
                print(f"| {d} | {c:+.3f} [{c - 1.96 * se:+.3f}, {c + 1.96 * se:+.3f}] |")
        print()

    if args.figure:
        plt = pyplot()
        from matplotlib.ticker import ScalarFormatter
        fig, (ax, gap) = plt.subplots(1, 2, figsize=(11, 4.5))
        mosaic_drawn = False
        for i, (baseline, by_depth) in enumerate(found.items()):
            depths = sorted(by_depth)
            if not mosaic_drawn:
                ax.plot(depths, [by_depth[d]["mean_loss_a"] for d in depths], "o-", color="C0", label="Memory Mosaic")
                mosaic_drawn = True
            ax.plot(depths, [by_depth[d]["mean_loss_b"] for d in depths], "s--", color=f"C{i + 1}",
                    label=NAMES.get(baseline, baseline))
            diff = [by_depth[d]["difference"] for d in depths]
            lo = [by_depth[d]["ci95"][0] for d in depths]
            hi = [by_depth[d]["ci95"][1] for d in depths]
            gap.plot(depths, diff, "o-", color=f"C{i + 1}", label=f"minus {NAMES.get(baseline, baseline)}")
            gap.fill_between(depths, lo, hi, color=f"C{i + 1}", alpha=0.2)
        for a in (ax, gap):
            a.set_xscale("log", base=2)
            a.set_xticks(sorted({d for v in found.values() for d in v}))
            a.get_xaxis().set_major_formatter(ScalarFormatter())
            a.set_xlabel("blocks")
            a.grid(alpha=0.3)
            a.legend(fontsize="small")
        ax.set_ylabel("held-out loss (nats/token)")
        ax.set_title("held-out stories, same windows")
        gap.axhline(0, color="gray", linewidth=1)
        gap.set_ylabel("Memory Mosaic minus baseline")
        gap.set_title("paired difference, 95% bootstrap interval")
        fig.tight_layout()
        fig.savefig(args.figure, dpi=120)
        print(f"wrote {args.figure}", file=sys.stderr)  # stdout is the Markdown table


if __name__ == "__main__":
    main()
