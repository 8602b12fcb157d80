#!/usr/bin/env python3
"""Figures for `mosaic three-moons` (paper section 3, figures 4-6) from the CSVs it writes.

Usage: plot_three_moons.py RUN_DIR [--out DIR]   (DIR defaults to RUN_DIR)
Writes three_moons_error_1head.png, three_moons_error_3head.png (error vs context length,
vertical lines at each period and at the full period lcm), three_moons_matrices.png
(|W_phi|, |W_psi|, |W_z| of the first seed, both variants), three_moons_matrices_seeds.png
(the 3-head matrices of every seed) and three_moons_loss.png. Needs matplotlib only.
"""
import argparse
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def periods_by_split(run_dir):
    out = {}
    for row in read_csv(os.path.join(run_dir, "periods.csv")):
        if row["evaluated"] == "1":
            out[row["split"]] = ([float(row[k]) for k in ("p1", "p2", "p3")], float(row["lcm"]))
    return out


def plot_errors(run_dir, out_dir, heads):
    rows = [r for r in read_csv(os.path.join(run_dir, "error_vs_context.csv")) if r["heads"] == str(heads)]
    periods = periods_by_split(run_dir)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, split in zip(axes, ("train", "val")):
        sel = [r for r in rows if r["split"] == split]
        ctx = [int(r["ctx"]) for r in sel]
        ax.plot(ctx, [float(r["repeat_last"]) for r in sel], color="0.6", ls="--", lw=1,
                label="repeat last observation")
        ax.plot(ctx, [float(r["mean_err"]) for r in sel], color="C0", lw=1.3, label="%d-head memory" % heads)
        ps, lcm = periods[split]
        for p in ps:
            ax.axvline(p, color="0.35", lw=1)
            ax.text(p, 0.93, " period %.0f" % p, rotation=90, va="top", fontsize=8, color="0.35")
        ax.axvline(lcm, color="C3", lw=1.3)
        ax.text(lcm, 0.93, " full period %.0f" % lcm, rotation=90, va="top", fontsize=8, color="C3")
        ax.set_ylim(-0.02, 1.0)
        ax.set_xlim(0, max(ctx) + 1)
        ax.set_title("%s periods (%s)" % ("training" if split == "train" else "validation",
                                         ", ".join("%.1f" % p for p in ps)))
        ax.set_xlabel("context length T")
    axes[0].set_ylabel("mean |generated - truth| over the next 25 steps")
    axes[1].legend(loc="lower left", fontsize=8)
    fig.suptitle("Three moons, %d-head network: autoregressive error vs context length" % heads)
    fig.tight_layout()
    path = os.path.join(out_dir, "three_moons_error_%dhead.png" % heads)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def matrices(run_dir):
    """{(heads, seed): {matrix: 3x3 list of |w|}}"""
    out = {}
    for r in read_csv(os.path.join(run_dir, "matrices.csv")):
        m = out.setdefault((int(r["heads"]), int(r["seed"])), {})
        grid = m.setdefault(r["matrix"], [[0.0] * 3 for _ in range(3)])
        grid[int(r["row"])][int(r["col"])] = float(r["abs"])
    return out


TITLES = {"W_phi": "$|W_\\varphi|$", "W_psi": "$|W_\\psi|$", "W_z": "$|W_z|$"}


def draw_row(fig, axes, mats, row_label, heads):
    # Rows of W_phi and W_psi (columns of W_z) are heads in the 3-head network and the three
    # complex dimensions of the single head in the 1-head network.
    inner = "head" if heads == 3 else "head dim"
    for ax, name in zip(axes, ("W_phi", "W_psi", "W_z")):
        im = ax.imshow(mats[name], cmap="viridis")
        title = TITLES[name]
        xl, yl = ("moon", inner) if name != "W_z" else (inner, "moon")
        ax.set_title("%s  %s" % (row_label, title), fontsize=9)
        ax.set_xticks(range(3))
        ax.set_yticks(range(3))
        ax.set_xlabel(xl, fontsize=8)
        ax.set_ylabel(yl, fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)


def plot_matrices(run_dir, out_dir):
    mats = matrices(run_dir)
    first = min(seed for (_, seed) in mats)
    paths = []
    fig, axes = plt.subplots(2, 3, figsize=(10, 6.4))
    for row, heads in enumerate((1, 3)):
        draw_row(fig, axes[row], mats[(heads, first)], "%d-head" % heads, heads)
    fig.suptitle("Learned weight magnitudes, seed %d (paper figure 6)" % first)
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "three_moons_matrices.png"))
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    seeds = sorted(seed for (heads, seed) in mats if heads == 3)
    status = {int(r["seed"]): r for r in read_csv(os.path.join(run_dir, "seeds.csv")) if r["heads"] == "3"}
    fig, axes = plt.subplots(len(seeds), 3, figsize=(10, 3.0 * len(seeds)), squeeze=False)
    for row, seed in enumerate(seeds):
        s = status.get(seed)
        label = "seed %d%s" % (seed, "" if s is None else " (purity %.2f)" % float(s["min_purity"]))
        draw_row(fig, axes[row], mats[(3, seed)], label, 3)
    fig.suptitle("3-head network, every seed")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    paths.append(os.path.join(out_dir, "three_moons_matrices_seeds.png"))
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)
    return paths


def plot_loss(run_dir, out_dir):
    rows = read_csv(os.path.join(run_dir, "loss.csv"))
    fig, ax = plt.subplots(figsize=(7, 4))
    runs = sorted({(int(r["heads"]), int(r["seed"])) for r in rows})
    for heads, seed in runs:
        sel = [r for r in rows if int(r["heads"]) == heads and int(r["seed"]) == seed]
        ax.plot([int(r["step"]) for r in sel], [float(r["loss"]) for r in sel], lw=0.8,
                color="C0" if heads == 1 else "C1", alpha=0.8,
                label="%d-head" % heads if seed == min(s for h, s in runs if h == heads) else None)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("clipped MSE (training batch)")
    ax.legend()
    ax.set_title("Three moons training loss, every seed")
    fig.tight_layout()
    path = os.path.join(out_dir, "three_moons_loss.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", help="the --out folder of `mosaic three-moons`")
    ap.add_argument("--out", help="where to write the PNGs (default: run_dir)")
    args = ap.parse_args()
    out_dir = args.out or args.run_dir
    os.makedirs(out_dir, exist_ok=True)
    paths = [plot_errors(args.run_dir, out_dir, 1), plot_errors(args.run_dir, out_dir, 3)]
    paths += plot_matrices(args.run_dir, out_dir)
    paths.append(plot_loss(args.run_dir, out_dir))
    for p in paths:
        print("[three-moons] wrote %s" % p, file=sys.stderr)


if __name__ == "__main__":
    main()
