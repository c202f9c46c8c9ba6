#!/usr/bin/env python3
"""PyTorch reference for `gpt-dist bench`: nanoGPT's GPT (same math as nanoGPT's model.py),
timed the same way (zero_grad, forward, backward, clip_grad_norm_(1.0), AdamW step) on random
tokens, printing the same figures.

usage: bench/pytorch_reference.py [--preset shakespeare-cpu|shakespeare-gpu|gpt2-124m]
       [--n-layer L --n-head H --n-embd C --block-size T --batch-size B --vocab-size V]
       [--dropout P] [--no-bias] [--iters N] [--warmup N] [--threads N] [--seed S]
"""
import argparse
import math
import os
import resource
import time

import torch
import torch.nn as nn
from torch.nn import functional as F

PRESETS = {
    "shakespeare-cpu": (4, 4, 128, 64, 12, 65),
    "shakespeare-gpu": (6, 6, 384, 256, 64, 65),
    "gpt2-124m": (12, 12, 768, 1024, 1, 50304),
}


class LayerNorm(nn.Module):
    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_attn = nn.Linear(c["n_embd"], 3 * c["n_embd"], bias=c["bias"])
        self.c_proj = nn.Linear(c["n_embd"], c["n_embd"], bias=c["bias"])
        self.resid_dropout = nn.Dropout(c["dropout"])
        self.n_head, self.n_embd, self.dropout = c["n_head"], c["n_embd"], c["dropout"]

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=None,
                                           dropout_p=self.dropout if self.training else 0, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c["n_embd"], 4 * c["n_embd"], bias=c["bias"])
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * c["n_embd"], c["n_embd"], bias=c["bias"])
        self.dropout = nn.Dropout(c["dropout"])

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = LayerNorm(c["n_embd"], c["bias"])
        self.attn = CausalSelfAttention(c)
        self.ln_2 = LayerNorm(c["n_embd"], c["bias"])
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c["vocab_size"], c["n_embd"]),
            wpe=nn.Embedding(c["block_size"], c["n_embd"]),
            drop=nn.Dropout(c["dropout"]),
            h=nn.ModuleList([Block(c) for _ in range(c["n_layer"])]),
            ln_f=LayerNorm(c["n_embd"], c["bias"]),
        ))
        self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c["n_layer"]))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self):
        return sum(p.numel() for p in self.parameters()) - self.transformer.wpe.weight.numel()

    def forward(self, idx, targets):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

    def configure_optimizer(self, lr):
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))


def sgemm_peak(threads):
    n = 2048
    a, b = torch.full((n, n), 0.5), torch.full((n, n), 0.25)
    best = float("inf")
    for _ in range(4):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def model_from_args(args):
    """nanoGPT's GPT of the preset with the command line's overrides, in training mode; returns the
    model and (n_layer, n_head, n_embd, block, batch, vocab). bench/pytorch_ddp.py uses it too."""
    L, H, C, T, B, V = PRESETS[args.preset]
    L, H, C = args.n_layer or L, args.n_head or H, args.n_embd or C
    T, B, V = args.block_size or T, args.batch_size or B, args.vocab_size or V
    c = dict(n_layer=L, n_head=H, n_embd=C, block_size=T, vocab_size=V, bias=not args.no_bias, dropout=args.dropout)
    model = GPT(c)
    model.train()
    return model, (L, H, C, T, B, V)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=PRESETS, default="shakespeare-cpu")
    for name in ["n-layer", "n-head", "n-embd", "block-size", "batch-size", "vocab-size"]:
        ap.add_argument("--" + name, type=int)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--no-bias", action="store_true")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=1337)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model, (L, H, C, T, B, V) = model_from_args(args)
    opt = model.configure_optimizer(1e-4)
    batches = [torch.randint(0, V, (2, B, T)) for _ in range(4)]

    times = []
    cpu_start = 0.0
    for i in range(args.warmup + args.iters):
        if i == args.warmup:
            cpu_start = time.process_time()
        x, y = batches[i % len(batches)]
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        elapsed = (time.perf_counter() - start) * 1e3
        if i >= args.warmup:
            times.append(elapsed)
    cpu_per_iter = (time.process_time() - cpu_start) / args.iters * 1e3
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak = sgemm_peak(args.threads)

    times.sort()
    best, median = times[0], times[len(times) // 2]
    n = model.num_params()
    flops_per_iter = (6 * n + 12 * L * H * (C // H) * T) * B * T
    achieved = flops_per_iter / (best / 1e3) / 1e9
    print(f"model        n_layer {L}, n_head {H}, n_embd {C}, block {T}, batch {B}, vocab {V}, "
          f"bias {str(not args.no_bias).lower()}, dropout {args.dropout} ({n / 1e6:.2f}M params)")
    print(f"threads      {args.threads} (PyTorch {torch.__version__})")
    print(f"ms/iter      {best:.2f} best, {median:.2f} median of {args.iters} (after {args.warmup} warm-up); loss {loss.item():.4f}")
    print(f"cpu ms/iter  {cpu_per_iter:.2f} (CPU time of all threads, mean; spinning OpenMP threads included)")
    print(f"tokens/s     {B * T / (best / 1e3):.0f}")
    print(f"GFLOP/s      {achieved:.1f} (nanoGPT accounting: {flops_per_iter / 1e9:.3f} GFLOP/iter)")
    print(f"sgemm peak   {peak:.1f} GFLOP/s ({args.threads} threads)")
    print(f"MFU          {100 * achieved / peak:.1f}% of the measured sgemm peak")
    print(f"peak RSS     {rss:.1f} MiB")


if __name__ == "__main__":
    main()
