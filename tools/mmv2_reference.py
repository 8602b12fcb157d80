#!/usr/bin/python3
"""Memory Mosaics v2 (Zhang & Bottou, "Memory Mosaics at scale", arXiv 2507.03285) as a plain
PyTorch module written from the paper's equations, and a parity fixture from it for
`mosaic check`. No public v2 code exists; this module is the independent check of ours: it is
written from sections 3-4 and table 6 of the paper, with dense T x T masks and Python loops
where our C++ uses scans, tiles and streams.

    /usr/bin/python3 tools/mmv2_reference.py -o tests/fixtures/mmv2.safetensors
    /usr/bin/python3 tools/mmv2_reference.py --ablations -o tests/fixtures/mmv2_ablations.safetensors
    build/mosaic check tests/fixtures/mmv2.safetensors

(Debian's python3-torch.) The fixture has the format of ../shared/reference (README there):
initial parameters under our names, one batch, the logits, the loss, every gradient, the losses
of 10 AdamW steps on that batch and a greedy continuation by full recomputation.

The equations, per block l (pre-norm residual, LayerNorm as v1; the paper does not name its norm):
  keys (eq. 8):    kt_T = W_k x_T; kb_T = g_T kt_T + lambda_T kb_{T-1}, kb_{-1} = 0,
                   g_T = exp(W_g x_T), lambda_T = exp(-|W_lambda x_T|) (one scalar per head and
                   step); k_T = kb_T / (|kb_T| + 1e-10) per head. Ablation (--ablations): v1's
                   kb_T = kt_T + exp(-10 |b_h|) kb_{T-1}.
  values (eq. 9):  vt_T = W_v x_T; vb_T = c_h vt_T + (1 - c_h) vt_{T+1} (vt past the end = 0);
                   v_T = exp(min(|s_h|, 15)) vb_T / (|vb_T| + 1e-10).
  retrieval:       y_i = sum_j softmax_j(beta_h(n_i) k_i . k_j) v_j over the visible j, y_i = 0
                   when none is visible; n_i = the number visible.
  bandwidth (eq. 6, table 6): beta(n) = exp(min(t1, 10)) n^min(|ta|, 1) + exp(min(t0, 10));
                   ablation: exp(min(t1, 10)) + exp(min(t0, 10)).
  memories:        short-term: j in [i - h + 1, i - 1]; long-term: j <= i - m (m = the training
                   delay in training passes, long_term_delay otherwise); each its own keys,
                   values and bandwidth; attn(x) = W_o [y_short, y_long].
  persistent:      w2(SiLU(w1 x) * w3 x).
  head:            logits = ln_f(x) wte^T (tied), mean cross-entropy over targets != -1.
The fixture fixes the training delay (long_term_delay_min = max): our trainer draws it from its
own random stream, which a second implementation cannot share."""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_fixture import adamw_losses, write_safetensors  # noqa: E402

ADAMW = {"lr": 1e-3, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1}
NORM_EPS = 1e-10


def unit(x):
    """x / (|x| + 1e-10) over the last dimension."""
    return x / (x.norm(dim=-1, keepdim=True) + NORM_EPS)


class LeakyAverage(nn.Module):
    def __init__(self, n_head):
        super().__init__()
        self.leaky_key_beta = nn.Parameter(torch.zeros(1, n_head, 1, 1))


class KeyExtractor(nn.Module):
    def __init__(self, n_embd, n_head, bias, gated):
        super().__init__()
        self.n_head, self.gated = n_head, gated
        self.W_k = nn.Linear(n_embd, n_embd, bias=bias)
        if gated:
            self.W_g = nn.Linear(n_embd, n_head, bias=False)
            self.W_lambda = nn.Linear(n_embd, n_head, bias=False)
        else:
            self.leaky_avg = LeakyAverage(n_head)

    def forward(self, x):  # (B, T, C) -> (B, H, T, hs)
        B, T, C = x.shape
        kt = self.W_k(x).view(B, T, self.n_head, C // self.n_head)
        if self.gated:
            gate = torch.exp(self.W_g(x))                   # (B, T, H)
            decay = torch.exp(-torch.abs(self.W_lambda(x)))
        else:
            gate = torch.ones(B, T, self.n_head)
            decay = torch.exp(-10 * torch.abs(self.leaky_avg.leaky_key_beta.view(1, 1, -1))).expand(B, T, -1)
        rows, previous = [], torch.zeros_like(kt[:, 0])
        for t in range(T):
            previous = gate[:, t, :, None] * kt[:, t] + decay[:, t, :, None] * previous
            rows.append(previous)
        return unit(torch.stack(rows, dim=2))


class ValueExtractor(nn.Module):
    def __init__(self, n_embd, n_head, bias):
        super().__init__()
        self.n_head = n_head
        self.W_v = nn.Linear(n_embd, n_embd, bias=bias)
        self.coef = nn.Parameter(torch.zeros(1, n_head, 1, 1))
        self.val_scale = nn.Parameter(torch.zeros(1, n_head, 1, 1))

    def forward(self, x):  # (B, T, C) -> (B, H, T, hs)
        B, T, C = x.shape
        vt = self.W_v(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        ahead = torch.cat([vt[:, :, 1:], torch.zeros_like(vt[:, :, :1])], dim=2)
        vb = self.coef * vt + (1 - self.coef) * ahead
        return torch.exp(torch.clamp(torch.abs(self.val_scale), max=15)) * unit(vb)


class Bandwidth(nn.Module):
    def __init__(self, n_head, adaptive):
        super().__init__()
        self.adaptive = adaptive
        self.beta0 = nn.Parameter(torch.zeros(n_head))
        self.beta1 = nn.Parameter(torch.zeros(n_head))
        if adaptive:
            self.alpha = nn.Parameter(torch.zeros(n_head))

    def forward(self, n):  # n (T,) -> beta (H, T)
        b0 = torch.exp(torch.clamp(self.beta0, max=10))[:, None]
        b1 = torch.exp(torch.clamp(self.beta1, max=10))[:, None]
        if not self.adaptive:
            return (b1 + b0).expand(-1, n.numel())
        a = torch.clamp(torch.abs(self.alpha), max=1)[:, None]
        return b1 * torch.pow(n[None, :], a) + b0


class Memory(nn.Module):
    """One associative memory; `lags(T)` gives its (T, T) mask of visible pairs."""

    def __init__(self, n_embd, n_head, bias, gated, adaptive):
        super().__init__()
        self.k_featurizer = KeyExtractor(n_embd, n_head, bias, gated)
        self.v_featurizer = ValueExtractor(n_embd, n_head, bias)
        self.bandwidth = Bandwidth(n_head, adaptive)

    def forward(self, x, visible):  # visible (T, T) bool: row i sees column j
        B, T, C = x.shape
        k, v = self.k_featurizer(x), self.v_featurizer(x)
        n = visible.sum(dim=1).to(x.dtype)
        beta = self.bandwidth(n)                                   # (H, T)
        scores = beta[None, :, :, None] * (k @ k.transpose(-1, -2))  # (B, H, T, T)
        scores = scores.masked_fill(~visible, -1e9)
        weights = F.softmax(scores, dim=-1) * visible.any(dim=1)[:, None].to(x.dtype)
        return (weights @ v).transpose(1, 2).reshape(B, T, C)


def lag_mask(T, min_lag, max_lag):
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    lag = i - j
    return (lag >= min_lag) & (lag <= max_lag)


class MemoryLevels(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, H, bias = cfg["n_embd"], cfg["n_head"], cfg["bias"]
        self.cfg = cfg
        self.short_term = Memory(C, H, bias, cfg["key_gate"], cfg["adaptive_bandwidth"])
        self.long_term = Memory(C, H, bias, cfg["key_gate"], cfg["adaptive_bandwidth"])
        self.c_proj = nn.Linear(2 * C, C, bias=bias)

    def forward(self, x):
        T = x.shape[1]
        h = self.cfg["short_term_window"]
        m = self.cfg["long_term_delay_min"] if self.training else self.cfg["long_term_delay"]
        y_short = self.short_term(x, lag_mask(T, 1, h - 1))
        y_long = self.long_term(x, lag_mask(T, m, T))
        return self.c_proj(torch.cat([y_short, y_long], dim=-1))


class SwiGlu(nn.Module):
    def __init__(self, n_embd, hidden, bias):
        super().__init__()
        self.w1 = nn.Linear(n_embd, hidden, bias=bias)
        self.w2 = nn.Linear(hidden, n_embd, bias=bias)
        self.w3 = nn.Linear(n_embd, hidden, bias=bias)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (torch 1.13's nn.LayerNorm has no bias switch)."""

    def __init__(self, C, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(C))
        self.bias = nn.Parameter(torch.zeros(C)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, bias = cfg["n_embd"], cfg["bias"]
        self.ln_1 = LayerNorm(C, bias)
        self.attn = MemoryLevels(cfg)
        self.ln_2 = LayerNorm(C, bias)
        self.mlp = SwiGlu(C, cfg["swiglu_hidden"], bias)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Mosaic(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg["vocab_size"], cfg["n_embd"])
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])])
        self.ln_f = LayerNorm(cfg["n_embd"], cfg["bias"])

    def forward(self, idx, targets=None):
        x = self.wte(idx)
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=-1)


class Model(nn.Module):
    """The top level carries our prefix: parameters are named mosaic.wte.weight, mosaic.h.0..."""

    def __init__(self, cfg):
        super().__init__()
        self.mosaic = Mosaic(cfg)

    def forward(self, idx, targets=None):
        return self.mosaic(idx, targets)


def initialise(model, cfg, generator):
    """Table 6: N(0, s) clipped at 3 s, s = 1/sqrt(2 fan_in (l+1)) in block l (W_o: d), 1/sqrt(2 d)
    for the embedding; then the scalars near their paper values, perturbed so that every term
    has a gradient (a value scale started at exactly 0 would have none under |.|)."""
    C = cfg["n_embd"]
    for name, p in model.named_parameters():
        with torch.no_grad():
            if p.dim() == 2:
                block = int(name.split(".h.")[1].split(".")[0]) if ".h." in name else -1
                fan_in = C if name.endswith("attn.c_proj.weight") else p.shape[1]
                sigma = 1 / math.sqrt(2 * C) if block < 0 else 1 / math.sqrt(2 * fan_in * (block + 1))
                p.copy_(torch.clamp(torch.randn(p.shape, generator=generator) * sigma, -3 * sigma, 3 * sigma))
            elif name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=generator))
            elif name.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=generator))
            elif name.endswith("beta0") or name.endswith("beta1"):
                p.copy_(1.5 + 0.3 * torch.randn(p.shape, generator=generator))
            elif name.endswith("alpha"):
                p.copy_(1 / 3 + 0.1 * torch.randn(p.shape, generator=generator))
            elif name.endswith("coef"):
                p.copy_(torch.rand(p.shape, generator=generator))
            elif name.endswith("val_scale"):
                p.copy_(0.2 * torch.randn(p.shape, generator=generator))
            elif name.endswith("leaky_key_beta"):
                p.copy_(0.05 + 0.05 * torch.rand(p.shape, generator=generator))
            else:
                raise SystemExit(f"error: no initialisation for {name}\nhint: add one to initialise()")


def decays(p):
    """Our and nanoGPT's weight-decay rule: tensors of 2+ dims whose last two are not (1, 1)."""
    return p.dim() >= 2 and tuple(p.shape[-2:]) != (1, 1)


def config(ablations):
    return {"arch": "mosaic", "n_layer": 2, "n_head": 4, "n_embd": 32, "block_size": 48, "vocab_size": 67,
           "bias": not ablations, "dropout": 0.0, "init": "v2",
           "short_term_window": 8, "long_term_delay_min": 6, "long_term_delay_max": 6, "long_term_delay": 4,
           "adaptive_bandwidth": not ablations, "key_gate": not ablations,
           "pmem_kind": "swiglu", "swiglu_hidden": 40}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--out", required=True, metavar="FILE", help="the fixture to write")
    parser.add_argument("--ablations", action="store_true", help="v1 keys, fixed bandwidth, no biases")
    parser.add_argument("--seed", type=int, default=2507)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = config(args.ablations)
    generator = torch.Generator().manual_seed(args.seed)
    model = Model(cfg)
    initialise(model, cfg, generator)

    B, T, V = 2, cfg["block_size"], cfg["vocab_size"]
    idx = torch.randint(0, V, (B, T), generator=generator)
    targets = torch.randint(0, V, (B, T), generator=generator)
    targets[:, ::7] = -1

    named = dict(model.named_parameters())
    initial = {name: p.detach().clone() for name, p in named.items()}
    model.eval()  # logits at the inference delay
    with torch.no_grad():
        logits, _ = model(idx)
    model.train()  # the loss and its gradients at the training delay
    _, loss = model(idx, targets)
    loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in named.items()}

    groups = [{"params": [p for p in named.values() if decays(p)], "weight_decay": ADAMW["weight_decay"]},
              {"params": [p for p in named.values() if not decays(p)], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=ADAMW["lr"], betas=tuple(ADAMW["betas"]), eps=ADAMW["eps"])
    losses = adamw_losses(model, optimizer, idx, targets, 10)

    model.eval()
    with torch.no_grad():  # greedy continuation by full recomputation, on the initial weights
        for name, p in named.items():
            p.copy_(initial[name])
        sequence = idx[0, :6].tolist()
        prompt = list(sequence)
        for _ in range(8):
            next_logits, _ = model(torch.tensor([sequence[-T:]]))
            sequence.append(int(next_logits[0, -1].argmax()))

    out = {f"param.{n}": v.numpy() for n, v in initial.items()}
    out.update({f"grad.{n}": g.numpy() for n, g in grads.items()})
    out["input.idx"] = idx.numpy().astype(np.int32)
    out["input.targets"] = targets.numpy().astype(np.int32)
    out["output.logits"] = logits.numpy()
    out["output.loss"] = np.array(loss.item(), dtype=np.float32)
    out["train.losses"] = np.array(losses, dtype=np.float32)
    out["greedy.prompt"] = np.array(prompt, dtype=np.int32)
    out["greedy.tokens"] = np.array(sequence[len(prompt):], dtype=np.int32)
    model_config = {k: v for k, v in cfg.items() if k != "arch"}
    write_safetensors(args.out, out, {
        "arch": "mosaic", "config": json.dumps(model_config), "batch": str(B), "seq_len": str(T),
        "adamw": json.dumps(ADAMW), "torch": torch.__version__, "source": "tools/mmv2_reference.py"})
    print(f"wrote {args.out}: loss {loss.item():.4f}; now run: mosaic check {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
