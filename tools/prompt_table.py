#!/usr/bin/env python3
"""Greedy continuations of two checkpoints side by side, as a Markdown table (paper tables 1 and 5).

usage: tools/prompt_table.py A B [--prompts configs/story_prompts.txt] [-n 60] [--labels A,B] [-o FILE]
A and B are checkpoints or run folders; each prompt is continued greedily (--temp 0) by
`mosaic sample`, which stops at <|endoftext|>. The binary is build/mosaic unless --mosaic says
otherwise.
"""
import argparse
import os
import subprocess
import sys


def prompts_of(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def continuation(binary, model, prompt, n):
    r = subprocess.run([binary, "sample", "-m", model, "-p", prompt, "-n", str(n), "--temp", "0", "-t", "1"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"error: mosaic sample failed on {model}\n{r.stderr.strip()}")
    text = r.stdout.rstrip("\n")
    if not text.startswith(prompt):
        sys.exit(f"error: the sample of {model} does not start with its prompt: {text[:80]!r}")
    return text[len(prompt):]


def cell(text):
    return " ".join(text.split()).replace("|", "\\|")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--prompts", default=os.path.join(here, "..", "configs", "story_prompts.txt"))
    ap.add_argument("-n", type=int, default=60, help="tokens per continuation at most")
    ap.add_argument("--labels", default=None, help="column names, comma-separated (default: the paths)")
    ap.add_argument("--mosaic", default=os.path.join(here, "..", "build", "mosaic"), help="the mosaic binary")
    ap.add_argument("-o", "--out", default=None, help="write the table here instead of stdout")
    args = ap.parse_args()
    labels = args.labels.split(",") if args.labels else [args.a, args.b]
    if len(labels) != 2:
        sys.exit("error: --labels needs two names\nhint: --labels mosaic,gpt")
    rows = [f"| prompt | {cell(labels[0])} | {cell(labels[1])} |", "|---|---|---|"]
    for p in prompts_of(args.prompts):
        a = continuation(args.mosaic, args.a, p, args.n)
        b = continuation(args.mosaic, args.b, p, args.n)
        rows.append(f"| {cell(p)} | {cell(a)} | {cell(b)} |")
    table = "\n".join(rows) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(table)
    else:
        sys.stdout.write(table)


if __name__ == "__main__":
    main()
