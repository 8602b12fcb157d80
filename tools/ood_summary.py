#!/usr/bin/env python3
"""Summarise scripts/ood.sh's paired comparisons (results/ood/mosaic_vs_*.json) as Markdown.

usage: tools/ood_summary.py results/ood [--baselines gpt_rope gpt_alibi gpt] [--seeds 1337 2 3]
(without them: every baseline and seed with a mosaic_vs_<baseline>[_s<seed>]_<text>.json there)

Table 1: the Memory Mosaic's loss minus each baseline's, per text, seed and range of positions,
with the 95% bootstrap interval over documents (`mosaic eval --vs`).
Table 2: the claim of the paper's figure 10: the out-of-distribution difference minus the
in-distribution one (held-out stories), per seed (95% normal interval: the two texts are
independent samples, so their paired standard errors add in quadrature), and over seeds (mean,
and a t interval with seeds - 1 degrees of freedom when there are 2 or more seeds).
Negative = the Memory Mosaic gains more on the unfamiliar text than on the familiar one.
"""
import argparse
import json
import math
import os
import sys

T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def load(out, baseline, seed, text):
    suffix = "" if seed == "1337" else f"_s{seed}"
    path = os.path.join(out, f"mosaic_vs_{baseline}{suffix}_{text}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        r = json.load(f)
    if "paired" not in r:
        sys.exit(f"error: {path} holds no paired comparison\nhint: run mosaic eval -m A --vs B ... --json {path}")
    return {(x["begin"], x["end"]): x for x in r["paired"]["ranges"]}


def discover(out, texts):
    """Baselines and seeds of the mosaic_vs_<baseline>[_s<seed>]_<text>.json files in out."""
    baselines, seeds = [], []
    for name in sorted(os.listdir(out)):
        if not (name.startswith("mosaic_vs_") and name.endswith(".json")):
            continue
        stem, _, text = name[len("mosaic_vs_"):-len(".json")].rpartition("_")
        if text not in texts or not stem:
            continue
        head, _, tail = stem.rpartition("_s")
        baseline, seed = (head, tail) if head and tail.isdigit() else (stem, "1337")
        if baseline not in baselines:
            baselines.append(baseline)
        if seed not in seeds:
            seeds.append(seed)
    seeds.sort(key=lambda s: (s != "1337", int(s)))
    order = ["gpt_rope", "gpt_alibi", "gpt"]  # the strongest baseline first
    baselines.sort(key=lambda b: (order.index(b) if b in order else len(order), b))
    return baselines, seeds


def label(rng):
    return f"{rng[0] + 1}-{rng[1]}"  # positions as tokens seen, 1-based


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--baselines", nargs="+", help="default: every baseline with a result in OUT")
    ap.add_argument("--seeds", nargs="+", help="default: every seed with a result in OUT")
    args = ap.parse_args()
    texts = ["simplewiki", "enwiki", "stories"]
    if not os.path.isdir(args.out):
        sys.exit(f"error: {args.out} is not a folder\nhint: give scripts/ood.sh's results folder, results/ood")
    found_baselines, found_seeds = discover(args.out, texts)
    args.baselines = args.baselines or found_baselines
    args.seeds = args.seeds or found_seeds
    found = {(b, s, t): load(args.out, b, s, t) for b in args.baselines for s in args.seeds for t in texts}
    ranges = next((sorted(v) for v in found.values() if v), None)
    if ranges is None:
        sys.exit(f"error: no mosaic_vs_*.json in {args.out}\nhint: run scripts/ood.sh first")
    widest = max(r[1] - r[0] for r in ranges)
    ranges.sort(key=lambda r: (r[1] - r[0] == widest, r))  # the whole window last

    print("Memory Mosaic minus baseline (nats per token; 95% bootstrap interval over documents)\n")
    print("| baseline | seed | text | " + " | ".join(f"positions {label(r)}" for r in ranges) + " |")
    print("|---|---|---|" + "---|" * len(ranges))
    for (b, s, t), v in found.items():
        if v is None:
            continue
        cells = [f"{v[r]['difference']:+.3f} [{v[r]['ci95'][0]:+.3f}, {v[r]['ci95'][1]:+.3f}]" for r in ranges]
        print(f"| {b} | {s} | {t} | " + " | ".join(cells) + " |")

    print("\nOut-of-distribution advantage minus in-distribution advantage (the difference on the text "
          "minus the difference on held-out stories; 95% interval)\n")
    print("| baseline | text | seed | " + " | ".join(f"positions {label(r)}" for r in ranges) + " |")
    print("|---|---|---|" + "---|" * len(ranges))
    for b in args.baselines:
        for t in ("simplewiki", "enwiki"):
            per_seed = {r: [] for r in ranges}
            for s in args.seeds:
                ood, ind = found[(b, s, t)], found[(b, s, "stories")]
                if ood is None or ind is None:
                    continue
                cells = []
                for r in ranges:
                    d = ood[r]["difference"] - ind[r]["difference"]
                    se = math.hypot(ood[r]["paired_stderr"], ind[r]["paired_stderr"])
                    per_seed[r].append(d)
                    cells.append(f"{d:+.3f} [{d - 1.96 * se:+.3f}, {d + 1.96 * se:+.3f}]")
                print(f"| {b} | {t} | {s} | " + " | ".join(cells) + " |")
            n = len(per_seed[ranges[0]])
            if n >= 2:
                cells = []
                for r in ranges:
                    xs = per_seed[r]
                    mean = sum(xs) / n
                    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
                    h = T_975.get(n - 1, 1.96) * sd / math.sqrt(n)
                    cells.append(f"{mean:+.3f} [{mean - h:+.3f}, {mean + h:+.3f}]")
                print(f"| {b} | {t} | mean of {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
