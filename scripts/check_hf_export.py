#!/usr/bin/env python3
"""Loads a `gpt-dist export --format huggingface` directory with transformers and no code of
gpt-dist's, and compares it with the model it came from. Not run in CI (needs torch and
transformers); docs/checkpoint-format.md has its result.

    gpt-dist import --from Tests/GPTTests/Fixtures/hf_gpt2 --out /tmp/rt/ckpt.h5
    gpt-dist export --checkpoint /tmp/rt/ckpt.h5 --format huggingface --out /tmp/rt/hf
    python3 scripts/check_hf_export.py /tmp/rt/hf --original Tests/GPTTests/Fixtures/hf_gpt2
    python3 scripts/check_hf_export.py EXPORT_OF_124M --original DIR_124M --other-model

Prints, for the fixed batch of Tests/GPTTests/Fixtures/hf_gpt2_expected.h5: the largest logit
difference from the original model (and from the stored logits), both losses, whether
AutoTokenizer gives the original tokenizer's ids for the fixture's text, whether every tensor
is bit-identical, and a greedy continuation from each model. Exits 1 when anything differs.
"""
import argparse
import os
import sys

import h5py
import torch
from transformers import AutoTokenizer, GPT2LMHeadModel

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
EXPECTED = os.path.join(ROOT, "Tests", "GPTTests", "Fixtures", "hf_gpt2_expected.h5")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("export")
    parser.add_argument("--original", help="the Hugging Face directory the checkpoint was imported from")
    parser.add_argument("--other-model", action="store_true",
                        help="not the fixture's model (e.g. a 124M-shaped directory): compare with --original only")
    args = parser.parse_args()

    exported = GPT2LMHeadModel.from_pretrained(args.export).eval()
    tokenizer = None if args.other_model else AutoTokenizer.from_pretrained(args.export)
    with h5py.File(EXPECTED, "r") as f:
        batch = torch.tensor(f["input_ids"][...], dtype=torch.long)
        stored = torch.tensor(f["logits"][...])
        stored_loss = float(f.attrs["loss"])
        text = bytes(f["text"][...]).decode("utf-8")
        text_ids = [int(i) for i in f["text_ids"][...]]
    ok = True
    with torch.no_grad():
        out = exported(input_ids=batch, labels=batch)
    if not args.other_model:
        T = stored.shape[1]
        diff = (out.logits[:, :T] - stored).abs().max().item()
        print(f"exported vs stored transformers logits: max |diff| {diff:.3g} (scale {stored.abs().max().item():.3g}); "
              f"loss {out.loss.item():.7f} vs {stored_loss:.7f}")
        ok &= diff <= 1e-5 * stored.abs().max().item()
        ids = tokenizer(text)["input_ids"]
        print(f"AutoTokenizer ({type(tokenizer).__name__}, {len(tokenizer)} tokens): ids of the fixture text "
              f"{'equal' if ids == text_ids else 'DIFFER from'} the original tokenizer's ({len(ids)} tokens)")
        ok &= ids == text_ids
    if args.original:
        original = GPT2LMHeadModel.from_pretrained(args.original).eval()
        a, b = original.state_dict(), exported.state_dict()
        same = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        print(f"state_dict: {len(a)} tensors, {'every one bit-identical' if same else 'NOT identical'} to the original's")
        ok &= same
        with torch.no_grad():
            reference = original(input_ids=batch, labels=batch)
        print(f"exported vs original model's logits: max |diff| {(out.logits - reference.logits).abs().max().item():.3g}")
        if tokenizer is not None:
            prompt = tokenizer("To be", return_tensors="pt")["input_ids"]
            for name, model in [("original", original), ("exported", exported)]:
                generated = model.generate(prompt, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.eos_token_id)
                print(f"greedy from the {name}: {tokenizer.decode(generated[0])!r}")
    print("OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
