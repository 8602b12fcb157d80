#!/usr/bin/python3
"""Checks a mosaic model file against the official PyTorch code: loads it into the reference
model with load_state_dict(strict=True), runs the reference on a batch of real tokens, and
writes a parity fixture in the format of ../shared/reference (README there) for `mosaic check`.

    tools/torch_fixture.py --reference-dir MemoryMosaics runs/x/ckpt_N.safetensors \\
        --tokens data/tinystories_gpt2/val.bin -o /tmp/fixture.safetensors
    build/mosaic check /tmp/fixture.safetensors

So the strict load is the first check (a missing or unexpected key, or a wrong shape, is an
error here), and `mosaic check` is the second: logits, loss, every gradient, ten AdamW steps
and a greedy continuation, ours against the reference's on the model's trained weights."""

import argparse
import contextlib
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_reference as ref_tools  # torch import with a hint, the reference import, torch < 2 stand-in  # noqa: E402
from bench_reference import fail, torch  # noqa: E402

import numpy as np  # noqa: E402

DTYPES = {"F32": np.float32, "I32": np.int32, "I64": np.int64, "F16": np.float16, "BOOL": np.bool_}
ADAMW = {"lr": 1e-3, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1}


def read_safetensors(path):
    """(tensors as numpy arrays, metadata dict) of a safetensors file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n])
    except (OSError, ValueError, struct.error) as e:
        fail(f"cannot read {path}: {e}", "pass a model file written by mosaic train")
    metadata = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        if info["dtype"] not in DTYPES:
            fail(f"{path}: tensor {name} has dtype {info['dtype']}", "mosaic writes F32 model files")
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[base + begin:base + end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}[array.dtype]
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        blobs.append(array.tobytes())
        offset += array.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # data starts 8-aligned
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    os.replace(path + ".tmp", path)


def adamw_losses(model, optimizer, idx, targets, steps):
    """The loss before each of `steps` optimizer steps on the same batch (the fixture's train.losses)."""
    losses = []
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        _, step_loss = model(idx, targets)
        losses.append(step_loss.item())
        step_loss.backward()
        optimizer.step()
    return losses


def build_model(ref, arch, config):
    """The reference model of this arch and config (a dict of the reference's field names)."""
    fields = {k: v for k, v in config.items() if k != "arch"}
    with contextlib.redirect_stdout(sys.stderr):  # the reference prints parameter counts
        if arch == "gpt":
            fields = {k: v for k, v in fields.items() if k not in ("pmem_size", "pmem_count")}
            return ref.gpt_model.GPT(ref.gpt_model.GPTConfig(**fields))
        return ref.mosaic_model.MemoryMosaic(ref.mosaic_model.MemoryMosaicConfig(**fields))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a mosaic model file (ckpt_N.safetensors, not the .state file)")
    parser.add_argument("--reference-dir", required=True, metavar="DIR", help="root of a MemoryMosaics checkout")
    parser.add_argument("--tokens", required=True, metavar="FILE", help="a token shard (llm.c .bin) for the batch")
    parser.add_argument("-o", "--out", required=True, metavar="FILE", help="the fixture to write")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=0, help="default: the model's block_size")
    args = parser.parse_args()

    ref = ref_tools.import_reference(args.reference_dir)
    if not hasattr(torch.nn.functional, "scaled_dot_product_attention"):
        torch.nn.functional.scaled_dot_product_attention = ref_tools.scaled_dot_product_attention
    torch.set_num_threads(os.cpu_count())

    tensors, metadata = read_safetensors(args.model)
    if "config" not in metadata or "arch" not in metadata:
        fail(f"{args.model} has no config/arch metadata", "pass a model file written by mosaic train")
    arch, config = metadata["arch"], json.loads(metadata["config"])
    model = build_model(ref, arch, config)
    state = {name: torch.from_numpy(array.copy()) for name, array in tensors.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        fail(f"strict load_state_dict failed: {e}", "the model file does not match the reference's state_dict")
    print(f"{args.model}: strict load_state_dict into the reference {arch} model: ok", file=sys.stderr)

    # One batch of consecutive tokens: the llm.c shard header is 256 int32, then uint16 tokens.
    T = args.seq_len or config["block_size"]
    B = args.batch
    raw = np.fromfile(args.tokens, dtype=np.uint16, offset=1024) if os.path.exists(args.tokens) else None
    if raw is None or raw.size < B * (T + 1):
        fail(f"{args.tokens}: missing or shorter than {B * (T + 1)} tokens", "pass a shard from mosaic prepare")
    window = torch.from_numpy(raw[:B * (T + 1)].astype(np.int64)).view(B, T + 1)
    idx, targets = window[:, :T].contiguous(), window[:, 1:].contiguous()

    named = dict(model.named_parameters())  # the tied head appears once, as wte
    initial = {name: p.detach().clone() for name, p in named.items()}
    model.train()
    logits, loss = model(idx, targets)
    loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in named.items()}

    optimizer = model.configure_optimizers(ADAMW["weight_decay"], ADAMW["lr"], tuple(ADAMW["betas"]), "cpu")
    for group in optimizer.param_groups:
        group["eps"] = ADAMW["eps"]
    losses = adamw_losses(model, optimizer, idx, targets, 10)

    with torch.no_grad():  # greedy continuation by full recomputation, on the initial weights
        for name, p in named.items():
            p.copy_(initial[name])
        sequence = idx[0, :6].tolist()
        prompt = list(sequence)
        for _ in range(6):
            context = torch.tensor([sequence[-config["block_size"]:]])
            next_logits, _ = model(context)
            sequence.append(int(next_logits[0, -1].argmax()))

    out = {f"param.{n}": v.numpy() for n, v in initial.items()}
    out.update({f"grad.{n}": g.numpy() for n, g in grads.items()})
    out["input.idx"] = idx.numpy().astype(np.int32)
    out["input.targets"] = targets.numpy().astype(np.int32)
    out["output.logits"] = logits.detach().numpy()
    out["output.loss"] = np.array(loss.item(), dtype=np.float32)
    out["train.losses"] = np.array(losses, dtype=np.float32)
    out["greedy.prompt"] = np.array(prompt, dtype=np.int32)
    out["greedy.tokens"] = np.array(sequence[len(prompt):], dtype=np.int32)
    write_safetensors(args.out, out, {
        "arch": arch, "config": json.dumps(config), "batch": str(B), "seq_len": str(T),
        "adamw": json.dumps(ADAMW), "torch": torch.__version__, "source": os.path.basename(args.model)})
    print(f"wrote {args.out}: loss {loss.item():.4f}; now run: mosaic check {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
