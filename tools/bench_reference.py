#!/usr/bin/python3
"""Training throughput of the official PyTorch Memory Mosaics code (facebookresearch/MemoryMosaics,
nanoMosaics/), measured the way `mosaic bench train` measures ours, so that a run of both gives the
ratio ours / reference on the same machine under the same load."""

import argparse
import contextlib
import ctypes
import functools
import json
import os
import resource
import sys
import time


def fail(message, hint):
    print(f"error: {message} (hint: {hint})", file=sys.stderr)
    sys.exit(2)


try:
    import torch
    import torch.nn.functional as F
except ImportError as e:
    fail(f"cannot import torch: {e}", "sudo apt-get install python3-torch libopenblas0-openmp")

# The same models and batches as `mosaic bench train`; a "-gpt" suffix selects the GPT baseline of
# the same size (it has no persistent memory, so it ignores pmem_size).
CONFIGS = {
    "d128": dict(n_layer=4, n_head=4, n_embd=128, block_size=256, pmem_size=448, batch=8),
    "d256": dict(n_layer=6, n_head=8, n_embd=256, block_size=512, pmem_size=896, batch=4),
}
CONFIG_NAMES = [n for base in CONFIGS for n in (base, base + "-gpt")]
VOCAB = 50304  # GPT-2's 50257 tokens padded to a multiple of 64, as in the reference
TOKENS = 50257  # random ids stay inside the real vocabulary

WORKAROUNDS = """\
workarounds for torch < 2.0 (Debian's python3-torch 1.13), applied at run time, not by editing the
reference checkout:
  1. torch.nn.functional.scaled_dot_product_attention (torch >= 2.0) is missing. Without it the
     reference takes its own non-flash branch, which cannot run for the persistent memory
     (PersistentMem.forward adds to `y` before assigning it, and PersistentMem.__init__ reads
     config.ic_dropout, which MemoryMosaicConfig does not define). The script installs a
     stand-in with torch 2's semantics (boolean attn_mask: True = attend; is_causal; scale,
     default 1/sqrt(head size)), computed as softmax(q k^T * scale, masked) v, so both models run
     the reference's flash branch with the same math. On torch >= 2 the real function is kept.
  2. None other: dropout is 0, fp32 throughout, and no torch.compile (torch 1.13 lacks it).
     leaky_cuda=False is simply the reference's CPU setting (its default).

On Debian, torch runs its matmuls on the system libblas.so.3; for a fair comparison that should be
OpenBLAS's OpenMP build (see `update-alternatives --query libblas.so.3-x86_64-linux-gnu`). The
library reported is the one that provides the sgemm_ torch calls (found with dladdr)."""


@functools.lru_cache(maxsize=None)
def causal_mask(L, S):
    return torch.ones(L, S, dtype=torch.bool).tril()


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """torch 2's F.scaled_dot_product_attention for torch 1.13: plain masked softmax attention."""
    if dropout_p:
        raise NotImplementedError("this benchmark runs with dropout 0")
    if scale is None:
        scale = query.size(-1) ** -0.5
    if scale != 1:
        query = query * scale  # scaling the (T, hs) query is cheaper than the (T, T) scores
    att = query @ key.transpose(-2, -1)
    if is_causal:
        attn_mask = causal_mask(query.size(-2), key.size(-2))
    if attn_mask is not None:
        att.masked_fill_(~attn_mask, float("-inf"))  # in place: the matmul's backward does not need att
    return F.softmax(att, dim=-1) @ value


class DlInfo(ctypes.Structure):  # Dl_info from <dlfcn.h>, filled by dladdr
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def loaded_blas():
    """The file holding the sgemm_ that torch's matmuls call. Listing the mapped BLAS files is not
    enough: Debian's libtorch_cpu also links libopenblas.so.0 directly, so OpenBLAS is mapped even
    when libblas.so.3 points at another BLAS."""
    torch.ones(64, 64) @ torch.ones(64, 64)  # builds that load their BLAS lazily have loaded it now
    with open("/proc/self/maps") as maps:
        libtorch = next((line.split()[-1] for line in maps if "libtorch_cpu" in line), None)
    # Look sgemm_ up as the dynamic linker binds libtorch_cpu's calls: global scope first, then its own dependencies.
    for scope in (None, libtorch):
        sgemm = getattr(ctypes.CDLL(scope), "sgemm_", None)
        if sgemm is not None:
            info = DlInfo()
            if ctypes.CDLL(None).dladdr(ctypes.cast(sgemm, ctypes.c_void_p), ctypes.byref(info)):
                return os.path.realpath(info.dli_fname.decode())
    return "unknown (no external sgemm_ found)"


def build(name, ref):
    """The reference model for `name` and its batch size, built with the reference's own classes."""
    size = dict(CONFIGS[name.removesuffix("-gpt")])
    batch, pmem_size = size.pop("batch"), size.pop("pmem_size")
    args = dict(vocab_size=VOCAB, bias=False, dropout=0.0, **size)
    if name.endswith("-gpt"):
        return ref.gpt_model.GPT(ref.gpt_model.GPTConfig(**args)), batch
    config = ref.mosaic_model.MemoryMosaicConfig(pmem_size=pmem_size, pmem_count=1, leaky_cuda=False, **args)
    return ref.mosaic_model.MemoryMosaic(config), batch


def median(values):
    return sorted(values)[len(values) // 2]  # the upper median for an even count, as `mosaic bench train`


def measure(name, ref, warmup, steps):
    torch.manual_seed(7)
    with contextlib.redirect_stdout(sys.stderr):  # the reference prints parameter counts; stdout is for the table
        model, B = build(name, ref)
        optimizer = model.configure_optimizers(weight_decay=0.1, learning_rate=1e-4, betas=(0.9, 0.95), device_type="cpu")
    model.train()
    cfg = model.config
    T = cfg.block_size
    rng = torch.Generator().manual_seed(7)
    idx = torch.randint(0, TOKENS, (B, T), generator=rng)
    targets = torch.randint(0, TOKENS, (B, T), generator=rng)
    timings = []  # (step, forward, backward, optimizer) in seconds
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        _, loss = model(idx, targets)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        if step >= warmup:
            timings.append((t3 - t0, t1 - t0, t2 - t1, t3 - t2))
    step_ms, fwd_ms, bwd_ms, opt_ms = (1e3 * median(column) for column in zip(*timings))
    parameters = sum(p.numel() for p in model.parameters())  # parameters() yields the tied embedding once
    tokens_per_s = B * T / (step_ms / 1e3)
    flops_per_token = 6 * parameters + 12 * cfg.n_layer * cfg.n_embd * T
    return {"config": name, "tokens_per_s": tokens_per_s, "median_ms": step_ms, "forward_ms": fwd_ms,
            "backward_ms": bwd_ms, "optimizer_ms": opt_ms, "flops_per_token": flops_per_token,
            "gflops": flops_per_token * tokens_per_s / 1e9,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "parameters": parameters}


def import_reference(directory):
    source = os.path.join(directory, "nanoMosaics")
    clone_hint = "git clone https://github.com/facebookresearch/MemoryMosaics and pass its root"
    if not os.path.isdir(directory):
        fail(f"reference directory {directory} does not exist", clone_hint)
    for module in ("mosaic_model.py", "gpt_model.py"):
        if not os.path.isfile(os.path.join(source, module)):
            fail(f"{os.path.join(source, module)} not found", clone_hint)
    sys.path.insert(0, source)
    import gpt_model
    import mosaic_model
    return argparse.Namespace(gpt_model=gpt_model, mosaic_model=mosaic_model)


def main():
    parser = argparse.ArgumentParser(description=__doc__, epilog=WORKAROUNDS,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-dir", required=True, metavar="DIR", help="root of a MemoryMosaics checkout")
    parser.add_argument("--config", nargs="+", default=["d128", "d128-gpt"], metavar="NAME",
                        help=f"one or more of {', '.join(CONFIG_NAMES)} (default: d128 d128-gpt)")
    parser.add_argument("-t", "--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default: 1)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps; the median is reported (default: 5)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    for name in args.config:
        if name not in CONFIG_NAMES:
            fail(f"unknown config '{name}'", f"use {', '.join(CONFIG_NAMES)}")
    if args.threads < 1 or args.steps < 1 or args.warmup < 0:
        fail("--threads and --steps must be at least 1, --warmup at least 0", "e.g. -t 1 --steps 5 --warmup 1")

    ref = import_reference(args.reference_dir)
    if not hasattr(F, "scaled_dot_product_attention"):
        F.scaled_dot_product_attention = scaled_dot_product_attention  # workaround 1 in the epilog
    torch.set_num_threads(args.threads)
    blas = loaded_blas()
    if "openblas" not in blas or "pthread" in blas:
        print(f"warning: torch runs on {blas}, not OpenBLAS's OpenMP build, so the comparison is skewed "
              "(hint: sudo apt-get install libopenblas0-openmp && sudo update-alternatives --set "
              "libblas.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3)", file=sys.stderr)

    print(f"reference: torch {torch.__version__}, {torch.get_num_threads()} threads, BLAS {blas}")
    print(f"{'config':<10} {'params':>8} {'step ms':>9} {'fwd ms':>9} {'bwd ms':>9} {'opt ms':>9} {'tok/s':>10} "
          f"{'MFLOP/tok':>11} {'GFLOP/s':>9} {'RSS MiB':>9}")
    results = []
    for name in args.config:
        r = measure(name, ref, args.warmup, args.steps)
        results.append(r)
        print(f"{name:<10} {r['parameters'] / 1e6:7.2f}M {r['median_ms']:9.1f} {r['forward_ms']:9.1f} "
              f"{r['backward_ms']:9.1f} {r['optimizer_ms']:9.1f} {r['tokens_per_s']:10.0f} "
              f"{r['flops_per_token'] / 1e6:11.1f} {r['gflops']:9.1f} {r['peak_rss_mb']:9.0f}", flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"torch_version": torch.__version__, "blas": blas, "threads": torch.get_num_threads(),
                       "results": results}, out, indent=2)
            out.write("\n")


if __name__ == "__main__":
    main()
