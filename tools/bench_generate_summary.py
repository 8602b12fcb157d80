#!/usr/bin/env python3
"""Medians and ranges of repeated `mosaic bench generate --json` runs, as Markdown tables.

Files are grouped by name with the trailing run number dropped (quiet_new_1.json, quiet_new_2.json
-> quiet_new); each cell is the median tokens/s over the group's runs, with [min-max].

Usage: tools/bench_generate_summary.py FOLDER [--paths mosaic-stream,mosaic-batch8-all,...]"""
import argparse
import glob
import json
import os
import re
import statistics


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--paths", default="mosaic-stream,mosaic-stream-bf16,mosaic-stream-limit256,mosaic-batch8-all,gpt-kv")
    args = ap.parse_args()
    paths = args.paths.split(",")
    groups, contexts, cpu = {}, [], None
    files = sorted(glob.glob(os.path.join(args.folder, "*.json")))
    if not files:
        raise SystemExit(f"error: no .json files in {args.folder}\nhint: write them with `mosaic bench generate --json FILE`")
    for f in files:
        name = re.sub(r"_\d+$", "", os.path.splitext(os.path.basename(f))[0])
        d = json.load(open(f))
        cpu = cpu or f"{d['cpu']}, {d['simd_target']} kernels, OpenBLAS {d['blas_core']}"
        contexts = d["contexts"]
        for p in d["paths"]:
            for i, length in enumerate(d["contexts"]):
                groups.setdefault((name, p["name"], length, "generated"), []).append(p["tokens_per_s"][i])
                groups.setdefault((name, p["name"], length, "prompt"), []).append(p["prompt_tokens_per_s"][i])
    names = sorted({k[0] for k in groups})
    print(f"CPU: {cpu}")
    for kind in ("generated", "prompt"):
        print(f"\n{kind} tokens/s, median [min-max] over runs\n")
        print("| runs | context | " + " | ".join(paths) + " |")
        print("|---|---:|" + "---:|" * len(paths))
        for n in names:
            for length in contexts:
                cells = []
                for p in paths:
                    v = groups.get((n, p, length, kind), [])
                    cells.append(f"{statistics.median(v):,.0f} [{min(v):,.0f}-{max(v):,.0f}]" if v else "-")
                print(f"| {n} ({len(groups.get((n, paths[0], length, kind), []))}) | {length} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
