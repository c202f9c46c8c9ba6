# Writes nanogpt_run.h5, the fixture of TrainNanoGPTParityTests.swift (GPTTests): a short nanoGPT training
# run in PyTorch (train.py's loop: torch.manual_seed, GPT(config), get_batch with torch.randint,
# estimate_loss every eval_interval, clip_grad_norm_, AdamW with nanoGPT's groups, get_lr) on a
# small character corpus prepared as nanoGPT's shakespeare_char/prepare.py does (sorted
# characters, first 90% train). Run once (python3 make_nanogpt_run_fixture.py; needs torch,
# numpy and h5py) and commit the output; the tests do not need Python.
import math
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "bench"))
from pytorch_reference import GPT  # noqa: E402

C = dict(n_layer=2, n_head=2, n_embd=32, block_size=16, bias=True, dropout=0.0, batch_size=4,
         gradient_accumulation_steps=1, max_iters=12, learning_rate=1e-2, min_lr=1e-3, warmup_iters=3,
         lr_decay_iters=12, weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0, eval_interval=5,
         eval_iters=3, seed=1337)

rng = np.random.RandomState(5)
words = ["the", "king", "queen", "of", "and", "to", "my", "lord", "good", "night", "sweet", "prince", "what",
         "is", "this", "that", "thou", "art", "love", "death", "be", "not", "so", "fair"]
lines = []
while sum(len(l) + 1 for l in lines) < 20000:
    lines.append(" ".join(words[i] for i in rng.randint(len(words), size=rng.randint(4, 10))).capitalize()
                 + [".", ",", "!", "?"][rng.randint(4)])
text = "\n".join(lines) + "\n"

chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in text], dtype=np.uint16)
n = int(0.9 * len(data))
splits = {"train": data[:n], "val": data[n:]}
B, T = C["batch_size"], C["block_size"]


def get_batch(split):
    d = splits[split]
    ix = torch.randint(len(d) - T, (B,))
    x = torch.stack([torch.from_numpy(d[i:i + T].astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy(d[i + 1:i + 1 + T].astype(np.int64)) for i in ix])
    return x, y


def get_lr(it):
    if it < C["warmup_iters"]:
        return C["learning_rate"] * (it + 1) / (C["warmup_iters"] + 1)
    if it > C["lr_decay_iters"]:
        return C["min_lr"]
    ratio = (it - C["warmup_iters"]) / (C["lr_decay_iters"] - C["warmup_iters"])
    return C["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (C["learning_rate"] - C["min_lr"])


torch.set_num_threads(1)
torch.manual_seed(C["seed"])
model = GPT(dict(n_layer=C["n_layer"], n_head=C["n_head"], n_embd=C["n_embd"], block_size=T,
                 vocab_size=len(chars), bias=C["bias"], dropout=0.0))
params = list(model.parameters())
optimizer = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": C["weight_decay"]},
                               {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                              lr=C["learning_rate"], betas=(C["beta1"], C["beta2"]))
evals, steps = [], []
x, y = get_batch("train")
it = 0
while True:
    lr = get_lr(it)
    for group in optimizer.param_groups:
        group["lr"] = lr
    if it % C["eval_interval"] == 0:
        model.eval()
        with torch.no_grad():
            evals.append([it] + [sum(model(*get_batch(s)).item() for _ in range(C["eval_iters"])) / C["eval_iters"]
                                 for s in ("train", "val")])
        model.train()
    if it >= C["max_iters"]:
        break
    loss = model(x, y)
    x, y = get_batch("train")
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), C["grad_clip"])
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    steps.append(loss.item())
    it += 1

with h5py.File("nanogpt_run.h5", "w") as f:
    f.attrs["layout"] = ("attrs: the run's settings (nanoGPT keys). text: the corpus (UTF-8 bytes). "
                         "step_losses [max_iters]: the loss of each optimizer step. evals [k, 3]: "
                         "(iteration, train estimate, val estimate) at each eval_interval and at max_iters.")
    for k, v in C.items():
        f.attrs[k] = v
    f["text"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    f["step_losses"] = np.array(steps, dtype=np.float64)
    f["evals"] = np.array(evals, dtype=np.float64)
print("steps", steps)
print("evals", evals)
