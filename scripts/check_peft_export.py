#!/usr/bin/env python3
"""Loads a `gpt-dist export --adapters-only` directory with PEFT onto its Hugging Face base
model, with no code of gpt-dist's, and compares it with the merged export of the same
checkpoint. Not run in CI (needs torch, transformers and peft); docs/checkpoint-format.md has
its result.

    gpt-dist train --config LORA_CONFIG --set init_from=Tests/GPTTests/Fixtures/hf_gpt2 ...
    gpt-dist export --checkpoint OUT/ckpt.h5 --adapters-only --out OUT/peft
    gpt-dist export --checkpoint OUT/ckpt.h5 --format huggingface --out OUT/hf
    python3 scripts/check_peft_export.py OUT/peft --merged OUT/hf

Prints the largest logit difference between PeftModel(base, adapters) and the merged export on
a fixed random batch, the same after PEFT's own merge_and_unload(), and the largest difference
between PEFT's merged weights and gpt-dist's. Exits 1 when a difference exceeds 1e-5 of the
logits' scale (float32 sums in another order are all that may differ).
"""
import argparse
import json
import os
import sys

import torch
from peft import PeftModel
from transformers import GPT2LMHeadModel


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("adapters")
    parser.add_argument("--merged", required=True, help="gpt-dist export --format huggingface of the same checkpoint")
    parser.add_argument("--base", help="the base model directory (default: adapter_config.json's base_model_name_or_path)")
    args = parser.parse_args()

    with open(os.path.join(args.adapters, "adapter_config.json")) as f:
        config = json.load(f)
    base_path = args.base or config["base_model_name_or_path"]
    print(f"adapter_config.json: peft_type {config['peft_type']}, r {config['r']}, lora_alpha {config['lora_alpha']}, "
          f"target_modules {config['target_modules']}, fan_in_fan_out {config['fan_in_fan_out']}, base {base_path}")
    base = GPT2LMHeadModel.from_pretrained(base_path).eval()
    adapted = PeftModel.from_pretrained(base, args.adapters).eval()
    merged = GPT2LMHeadModel.from_pretrained(args.merged).eval()
    trainable = sum(p.numel() for n, p in adapted.named_parameters() if "lora_" in n)
    print(f"PEFT loaded {trainable} adapter parameters")

    generator = torch.Generator().manual_seed(0)
    n_positions = min(merged.config.n_positions, 32)
    batch = torch.randint(0, merged.config.vocab_size, (2, n_positions), generator=generator)
    failed = False
    with torch.no_grad():
        reference = merged(batch).logits
        scale = reference.abs().max().item()
        peft_logits = adapted(batch).logits
        difference = (peft_logits - reference).abs().max().item()
        print(f"PeftModel(base, adapters) vs merged export logits: max |diff| {difference:.3g} (scale {scale:.3g})")
        failed |= difference > 1e-5 * scale
        unloaded = adapted.merge_and_unload()
        unloaded_logits = unloaded(batch).logits
        difference = (unloaded_logits - reference).abs().max().item()
        print(f"PEFT merge_and_unload() vs merged export logits: max |diff| {difference:.3g}")
        failed |= difference > 1e-5 * scale
        ours = merged.state_dict()
        worst, worst_name = 0.0, ""
        for name, tensor in unloaded.state_dict().items():
            if name in ours and ours[name].shape == tensor.shape:
                d = (ours[name] - tensor).abs().max().item()
                if d > worst:
                    worst, worst_name = d, name
        print(f"PEFT's merged weights vs gpt-dist's: max |diff| {worst:.3g} ({worst_name or 'all equal'})")
        failed |= worst > 1e-6
        base_logits = GPT2LMHeadModel.from_pretrained(base_path).eval()(batch).logits
        moved = (base_logits - reference).abs().max().item()
        print(f"(the adapters move the base's logits by up to {moved:.3g})")
    print("FAILED" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
