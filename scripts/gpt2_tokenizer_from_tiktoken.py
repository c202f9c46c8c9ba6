#!/usr/bin/env python3
"""Writes GPT-2's tokenizer as a Hugging Face directory has it (vocab.json + merges.txt) from a
tiktoken rank file (`gpt2.tiktoken`: one base64 token and its rank per line; the same ranks as
OpenAI's encoder.json, e.g. the copy openai-whisper ships in whisper/assets/). For machines that
cannot reach the Hugging Face hub: the serve benchmark's 124M checkpoint gets GPT-2's 50,257-token
vocabulary this way (docs/benchmarks.md).

    pip download openai-whisper --no-deps -d /tmp/wh && tar xzf /tmp/wh/openai_whisper-*.tar.gz -C /tmp/wh
    python3 scripts/gpt2_tokenizer_from_tiktoken.py /tmp/wh/openai_whisper-*/whisper/assets/gpt2.tiktoken DIR

Each merge is recovered from the ranks: a token of rank r is what byte-pair encoding of its own
bytes with the merges of rank < r leaves as exactly two parts.
"""
import base64
import json
import os
import sys


def bytes_to_unicode():
    """GPT-2's printable stand-in for each byte (as in its encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def split_by_lower_ranks(token, ranks, limit):
    parts = [bytes([b]) for b in token]
    while True:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < limit and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            return parts
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]


def main(source, out):
    ranks = {}
    with open(source, "rb") as f:
        for line in f:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    byte_char = bytes_to_unicode()

    def show(b):
        return "".join(byte_char[x] for x in b)

    vocab = {show(t): r for t, r in ranks.items()}
    vocab["<|endoftext|>"] = len(ranks)
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda x: x[1]):
        if len(token) == 1:
            continue
        parts = split_by_lower_ranks(token, ranks, rank)
        if len(parts) != 2:
            sys.exit(f"{source}: token of rank {rank} does not split into two lower-ranked parts")
        merges.append(f"{show(parts[0])} {show(parts[1])}")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    print(f"wrote {out}: {len(vocab)} tokens, {len(merges)} merges")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
