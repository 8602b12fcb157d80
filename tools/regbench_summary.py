#!/usr/bin/python3
"""Markdown table of RegBench points (results.json files of `mosaic regbench`), seeds pooled:
per model, N and test variant, each seed's accuracy and TVD, their mean and a 95% t interval
over seeds (a seed is one training run; the test automata are the same for all), the mass on
legal letters, and the published Memory Mosaic and Transformer values at that N.

    /usr/bin/python3 tools/regbench_summary.py docs/regbench/results.json [more results.json ...]

Points of the same name in several files are counted once (the first file wins)."""

import argparse
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ood_summary import T_975  # noqa: E402
from plot_regbench import PUBLISHED, SIZES, fail, model_of  # noqa: E402

def mean_interval(values):
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, None
    half = T_975.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))
    return m, (m - half, m + half)


def cell(values):
    m, ci = mean_interval(values)
    each = ", ".join(f"{v:.3f}" for v in values)
    if ci is None:
        return f"{m:.3f}"
    return f"**{m:.3f}** [{ci[0]:.3f}, {ci[1]:.3f}] ({each})"


def published(n, which):
    if n not in SIZES:
        return ""
    i = SIZES.index(n)
    out = []
    for name in ("Memory Mosaic", "Transformer"):
        v = PUBLISHED[name][which][i]
        out.append("-" if v is None else f"{v:.3f}")
    return " / ".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="results.json files of mosaic regbench")
    a = ap.parse_args()
    points, seen = [], set()
    for path in a.results:
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            fail(f"cannot read {path}: {e}", "give results.json files written by mosaic regbench")
        for p in data.get("points", data if isinstance(data, list) else []):
            if p["name"] in seen:
                continue
            seen.add(p["name"])
            points.append(p)
    if not points:
        fail("no points in " + ", ".join(a.results), "run mosaic regbench first")
    groups = {}
    for p in points:
        key = (model_of(p), p.get("n", 0), p.get("variant", "ood"))
        groups.setdefault(key, []).append(p)
    print("| model | N | test | seeds | accuracy: mean [95% interval] (each) | TVD: mean [95% interval] (each) "
          "| legal mass | paper accuracy (MM / Transformer) | paper TVD (MM / Transformer) |")
    print("|---|---:|---|---:|---|---|---:|---|---|")
    for (model, n, variant), ps in sorted(groups.items(), key=lambda kv: (kv[0][0].startswith("ngram"), kv[0][1], kv[0][0], kv[0][2])):
        ps.sort(key=lambda p: p.get("train_seed", 0))
        acc = [p["accuracy"] for p in ps]
        tvd = [p["tvd"] for p in ps]
        mass = statistics.fmean(p["legal_mass"] for p in ps)
        is_ngram = model.startswith("ngram")
        nn = "-" if is_ngram else str(n)
        paper_a = "" if is_ngram or variant != "ood" else published(n, 0)
        paper_t = "" if is_ngram or variant != "ood" else published(n, 1)
        seeds = "-" if is_ngram else str(len(ps))
        print(f"| {model} | {nn} | {'fresh automata' if variant == 'ood' else 'training automata'} | {seeds} "
              f"| {cell(acc)} | {cell(tvd)} | {mass:.3f} | {paper_a} | {paper_t} |")


if __name__ == "__main__":
    main()
