# Writes torch_stream.h5, the fixture of TorchStreamTests.swift: what PyTorch's CPU generator
# gives after torch.manual_seed, and nanoGPT's initial weights for two tiny models.
# Run once (python3 make_torch_stream_fixture.py, needs torch and h5py) and commit the output;
# the tests do not need Python. The model is bench/pytorch_reference.py's GPT, whose __init__ is
# nanoGPT's model.py (module order, _init_weights through apply, the c_proj redraws).
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "bench"))
from pytorch_reference import GPT  # noqa: E402

with h5py.File("torch_stream.h5", "w") as f:
    f.attrs["layout"] = (
        "/draws: torch.manual_seed(1337) then rand(40) (uniform), randint(1003790, (24,)), "
        "randint(3 * 2**32 + 5, (4,)), empty(37).normal_(0, 0.02), empty(5).normal_(0, 1), "
        "empty(3).normal_(0, 1), rand(3), in that order from one generator. "
        "/models/<name>: attrs n_layer n_head n_embd block_size vocab_size bias seed; "
        "params/<state_dict key>: nanoGPT's initial weights after torch.manual_seed(seed); "
        "after_init: randint(1000, (16,)) drawn right after the model was built.")
    torch.manual_seed(1337)
    d = f.create_group("draws")
    d["uniform"] = torch.rand(40).numpy()
    d["randint"] = torch.randint(1003790, (24,)).numpy()
    d["randint_wide"] = torch.randint(3 * 2**32 + 5, (4,)).numpy()
    d["normal37"] = torch.empty(37).normal_(0, 0.02).numpy()
    d["normal5"] = torch.empty(5).normal_(0, 1).numpy()
    d["normal3"] = torch.empty(3).normal_(0, 1).numpy()
    d["uniform_after"] = torch.rand(3).numpy()

    shapes = {
        "small_bias": dict(n_layer=2, n_head=2, n_embd=16, block_size=8, vocab_size=13, bias=True, seed=1337),
        "small_nobias": dict(n_layer=2, n_head=2, n_embd=16, block_size=8, vocab_size=13, bias=False, seed=7),
        # Tensors under 16 elements take torch's scalar normal path (and its cached value).
        "tiny_bias": dict(n_layer=1, n_head=1, n_embd=2, block_size=3, vocab_size=5, bias=True, seed=42),
    }
    for name, c in shapes.items():
        torch.manual_seed(c["seed"])
        model = GPT(dict(c, dropout=0.0))
        g = f.create_group(f"models/{name}")
        for k, v in c.items():
            g.attrs[k] = v
        for key, value in model.state_dict().items():
            g[f"params/{key}"] = value.detach().numpy()
        g["after_init"] = torch.randint(1000, (16,)).numpy()
