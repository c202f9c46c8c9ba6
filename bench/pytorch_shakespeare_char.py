#!/usr/bin/env python3
"""PyTorch reference for configs/shakespeare_char.yaml: nanoGPT's train.py loop with
config/train_shakespeare_char.py and the issue's CPU settings (4 layers, 4 heads, 128 embd, block
64, batch 12, 2000 iterations, lr 1e-3 -> 1e-4, warmup 100, beta2 0.99, dropout 0, eval every 250
with 20 batches, checkpoint only when the val estimate improves), on the model of
bench/pytorch_reference.py (nanoGPT's model.py math). nanoGPT's data preparation (characters
sorted, first 90% train) and its random streams (torch.manual_seed, then model init, then
torch.randint batches) are kept, so --seed 1337 is nanoGPT's own run.

At the end the best model is scored as `gpt-dist eval` scores a checkpoint: the mean loss over
every non-overlapping 64-token window of the val split. Prints one line:

    seed 1337: best iter 2000, estimate 1.8857, full-split val 1.8982, wall 101.2 s

usage: bench/pytorch_shakespeare_char.py [--seed S] [--threads N] [TEXT]
       (TEXT defaults to ../shared/data/tinyshakespeare.txt next to the repository)
"""
import argparse
import copy
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_reference import GPT  # noqa: E402

BLOCK, BATCH, EVAL_ITERS, EVAL_INTERVAL, MAX_ITERS = 64, 12, 20, 250, 2000
LR, MIN_LR, WARMUP, DECAY_ITERS, GRAD_CLIP = 1e-3, 1e-4, 100, 2000, 1.0


def get_lr(it):
    """nanoGPT's get_lr."""
    if it < WARMUP:
        return LR * (it + 1) / (WARMUP + 1)
    if it > DECAY_ITERS:
        return MIN_LR
    ratio = (it - WARMUP) / (DECAY_ITERS - WARMUP)
    return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (LR - MIN_LR)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser()
    parser.add_argument("text", nargs="?", default=os.path.join(root, "..", "shared", "data", "tinyshakespeare.txt"))
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    text = open(args.text, encoding="utf-8").read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in text], dtype=np.uint16)
    n = int(0.9 * len(data))
    splits = {"train": data[:n], "val": data[n:]}

    def get_batch(split):
        d = splits[split]
        ix = torch.randint(len(d) - BLOCK, (BATCH,))
        x = torch.stack([torch.from_numpy(d[i:i + BLOCK].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(d[i + 1:i + 1 + BLOCK].astype(np.int64)) for i in ix])
        return x, y

    start = time.time()
    torch.manual_seed(args.seed)
    model = GPT(dict(n_layer=4, n_head=4, n_embd=128, block_size=BLOCK, vocab_size=len(chars), bias=False,
                     dropout=0.0))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
                                   {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                                  lr=LR, betas=(0.9, 0.99))

    @torch.no_grad()
    def estimate_loss():
        model.eval()
        out = {s: sum(model(*get_batch(s)).item() for _ in range(EVAL_ITERS)) / EVAL_ITERS for s in ("train", "val")}
        model.train()
        return out

    best, best_state, best_iter = 1e9, None, None
    x, y = get_batch("train")
    it = 0
    while True:
        lr = get_lr(it)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if it % EVAL_INTERVAL == 0:
            losses = estimate_loss()
            if losses["val"] < best:
                best = losses["val"]
                if it > 0:  # nanoGPT saves a checkpoint here
                    best_state, best_iter = copy.deepcopy(model.state_dict()), it
        if it >= MAX_ITERS:  # nanoGPT takes one more step here, which is never saved
            break
        loss = model(x, y)
        x, y = get_batch("train")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        it += 1
    wall = time.time() - start

    model.load_state_dict(best_state)
    model.eval()
    val = splits["val"]
    windows = (len(val) - 1) // BLOCK
    total = 0.0
    with torch.no_grad():
        for first in range(0, windows, 64):
            idx = range(first, min(windows, first + 64))
            x = torch.stack([torch.from_numpy(val[i * BLOCK:i * BLOCK + BLOCK].astype(np.int64)) for i in idx])
            y = torch.stack([torch.from_numpy(val[i * BLOCK + 1:i * BLOCK + BLOCK + 1].astype(np.int64)) for i in idx])
            total += model(x, y).item() * len(idx)
    print(f"seed {args.seed}: best iter {best_iter}, estimate {best:.4f}, full-split val {total / windows:.4f}, "
          f"wall {wall:.1f} s", flush=True)


if __name__ == "__main__":
    main()
