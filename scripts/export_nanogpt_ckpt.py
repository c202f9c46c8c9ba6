#!/usr/bin/env python3
"""Turns a gpt-dist checkpoint into nanoGPT's `ckpt.pt` (and `meta.pkl` for a character vocabulary),
so that nanoGPT's own `sample.py` runs the very same model. Not run in CI (needs torch and h5py);
docs/benchmarks.md has what it was used for (gpt-dist sample / serve beside nanoGPT's sample.py).

    python3 scripts/export_nanogpt_ckpt.py --checkpoint out/shakespeare_char/ckpt.h5 \\
        --out /tmp/nanoGPT/out-gpt-dist --dataset shakespeare_char --nanogpt /tmp/nanoGPT
    python3 scripts/export_nanogpt_ckpt.py --hf out/shakespeare_char/hf --out /tmp/nanoGPT/out-gpt-dist
    cd /tmp/nanoGPT && python3 sample.py --out_dir=out-gpt-dist --device=cpu --compile=False \\
        --start="ROMEO:" --num_samples=10 --max_new_tokens=500 --temperature=0.8 --top_k=200 --seed=1337

Input, one of:
  --checkpoint ckpt.h5   a gpt-dist checkpoint (docs/checkpoint-format.md): /model already uses
                         nanoGPT's state_dict names and PyTorch shapes; /config gives the shape,
                         /tokenizer the vocabulary. A LoRA checkpoint (/lora) is refused: export it
                         with `gpt-dist export --format huggingface` (which merges the adapters)
                         and pass that directory with --hf.
  --hf DIR               its Hugging Face export (`gpt-dist export --format huggingface`):
                         config.json + model.safetensors in GPT-2's names (Conv1D weights are
                         [in, out] and are transposed back), char_vocab.json for a char vocabulary.

Output, in --out:
  ckpt.pt    {'model': state_dict, 'model_args': {n_layer, n_head, n_embd, block_size, bias,
             vocab_size, dropout}, 'config': {..., 'dataset': NAME}, 'iter_num', 'best_val_loss'}
             as nanoGPT's train.py saves it; model.load_state_dict(strict=True) takes it.
  meta.pkl   {'vocab_size', 'itos', 'stoi'} as nanoGPT's data/shakespeare_char/prepare.py writes
             it (char vocabularies only). sample.py reads it from data/<dataset>/meta.pkl of the
             directory it runs in: --nanogpt DIR copies it there. A BPE checkpoint gets no
             meta.pkl: sample.py then uses tiktoken's GPT-2 encoding, right only for GPT-2's own
             vocab.json/merges.txt.

With --nanogpt DIR the exported model is also loaded into that checkout's model.py (strict
load_state_dict) and its logits for a few tokens are printed, as a check that the names fit.
"""
import argparse
import json
import os
import pickle
import sys

import numpy as np
import torch

SHAPE_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "vocab_size")


def attr_value(v):
    """h5py attribute → plain Python (numpy scalars, bytes, h5py's enum booleans)."""
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return [attr_value(x) for x in v.tolist()]
    return v


def from_checkpoint(path):
    import h5py
    with h5py.File(path, "r") as f:
        if "lora" in f:
            sys.exit(f"{path}: a LoRA checkpoint; run `gpt-dist export --format huggingface` (it merges "
                     "the adapters) and pass the directory with --hf")
        config = {k: attr_value(v) for k, v in f["config"].attrs.items()}
        for key in SHAPE_KEYS:
            if key not in config:
                sys.exit(f"{path}: /config has no {key}")
        state = {}
        for name in f["model"]:
            state[name] = torch.from_numpy(np.asarray(f["model"][name][...], dtype=np.float32))
        if "bias" not in config:
            config["bias"] = "transformer.ln_f.bias" in state
        itos = None
        if "tokenizer" in f and attr_value(f["tokenizer"].attrs.get("kind", "")) == "char":
            itos = list(bytes(f["tokenizer"]["vocabulary"][...]).decode("utf-8"))
        iter_num = int(f["state"].attrs.get("iter_num", 0)) if "state" in f else 0
        best = float(f["state"].attrs.get("best_val_loss", 1e9)) if "state" in f else 1e9
    return config, state, itos, iter_num, best


def from_huggingface(directory):
    from safetensors.numpy import load_file
    with open(os.path.join(directory, "config.json")) as fh:
        hf = json.load(fh)
    tensors = load_file(os.path.join(directory, "model.safetensors"))
    n_layer = hf["n_layer"]
    config = {"n_layer": n_layer, "n_head": hf["n_head"], "n_embd": hf["n_embd"],
              "block_size": hf["n_positions"], "vocab_size": hf["vocab_size"]}
    conv1d = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
    state = {}
    for name, value in tensors.items():
        if name.endswith(".attn.bias") or name.endswith(".attn.masked_bias"):
            continue  # GPT-2's causal-mask buffers
        key = name if name.startswith("transformer.") or name.startswith("lm_head.") else "transformer." + name
        array = np.asarray(value, dtype=np.float32)
        if any(key.endswith(s) for s in conv1d):
            array = np.ascontiguousarray(array.T)  # Conv1D [in, out] → nn.Linear [out, in]
        state[key] = torch.from_numpy(array)
    config["bias"] = "transformer.ln_f.bias" in state
    itos = None
    char_vocab = os.path.join(directory, "char_vocab.json")
    if os.path.exists(char_vocab):
        with open(char_vocab) as fh:
            itos = list(json.load(fh)["characters"])  # id i is the i-th, as gpt-dist export writes it
    return config, state, itos, 0, 1e9


def nanogpt_state_dict(config, state):
    """nanoGPT's GPT.state_dict(): lm_head.weight is the same tensor as transformer.wte.weight."""
    expected = {"transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight"}
    for i in range(config["n_layer"]):
        for part in ("ln_1.weight", "attn.c_attn.weight", "attn.c_proj.weight", "ln_2.weight",
                     "mlp.c_fc.weight", "mlp.c_proj.weight"):
            expected.add(f"transformer.h.{i}.{part}")
    if config["bias"]:
        expected.add("transformer.ln_f.bias")
        for i in range(config["n_layer"]):
            for part in ("ln_1.bias", "attn.c_attn.bias", "attn.c_proj.bias", "ln_2.bias", "mlp.c_fc.bias",
                         "mlp.c_proj.bias"):
                expected.add(f"transformer.h.{i}.{part}")
    out = {}
    for name in sorted(expected):
        if name not in state:
            sys.exit(f"the model has no {name}")
        out[name] = state[name].contiguous()
    extra = set(state) - expected - {"lm_head.weight"}
    if extra:
        sys.exit(f"the model has tensors nanoGPT does not: {sorted(extra)[:5]}")
    if "lm_head.weight" in state and not torch.allclose(state["lm_head.weight"], out["transformer.wte.weight"]):
        sys.exit("lm_head.weight differs from transformer.wte.weight: nanoGPT ties them")
    out["lm_head.weight"] = out["transformer.wte.weight"]  # tied, as nanoGPT's model holds it
    return out


def check_with_nanogpt(directory, model_args, state_dict):
    sys.path.insert(0, directory)
    from model import GPT, GPTConfig  # nanoGPT's model.py
    model = GPT(GPTConfig(**model_args))
    model.load_state_dict(state_dict)  # strict: every name and shape must fit
    model.eval()
    idx = torch.tensor([[0, 1, 2, 3]], dtype=torch.long) % model_args["vocab_size"]
    with torch.no_grad():
        logits, _ = model(idx)
    print(f"nanoGPT's model.py loaded it (strict); logits after tokens {idx[0].tolist()}: "
          f"{[round(x, 5) for x in logits[0, -1, :4].tolist()]} ...")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a gpt-dist ckpt.h5")
    source.add_argument("--hf", help="a `gpt-dist export --format huggingface` directory")
    parser.add_argument("--out", required=True, help="where ckpt.pt (and meta.pkl) go: nanoGPT's out_dir")
    parser.add_argument("--dataset", default="gpt_dist_char",
                        help="the name stored as config['dataset']: sample.py reads data/<dataset>/meta.pkl")
    parser.add_argument("--nanogpt", help="a nanoGPT checkout: meta.pkl is copied to its data/<dataset>/ "
                        "and the model is loaded with its model.py as a check")
    args = parser.parse_args()

    if args.checkpoint:
        config, state, itos, iter_num, best = from_checkpoint(args.checkpoint)
    else:
        config, state, itos, iter_num, best = from_huggingface(args.hf)
    model_args = {k: int(config[k]) for k in SHAPE_KEYS}
    model_args["bias"] = bool(config["bias"])
    model_args["dropout"] = 0.0
    state_dict = nanogpt_state_dict(model_args, state)
    if itos is not None and len(itos) != model_args["vocab_size"]:
        sys.exit(f"the vocabulary has {len(itos)} characters, the model {model_args['vocab_size']} rows")

    os.makedirs(args.out, exist_ok=True)
    saved_config = {k: v for k, v in config.items() if isinstance(v, (int, float, str, bool))}
    saved_config["dataset"] = args.dataset
    torch.save({"model": state_dict, "model_args": model_args, "config": saved_config,
                "iter_num": iter_num, "best_val_loss": best, "optimizer": None}, os.path.join(args.out, "ckpt.pt"))
    written = [os.path.join(args.out, "ckpt.pt")]
    if itos is not None:
        meta = {"vocab_size": len(itos), "itos": dict(enumerate(itos)), "stoi": {ch: i for i, ch in enumerate(itos)}}
        targets = [os.path.join(args.out, "meta.pkl")]
        if args.nanogpt:
            os.makedirs(os.path.join(args.nanogpt, "data", args.dataset), exist_ok=True)
            targets.append(os.path.join(args.nanogpt, "data", args.dataset, "meta.pkl"))
        for target in targets:
            with open(target, "wb") as fh:
                pickle.dump(meta, fh)
        written += targets
    params = sum(t.numel() for n, t in state_dict.items() if n != "lm_head.weight")
    print(f"wrote {', '.join(written)}: {model_args}, {params} parameters, "
          f"{'char vocabulary of ' + str(len(itos)) if itos is not None else 'no meta.pkl (BPE: sample.py uses GPT-2 encodings)'}")
    if args.nanogpt:
        check_with_nanogpt(args.nanogpt, model_args, state_dict)


if __name__ == "__main__":
    main()
