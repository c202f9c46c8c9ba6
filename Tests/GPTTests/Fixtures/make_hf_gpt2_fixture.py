# Writes the Hugging Face GPT-2 fixture of InteropImportTests.swift and the CLI's import/export
# tests: hf_gpt2/, a tiny GPT2LMHeadModel with random weights as `save_pretrained` writes it
# (config.json, model.safetensors, generation_config.json) plus its tokenizer (bpe/v400's
# vocab.json + merges.txt, saved by GPT2TokenizerFast), and hf_gpt2_expected.h5, the logits and
# loss transformers computes on a fixed batch and the ids its tokenizer gives for a text.
#
#   python3 make_hf_gpt2_fixture.py                   # the fixture (run once; commit the output)
#   python3 make_hf_gpt2_fixture.py --shape gpt2 --out DIR   # a 124M-shaped random directory
#                                                            # (gpt2-medium/-large/-xl too), for benchmarks
#
# Needs torch, transformers and h5py; the tests do not need Python. The model's activation is
# "gelu" (the exact erf form, which gpt-dist and nanoGPT compute); OpenAI's checkpoints say
# "gelu_new" (the tanh approximation), which gpt-dist imports as nanoGPT's from_pretrained does.
import argparse
import os
import shutil

import torch
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = {"gpt2": (12, 12, 768), "gpt2-medium": (24, 16, 1024), "gpt2-large": (36, 20, 1280),
          "gpt2-xl": (48, 25, 1600)}
TEXT = ("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
        "The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles")


def tiny_fixture():
    import h5py
    import numpy as np

    torch.manual_seed(1234)
    out = os.path.join(HERE, "hf_gpt2")
    v400 = os.path.join(HERE, "bpe", "v400")
    tokenizer = GPT2TokenizerFast.from_pretrained(v400)
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                        activation_function="gelu", resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1,
                        bos_token_id=eot, eos_token_id=eot)
    model = GPT2LMHeadModel(config)
    with torch.no_grad():  # biases and LayerNorms away from their constant init, so the mapping shows
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    model.eval()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)  # tokenizer.json, tokenizer_config.json
    for name in ("vocab.json", "merges.txt"):  # the two files GPT-2's own directories have too
        shutil.copyfile(os.path.join(v400, name), os.path.join(out, name))

    ids = tokenizer(TEXT)["input_ids"]
    B, T = 2, 16
    batch = torch.tensor([ids[0:T + 1], ids[T + 1:2 * T + 2]], dtype=torch.long)
    with torch.no_grad():
        result = model(input_ids=batch, labels=batch)  # labels shift inside: T predictions per row
    logits = result.logits[:, :T, :].numpy()
    with h5py.File(os.path.join(HERE, "hf_gpt2_expected.h5"), "w") as f:
        f.attrs["layout"] = ("input_ids [B, T+1] int32: the batch (inputs [:, :T], targets [:, 1:]). "
                             "logits [B, T, V] float32 and attribute loss (float64): GPT2LMHeadModel "
                             "in eval mode on input_ids with labels=input_ids. text: UTF-8 bytes; "
                             "text_ids int32: the hf_gpt2 tokenizer's ids of text.")
        f["input_ids"] = batch.numpy().astype(np.int32)
        f["logits"] = logits.astype(np.float32)
        f.attrs["loss"] = float(result.loss)
        f["text"] = np.frombuffer(TEXT.encode("utf-8"), dtype=np.uint8)
        f["text_ids"] = np.array(ids, dtype=np.int32)
    print("wrote", out, "loss", float(result.loss), "tokens", len(ids), "params",
          sum(p.numel() for p in model.parameters()))


def random_shape(shape, out):
    n_layer, n_head, n_embd = SHAPES[shape]
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=n_layer, n_head=n_head, n_embd=n_embd))
    model.save_pretrained(out)
    print("wrote", out, sum(p.numel() for p in model.parameters()), "parameters")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", choices=sorted(SHAPES))
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.shape:
        random_shape(args.shape, args.out or args.shape)
    else:
        tiny_fixture()
