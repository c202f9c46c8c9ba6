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

# config/train_shakespeare_char.py with the CPU settings (nanoGPT's train.py key names).
RECIPE = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, bias=False, dropout=0.0, batch_size=12,
              gradient_accumulation_steps=1, max_iters=2000, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100,
              lr_decay_iters=2000, weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0, eval_interval=250,
              eval_iters=20)


def get_lr(it, c):
    """nanoGPT's get_lr."""
    if it < c["warmup_iters"]:
        return c["learning_rate"] * (it + 1) / (c["warmup_iters"] + 1)
    if it > c["lr_decay_iters"]:
        return c["min_lr"]
    ratio = (it - c["warmup_iters"]) / (c["lr_decay_iters"] - c["warmup_iters"])
    return c["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (c["learning_rate"] - c["min_lr"])


def char_splits(text):
    """nanoGPT's shakespeare_char/prepare.py: sorted characters, the first 90% for train."""
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    data = np.array([stoi[ch] for ch in text], dtype=np.uint16)
    n = int(0.9 * len(data))
    return {"train": data[:n], "val": data[n:]}, len(chars)


def train(splits, vocab_size, c, seed):
    """nanoGPT's train.py loop on one process (gradient_accumulation_steps 1): torch.manual_seed,
    GPT(config), get_batch with torch.randint, estimate_loss every eval_interval, clipping, AdamW
    with nanoGPT's groups, get_lr, a checkpoint when the val estimate improves. Returns the step
    losses, the evaluations (iteration, train, val), and the kept checkpoint (state, iteration,
    estimate)."""
    block, batch = c["block_size"], c["batch_size"]

    def get_batch(split):
        d = splits[split]
        ix = torch.randint(len(d) - block, (batch,))
        x = torch.stack([torch.from_numpy(d[i:i + block].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(d[i + 1:i + 1 + block].astype(np.int64)) for i in ix])
        return x, y

    torch.manual_seed(seed)
    model = GPT(dict(n_layer=c["n_layer"], n_head=c["n_head"], n_embd=c["n_embd"], block_size=block,
                     vocab_size=vocab_size, bias=c["bias"], dropout=c["dropout"]))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": c["weight_decay"]},
                                   {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                                  lr=c["learning_rate"], betas=(c["beta1"], c["beta2"]))

    @torch.no_grad()
    def estimate_loss():
        model.eval()
        out = [sum(model(*get_batch(s)).item() for _ in range(c["eval_iters"])) / c["eval_iters"]
               for s in ("train", "val")]
        model.train()
        return out

    best, best_state, best_iter = 1e9, None, None
    steps, evals = [], []
    x, y = get_batch("train")
    it = 0
    while True:
        lr = get_lr(it, c)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if it % c["eval_interval"] == 0:
            evals.append([it] + estimate_loss())
            if evals[-1][2] < best:
                best = evals[-1][2]
                if it > 0:  # nanoGPT saves a checkpoint here
                    best_state, best_iter = copy.deepcopy(model.state_dict()), it
        if it >= c["max_iters"]:  # nanoGPT takes one more step here, which is never saved
            break
        loss = model(x, y)
        x, y = get_batch("train")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), c["grad_clip"])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        steps.append(loss.item())
        it += 1
    return dict(model=model, steps=steps, evals=evals, best_state=best_state, best_iter=best_iter, best=best)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser()
    parser.add_argument("text", nargs="?", default=os.path.join(root, "..", "shared", "data", "tinyshakespeare.txt"))
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    splits, vocab_size = char_splits(open(args.text, encoding="utf-8").read())
    start = time.time()
    run = train(splits, vocab_size, RECIPE, args.seed)
    wall = time.time() - start

    model, block = run["model"], RECIPE["block_size"]
    model.load_state_dict(run["best_state"])
    model.eval()
    val = splits["val"]
    windows = (len(val) - 1) // block
    total = 0.0
    with torch.no_grad():
        for first in range(0, windows, 64):
            idx = range(first, min(windows, first + 64))
            x = torch.stack([torch.from_numpy(val[i * block:i * block + block].astype(np.int64)) for i in idx])
            y = torch.stack([torch.from_numpy(val[i * block + 1:i * block + block + 1].astype(np.int64)) for i in idx])
            total += model(x, y).item() * len(idx)
    print(f"seed {args.seed}: best iter {run['best_iter']}, estimate {run['best']:.4f}, "
          f"full-split val {total / windows:.4f}, wall {wall:.1f} s", flush=True)


if __name__ == "__main__":
    main()
