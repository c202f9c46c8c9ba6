# Writes nanogpt_run.h5, the fixture of TrainNanoGPTParityTests.swift: a short nanoGPT training
# run in PyTorch (bench/pytorch_shakespeare_char.py's `train`: train.py's loop with
# torch.manual_seed, GPT(config), get_batch with torch.randint, estimate_loss every
# eval_interval, clip_grad_norm_, AdamW with nanoGPT's groups, get_lr) on a small character
# corpus prepared as nanoGPT's shakespeare_char/prepare.py does (sorted characters, first 90%
# train). Run once (python3 make_nanogpt_run_fixture.py; needs torch, numpy and h5py) and commit
# the output; the tests do not need Python.
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "bench"))
from pytorch_shakespeare_char import char_splits, train  # noqa: E402

C = dict(n_layer=2, n_head=2, n_embd=32, block_size=16, bias=True, dropout=0.0, batch_size=4,
         gradient_accumulation_steps=1, max_iters=12, learning_rate=1e-2, min_lr=1e-3, warmup_iters=3,
         lr_decay_iters=12, weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0, eval_interval=5,
         eval_iters=3, seed=1337)

rng = np.random.RandomState(5)
words = ["the", "king", "queen", "of", "and", "to", "my", "lord", "good", "night", "sweet", "prince", "what",
         "is", "this", "that", "thou", "art", "love", "death", "be", "not", "so", "fair"]
lines = []
while sum(len(line) + 1 for line in lines) < 20000:
    lines.append(" ".join(words[i] for i in rng.randint(len(words), size=rng.randint(4, 10))).capitalize()
                 + [".", ",", "!", "?"][rng.randint(4)])
text = "\n".join(lines) + "\n"

torch.set_num_threads(1)
splits, vocab_size = char_splits(text)
run = train(splits, vocab_size, C, C["seed"])

with h5py.File("nanogpt_run.h5", "w") as f:
    f.attrs["layout"] = ("attrs: the run's settings (nanoGPT keys). text: the corpus (UTF-8 bytes). "
                         "step_losses [max_iters]: the loss of each optimizer step. evals [k, 3]: "
                         "(iteration, train estimate, val estimate) at each eval_interval.")
    for k, v in C.items():
        f.attrs[k] = v
    f["text"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    f["step_losses"] = np.array(run["steps"], dtype=np.float64)
    f["evals"] = np.array(run["evals"], dtype=np.float64)
print("steps", run["steps"])
print("evals", run["evals"])
