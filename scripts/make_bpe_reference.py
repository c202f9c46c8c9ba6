#!/usr/bin/env python3
"""Writes the byte-level BPE reference fixtures that GPTTests compare against.

Uses Hugging Face `tokenizers` (pip install tokenizers) to train ByteLevelBPETokenizer on
Tests/GPTTests/Fixtures/bpe/sample.txt, then records its vocab.json + merges.txt, its
pre-tokenization and its ids for a set of test texts. The outputs are committed, so tests and CI
need no Python. Run from the repository root:  python3 scripts/make_bpe_reference.py [tinyshakespeare.txt]
With tiny Shakespeare, it also writes Fixtures/bpe/shakespeare4096/ (HF's 4,096-token files and
the count and hash of its ids for the whole text).
"""
import json
import os
import random
import sys

import tokenizers
from tokenizers import ByteLevelBPETokenizer, pre_tokenizers

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURES = os.path.join(ROOT, "Tests", "GPTTests", "Fixtures", "bpe")
SAMPLE = os.path.join(FIXTURES, "sample.txt")
SPECIAL = "<|endoftext|>"

# (folder, vocab_size, min_frequency): the second trains until no pair is left to merge.
CONFIGS = [("v400", 400, 2), ("full", 5000, 1)]

TEXTS = [
    "",
    " ",
    "  ",
    "\n",
    "\n\n\n",
    "a  b",
    "a   b",
    "a \tb",
    "a\t b",
    "x   ",
    "   x",
    "\n\n\nx",
    "hello world",
    " hello world ",
    "Hello, World! How's it going? I'm fine; they'll see, we've won, she'd know, you're right.",
    "SHE'S LOUD; 'tis ''quoted'' ' s '",
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n",
    "Numbers: 12345, 3.14159, 2024-11-25 and ½ ⅓ Ⅻ ٣٤٥",
    "Emoji: 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇯🇵 ❤️ — party 🎉🎉🎉!",
    "CJK: 日本語のテキストです。中文文本测试。한국어 텍스트입니다.",
    "Combining: café vs cafe\u0301, nai\u0308ve, A\u030a, e\u0301\u0301\u0301",
    "unseen: 🦀 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u00a0nbsp\u2003em\u3000ideographic \u200bzwsp",
    "line\r\nwith CRLF\r\n\r\n",
    "control \x00\x01\x1f\x7f chars",
    "Hello<|endoftext|>World",
    "<|endoftext|>",
    "a <|endoftext|> b",
    "text  <|endoftext|>\n\nmore<|endoftext|><|endoftext|>",
    "<|endoftext|<|endoftext|>|>",
    "The quick brown fox jumps over the lazy dog. " * 3,
    "=" * 70 + "\n" + "-" * 33,
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
]


def random_texts(count=300, seed=1234):
    """Seeded random strings mixing the pre-tokenizer's hard cases: every kind of whitespace,
    apostrophes before letters, digits of several scripts, punctuation, marks, emoji, CJK."""
    rng = random.Random(seed)
    pools = [
        " ", "  ", "\n", "\t", "\r\n", "\u00a0", "\u2003", "\u3000", "\u0085", "\u2028", "\x0b", "\x0c", "\x1c",
        "'", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "''",
        "a", "the", "The", "and", "Zoë", "ß", "İ", "ǅ", "x", "Q",
        "1", "42", "2024", "٣", "½", "Ⅻ", "²",
        ".", ",", "!?", "--", "...", "<", "|", ">", "\\", "\"", "#", "$", "_", "@",
        "\u0301", "\u0308", "\u200d", "\ufe0f", "\U0001f600", "\U0001f44d\U0001f3fd", "\U0001f1ef\U0001f1f5",
        "日本", "中文", "한국어", "Привет", "مرحبا", "\U0001d518", "\x00", "\x7f", "<|endoftext|>",
    ]
    texts = []
    for _ in range(count):
        texts.append("".join(rng.choice(pools) for _ in range(rng.randint(0, 25))))
    return texts


def main():
    with open(SAMPLE, encoding="utf-8", newline="") as f:
        sample = f.read()
    texts = TEXTS + [sample] + random_texts()
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False)
    results = [{"text": t, "pieces": [p for p, _ in pre.pre_tokenize_str(t)]} for t in texts]
    configs = {}
    for name, vocab_size, min_frequency in CONFIGS:
        tok = ByteLevelBPETokenizer()
        tok.train(files=[SAMPLE], vocab_size=vocab_size, min_frequency=min_frequency,
                  special_tokens=[SPECIAL], show_progress=False)
        folder = os.path.join(FIXTURES, name)
        os.makedirs(folder, exist_ok=True)
        tok.save_model(folder)
        # The same files loaded back must encode identically (no special tokens registered
        # there, so compare only texts without one).
        reloaded = ByteLevelBPETokenizer(os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"))
        for r in results:
            ids = tok.encode(r["text"]).ids
            r.setdefault("ids", {})[name] = ids
            if SPECIAL not in r["text"]:
                assert reloaded.encode(r["text"]).ids == ids, r["text"]
            assert tok.decode(ids, skip_special_tokens=False) == r["text"], r["text"]
        configs[name] = {"vocab_size": vocab_size, "min_frequency": min_frequency,
                         "actual_vocab_size": tok.get_vocab_size()}
    with open(os.path.join(FIXTURES, "expected.json"), "w", encoding="utf-8") as f:
        head = json.dumps({"tokenizers_version": tokenizers.__version__, "configs": configs},
                          ensure_ascii=False)
        f.write(head[:-1] + ',\n"cases":[\n')
        f.write(",\n".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in results))
        f.write("\n]}\n")
    print("wrote", FIXTURES, {k: v["actual_vocab_size"] for k, v in configs.items()})


def fnv1a64(ids):
    """FNV-1a over the ids as little-endian int32 bytes (the test computes the same)."""
    h = 0xcbf29ce484222325
    for i in ids:
        for b in int(i).to_bytes(4, "little", signed=True):
            h ^= b
            h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def shakespeare(path):
    """Trains to 4,096 tokens on tiny Shakespeare (as `gpt-dist tokenizer train --vocab-size 4096`
    does) and records the files plus the count and FNV-1a hash of the ids of the whole text."""
    tok = ByteLevelBPETokenizer()
    tok.train(files=[path], vocab_size=4096, min_frequency=2, special_tokens=[SPECIAL], show_progress=False)
    folder = os.path.join(FIXTURES, "shakespeare4096")
    os.makedirs(folder, exist_ok=True)
    tok.save_model(folder)
    with open(path, encoding="utf-8", newline="") as f:
        ids = tok.encode(f.read()).ids
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump({"tokens": len(ids), "fnv1a64": fnv1a64(ids), "first": ids[:20]}, f)
        f.write("\n")
    print("wrote", folder, len(ids))


if __name__ == "__main__":
    main()
    # With tiny Shakespeare present (the path given as the first argument, or
    # ../shared/data/tinyshakespeare.txt from the repository root), also record the real-data reference.
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare.txt")
    if os.path.exists(corpus):
        shakespeare(corpus)
