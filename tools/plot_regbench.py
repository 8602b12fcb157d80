#!/usr/bin/python3
"""Figure of a RegBench run (paper figure 11): accuracy and total variation distance against the
number of training automata, for our models (results.json of `mosaic regbench`) beside the
published curves of the official figure.

    /usr/bin/python3 tools/plot_regbench.py docs/regbench/results.json -o docs/regbench/regbench.png

The published points were read by eye off facebookresearch/MemoryMosaics ICLL/figure/dfa_tvd.png
(about +-0.01; None where a marker is hidden behind others). That figure's TVD is half the L1
distance, as seq_icl's read_results_local.ipynb computes it (its training log, model_dfa_diff,
is the L1 distance itself)."""

import argparse
import json
import sys

SIZES = [100, 500, 1000, 2500, 40000]
# name: (accuracy, TVD) at SIZES
PUBLISHED = {
    "Memory Mosaic": ([0.925, 0.929, 0.935, 0.940, 0.960], [0.570, 0.254, 0.216, 0.186, 0.122]),
    "Transformer": ([0.524, 0.544, 0.534, 0.926, 0.952], [0.684, 0.642, 0.633, 0.232, 0.145]),
    "Mamba": ([0.378, 0.579, 0.716, 0.866, 0.915], [0.752, 0.606, 0.484, 0.342, 0.271]),
    "GLA": ([0.354, 0.465, 0.519, 0.520, 0.927], [0.777, 0.695, 0.654, 0.619, 0.186]),
    "LSTM": ([0.424, None, 0.506, 0.629, 0.807], [0.735, 0.666, None, 0.533, 0.364]),
    "S4": ([0.498, 0.531, 0.520, 0.544, 0.824], [0.682, 0.632, 0.628, 0.603, 0.337]),
}
MARKERS = {"Mamba": "s", "GLA": "h", "LSTM": "d", "S4": ">"}
OURS = {"mosaic": ("Memory Mosaic (ours)", "#d40000"), "mosaic_v2": ("Memory Mosaic v2 (ours)", "#8b008b"),
        "gpt": ("GPT (ours)", "#1f4e9c")}
NGRAM_STYLE = {2: ":", 3: "--", 4: "-."}


def model_of(p):
    return p.get("model", p["arch"])  # results written before models were named by their config


def fail(message, hint):
    print(f"error: {message}\nhint: {hint}", file=sys.stderr)
    sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="results.json written by mosaic regbench")
    parser.add_argument("-o", "--out", required=True, help="the PNG to write")
    parser.add_argument("--extra", action="append", default=[], metavar="RESULTS:LABEL",
                        help="also the trained points of another results.json (a longer run, a variant) as open "
                             "markers, with this label, and its n-gram counters if RESULTS has none; repeatable")
    args = parser.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        fail("matplotlib is not installed", "apt-get install python3-matplotlib and run /usr/bin/python3")
    try:
        with open(args.results) as f:
            points = json.load(f)["points"]
    except (OSError, ValueError, KeyError) as e:
        fail(f"cannot read {args.results}: {e}", "pass the results.json of a mosaic regbench run")

    extras = []  # (label, points)
    for spec in args.extra:
        path, sep, name = spec.rpartition(":")
        if not sep or not path or not name:
            fail(f"--extra {spec}: expected RESULTS:LABEL", "e.g. --extra docs/regbench/relabel/results.json:'letters renamed'")
        try:
            with open(path) as f:
                extra = json.load(f)["points"]
        except (OSError, ValueError, KeyError) as e:
            fail(f"cannot read {path}: {e}", "pass the results.json of a mosaic regbench run")
        extras.append((name, [p for p in extra if p["arch"] != "ngram" and p["variant"] == "ood"]))
        have = {p["model"] for p in points if p["arch"] == "ngram"}
        points += [p for p in extra if p["arch"] == "ngram" and p["model"] not in have]  # the counters, once

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, which, label in ((axes[0], 0, "accuracy (argmax is a legal letter)"),
                             (axes[1], 1, "total variation distance")):
        for name, curves in PUBLISHED.items():
            xs = [n for n, v in zip(SIZES, curves[which]) if v is not None]
            ys = [v for v in curves[which] if v is not None]
            mm = name == "Memory Mosaic"
            ax.plot(xs, ys, linestyle=":" if mm or name == "Transformer" else "-", marker=MARKERS.get(name, "."),
                    color="#e08080" if mm else ("#8090c0" if name == "Transformer" else "#b0b8b0"),
                    linewidth=1.5 if mm or name == "Transformer" else 1, label=f"{name} (published)")
        for p in points:
            if p["arch"] == "ngram":  # no training: one level across every N
                order = int(p["model"][len("ngram"):])
                ax.axhline(p["accuracy"] if which == 0 else p["tvd"], color="#2e8b57", linewidth=1.2,
                           linestyle=NGRAM_STYLE.get(order, (0, (1, 3))), label=f"in-context {order}-gram counter (ours)")
        for model, (name, color) in OURS.items():
            by_n = {}  # several training seeds at one N: the line goes through their mean
            for p in points:
                if model_of(p) == model and p["variant"] == "ood":
                    by_n.setdefault(p["n"], []).append(p["accuracy"] if which == 0 else p["tvd"])
            if by_n:
                ns = sorted(by_n)
                ax.plot(ns, [sum(by_n[n]) / len(by_n[n]) for n in ns], marker="o", color=color, linewidth=2.5, label=name)
                for n in ns:
                    if len(by_n[n]) > 1:
                        ax.plot([n] * len(by_n[n]), by_n[n], marker="_", markersize=12, color=color, linestyle="none")
            for p in points:
                if model_of(p) == model and p["variant"] == "iid":
                    ax.plot([p["n"]], [p["accuracy"] if which == 0 else p["tvd"]], marker="*", markersize=13,
                            color=color, linestyle="none", label=f"{name}, IID test (table 4)")
        k = 0  # one open marker per (file, model), coloured by architecture
        for name, extra in extras:
            for model in dict.fromkeys(model_of(p) for p in extra):
                mine = [p for p in extra if model_of(p) == model]
                color = OURS.get("mosaic_v2" if "v2" in model else mine[0]["arch"], ("", "#555555"))[1]
                ax.plot([p["n"] for p in mine], [p["accuracy"] if which == 0 else p["tvd"] for p in mine],
                        marker="osD^v"[k % 5], markersize=9, markerfacecolor="none", markeredgewidth=1.8, color=color,
                        linestyle="none", label=f"{model} ({name})")
                k += 1
        ax.set_xscale("log")
        ax.set_xlabel("training automata N")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle("RegBench in-context language learning: ours (solid, measured) and the paper's (published)")
    fig.tight_layout(rect=(0, 0.14, 1, 0.95))
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
