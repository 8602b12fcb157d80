#!/usr/bin/env python3
"""Plot training curves from mosaic's metrics.jsonl files (one curve pair per run).

usage: tools/plot_metrics.py -o docs/loss.png RUN_DIR[:LABEL] ... [--meta data/.../meta.json]
                             [--eval EVAL.json] [--table]
Train loss is drawn thin, validation loss thick (the trainer's estimate on a fixed sample of
the val split); --meta adds the unigram-entropy line; --eval marks `mosaic eval --json`'s figure
for the first run's newest checkpoint at its last step; --table also prints a Markdown table of
each run's last step, train loss and validation loss (the train loss averaged over its last five
logged steps).
Needs Debian's python3-matplotlib (scripts/setup.sh installs it).
"""
import argparse
import json
import os
import sys


def read_metrics(path):
    by_split = {"train": {}, "val": {}}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            if rec.get("split") in by_split:
                by_split[rec["split"]][rec["step"]] = rec["loss"]  # last record of a step wins (resumed runs)
    return {k: sorted(v.items()) for k, v in by_split.items()}


def pyplot():
    """matplotlib.pyplot on the Agg backend; without matplotlib, the same command again under
    Debian's /usr/bin/python3 (a pyenv or venv python3 may shadow it, and python3-matplotlib lives
    there), else one error line with a hint."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and os.path.exists("/usr/bin/python3"):
            os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
        sys.exit("error: matplotlib is missing\nhint: apt-get install python3-matplotlib (scripts/setup.sh does)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run folder (holding metrics.jsonl), optionally :LABEL")
    ap.add_argument("-o", "--out", required=True, help="output PNG")
    ap.add_argument("--meta", help="meta.json of the prepared corpus (adds the unigram entropy line)")
    ap.add_argument("--eval", help="mosaic eval --json output of the first run's newest checkpoint (marked at its last step)")
    ap.add_argument("--title", default="TinyStories: Memory Mosaic vs GPT-2 baseline")
    ap.add_argument("--table", action="store_true", help="print a Markdown table of the final losses")
    ap.add_argument("--zoom", action="store_true",
                    help="a second panel: the validation curves over the second half of training, where they differ")
    args = ap.parse_args()
    plt = pyplot()

    if args.zoom:
        fig, (ax, zoom) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
        zoom.set_title("validation, second half")
        zoom.set_xlabel("step")
        zoom.grid(alpha=0.3)
    else:
        fig, ax = plt.subplots(figsize=(8, 5))
        zoom = None
    rows = []
    last_step = None  # of the first run, where --eval's point goes
    for i, spec in enumerate(args.runs):
        run, _, label = spec.partition(":")
        path = os.path.join(run, "metrics.jsonl")
        if not os.path.exists(path):
            sys.exit(f"error: {path} does not exist\nhint: pass the out_dir of a mosaic train run")
        curves = read_metrics(path)
        if i == 0 and (curves["train"] or curves["val"]):
            last_step = max(s for s, _ in curves["train"] + curves["val"])
        label = label or os.path.basename(os.path.normpath(run))
        if curves["train"] and curves["val"]:
            last = [l for _, l in curves["train"][-5:]]
            rows.append((label, curves["val"][-1][0], sum(last) / len(last), curves["val"][-1][1]))
        color = f"C{i}"
        if curves["train"]:
            s, l = zip(*curves["train"])
            ax.plot(s, l, color=color, alpha=0.35, linewidth=1, label=f"{label} train")
        if curves["val"]:
            s, l = zip(*curves["val"])
            ax.plot(s, l, color=color, linewidth=2.2, label=f"{label} validation (estimate), last {l[-1]:.3f}")
            if zoom is not None:
                half = [(a, b) for a, b in zip(s, l) if a >= s[-1] / 2]
                zoom.plot(*zip(*half), color=color, linewidth=2.2, marker=".")
    if args.eval and last_step is not None:
        with open(args.eval) as f:
            ev = json.load(f)
        ax.plot([last_step], [ev["mean_loss"]], marker="*", markersize=13, color="C0", linestyle="none",
                label=f"mosaic eval on {ev['tokens_scored']:,} val tokens: {ev['mean_loss']:.3f}")
    if args.meta:
        with open(args.meta) as f:
            h = json.load(f).get("unigram_entropy_nats")
        if h:
            ax.axhline(h, color="gray", linestyle="--", linewidth=1, label=f"unigram entropy {h:.2f}")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_ylim(bottom=0)
    ax.set_title(args.title)
    ax.grid(alpha=0.3)
    if len(args.runs) > 3:  # many runs: the legend below the axes, where it hides no curve
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    else:
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(args.out, dpi=120, bbox_inches="tight")
    if args.table:
        print("| run | steps | train loss (last 5 logs) | validation loss |")
        print("|---|---:|---:|---:|")
        for label, step, train, val in rows:
            print(f"| {label} | {step} | {train:.3f} | {val:.3f} |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
