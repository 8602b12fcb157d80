#!/usr/bin/env python3
"""Summarise scripts/long_memory.sh's results (results/long_memory/*.json) as Markdown.

usage: tools/long_memory_summary.py results/long_memory

Quality (`mosaic bench retrieval`, one table per model and W): each approximate run against exact
retrieval on the same tokens: the loss over every position and over the positions where an
approximate query answered, the paired difference there (standard error in brackets: positions
treated as independent, a lower bound), recall@K of the index against the true top-K, and the
total-variation distance between exact and approximate weights (means over every head's queries,
and per layer).
Speed (`mosaic bench generate --pairs`, a process per cell): generated tokens/s and resident
memory per million stored pairs, with the CPU that ran it.
"""
import glob
import json
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def quality_table(name, r):
    lines = [f"**{name}**: `{r['model']}`, {r['tokens']} tokens ({' then '.join(os.path.basename(t) for t in r['texts'])}); {r['cpu']}", "",
             "| run | loss | positions approximate | loss there | exact there | difference (se) | relative | recall@K | TVD | TVD by layer |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for run in r["runs"]:
        if run["name"] == "exact":
            lines.append(f"| exact | {run['loss']:.4f} | | | | | | | | |")
            continue
        rel = 100 * run["difference"] / run["loss_exact_there"] if run["loss_exact_there"] else 0
        audited = run["queries"] > 0
        label = f"K {run['top_k']}, W {run['recent']}" if audited else run["name"]
        audit = (f"{run['recall']:.3f} | {run['tvd']:.3f} | {' '.join(f'{t:.2f}' for t in run.get('tvd_by_layer', []))}"
                 if audited else " | | ")
        lines.append(f"| {label} | {run['loss']:.4f} | {run['positions']} | {run['loss_approximate']:.4f} | "
                     f"{run['loss_exact_there']:.4f} | {run['difference']:+.4f} ({run['difference_se']:.4f}) | {rel:+.2f}% | {audit} |")
    return "\n".join(lines)


def speed_table(out):
    cells = {}
    cpu = set()
    for path in sorted(glob.glob(os.path.join(out, "speed_*.json"))):
        r = load(path)
        cpu.add(f"{r['cpu']}, {r['threads']} threads")
        for row in r["rows"]:
            for cell in row["cells"]:
                cells[(row["pairs"], cell["backend"])] = cell
    if not cells:
        return ""
    lines = [f"Speed: {'; '.join(sorted(cpu))}", "",
             "| pairs per head | exact tok/s | approx tok/s | exact MB per million pairs | approx MB per million pairs | approx prefill s |",
             "|---:|---:|---:|---:|---:|---:|"]
    for pairs in sorted({p for p, _ in cells}):
        e, a = cells.get((pairs, "exact")), cells.get((pairs, "approx"))
        fmt = lambda c, key, f: f.format(c[key]) if c else "-"
        lines.append(f"| {pairs:,} | {fmt(e, 'tokens_per_s', '{:.1f}')} | {fmt(a, 'tokens_per_s', '{:.1f}')} | "
                     f"{fmt(e, 'bytes_per_pair', '{:.0f}')} | {fmt(a, 'bytes_per_pair', '{:.0f}')} | {fmt(a, 'prefill_s', '{:.0f}')} |")
    return "\n".join(lines)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "results/long_memory"
    parts = []
    for name in ["quality_v1", "quality_v1_k256", "quality_v1_w0", "quality_v1_w128", "quality_v2"]:
        path = os.path.join(out, name + ".json")
        if os.path.exists(path):
            parts.append(quality_table(name, load(path)))
    speed = speed_table(out)
    if speed:
        parts.append(speed)
    print("\n\n".join(parts))


if __name__ == "__main__":
    main()
