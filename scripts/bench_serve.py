#!/usr/bin/env python3
"""Benchmark of `mosaic serve` (docs/serve.md): total generated tokens/s and p50/p99 time to first
token at 1, 4, 8 and 16 concurrent clients, each sending streamed requests with a 64-token
prompt, beside one `mosaic sample` stream of the same model (its own generation tokens/s).
Prints a Markdown table with the CPU named; --json FILE keeps the numbers.

Usage: scripts/bench_serve.py MODEL [--binary build/mosaic] [--clients 1,4,8,16]
       [--requests 4] [--tokens 64] [--prompt-tokens 64] [--threads N] [--json FILE]
Timings mean something only on a machine with no other job running."""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time

import requests

STORY = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her "
         "friends. One day, Lily saw a big red ball under a tree. She ran to the ball and picked it up. Her friend "
         "Tom came and said, \"Can I play with the ball too?\" Lily smiled and said yes, and they played all day "
         "until the sun went down and their moms called them home for dinner. ")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(p / 100 * (len(xs) - 1)))))
    return xs[k]


def one_request(url, prompt_ids, tokens):
    """(time to first token, tokens received, seconds) of one streamed request."""
    t0 = time.perf_counter()
    first, got = None, 0
    with requests.post(url + "/v1/completions", json={"prompt": prompt_ids, "max_tokens": tokens, "ignore_eos": True,
                                                      "stream": True, "seed": 1}, stream=True, timeout=600) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            for c in chunk["choices"]:
                n = len(c.get("tokens", []))
                if n and first is None:
                    first = time.perf_counter() - t0
                got += n
    return first, got, time.perf_counter() - t0


def run_clients(url, prompt_ids, clients, per_client, tokens):
    ttfts, total = [], [0]
    lock = threading.Lock()

    def client():
        for _ in range(per_client):
            first, got, _ = one_request(url, prompt_ids, tokens)
            with lock:
                ttfts.append(first)
                total[0] += got

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"clients": clients, "tokens": total[0], "seconds": wall, "tokens_per_s": total[0] / wall,
            "ttft_p50_ms": 1000 * percentile(ttfts, 50), "ttft_p99_ms": 1000 * percentile(ttfts, 99)}


def sample_baseline(binary, model, tokens, threads):
    """One `mosaic sample` stream: its generation tokens/s from its own report on stderr."""
    args = [binary, "sample", "-m", model, "-p", STORY, "-n", str(tokens * 4), "--ignore-eos", "-s", "1"]
    if threads:
        args += ["-t", str(threads)]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    for line in out.stderr.splitlines():
        if line.startswith("generation:"):
            return float(line.split("(")[1].split()[0])
    raise RuntimeError("no generation line in mosaic sample's report:\n" + out.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "..", "build", "mosaic"))
    ap.add_argument("--clients", default="1,4,8,16")
    ap.add_argument("--requests", type=int, default=4, help="requests per client")
    ap.add_argument("--tokens", type=int, default=64, help="tokens generated per request")
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json")
    a = ap.parse_args()
    clients = [int(c) for c in a.clients.split(",")]
    flags = ["--parallel", str(max(clients)), "--max-queue", "256", "--port", "0"]
    if a.threads:
        flags += ["-t", str(a.threads)]
    server = subprocess.Popen([a.binary, "serve", "-m", a.model, *flags], stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().split(" on ")[1].split()[0].rstrip("/")
        ids = requests.post(url + "/tokenize", json={"content": STORY * 4}, timeout=60).json()["tokens"]
        prompt_ids = [50256] + ids[:a.prompt_tokens - 1]
        one_request(url, prompt_ids, 4)  # warm up
        rows = [run_clients(url, prompt_ids, c, a.requests, a.tokens) for c in clients]
    finally:
        server.terminate()
        server.wait(timeout=60)
    baseline = sample_baseline(a.binary, a.model, a.tokens, a.threads)
    print(f"mosaic serve on {cpu_name()}, {os.cpu_count()} cores; {a.model}; {a.prompt_tokens}-token prompts, "
          f"{a.tokens} tokens per request, {a.requests} requests per client")
    print(f"one `mosaic sample` stream: {baseline:.1f} tokens/s\n")
    print("| clients | total tokens/s | x one client | x sample | TTFT p50 (ms) | TTFT p99 (ms) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['clients']} | {r['tokens_per_s']:.1f} | {r['tokens_per_s'] / rows[0]['tokens_per_s']:.2f} | "
              f"{r['tokens_per_s'] / baseline:.2f} | {r['ttft_p50_ms']:.1f} | {r['ttft_p99_ms']:.1f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cpu": cpu_name(), "model": a.model, "sample_tokens_per_s": baseline, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
