#!/usr/bin/env bash
# Makes Tests/GPTTests/Fixtures/sgemm_attention/: a tiny checkpoint trained by gpt-dist at commit
# 00d52ff, the last one whose attention was sgemm calls on stored T×T probabilities, and what
# that commit's `eval` says of it. CheckpointKernelCompatibilityTests evaluates the checkpoint
# with today's kernels (the fused attention) and trains the same run again with them.
#
#   Tests/GPTTests/Fixtures/make_sgemm_attention_fixture.sh            # builds 00d52ff in a worktree
#   OLD_GPT_DIST=/path/to/gpt-dist-at-00d52ff Tests/GPTTests/Fixtures/make_sgemm_attention_fixture.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
out=$repo/Tests/GPTTests/Fixtures/sgemm_attention
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=${OLD_GPT_DIST:-}
if [ -z "$bin" ]; then
    git -C "$repo" worktree add --detach "$work/src" 00d52ff
    (cd "$work/src" && swift build -c release --product gpt-dist)
    bin=$work/src/.build/release/gpt-dist
fi

mkdir -p "$out"
# 30,000 characters of deterministic word salad (the corpus the test prepares again).
python3 - > "$out/corpus.txt" <<'PY'
words = "the king queen of and to my lord good night sweet prince what is this that thou art".split()
state, text, line = 12345, [], 0
while sum(map(len, text)) < 30000:
    state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
    text.append(words[(state >> 33) % len(words)])
    line += 1
    text.append(".\n" if line % 9 == 0 else " ")
print("".join(text), end="")
PY
"$bin" prepare --input "$out/corpus.txt" --out "$work/data"
cat > "$work/config.yaml" <<YAML
data_dir: $work/data
out_dir: $work/out
n_layer: 2
n_head: 2
n_embd: 32
block_size: 64
bias: true
dropout: 0.1
batch_size: 4
gradient_accumulation_steps: 1
max_iters: 12
learning_rate: 1.0e-2
min_lr: 1.0e-3
warmup_iters: 2
lr_decay_iters: 12
beta2: 0.99
weight_decay: 0.1
grad_clip: 1.0
eval_interval: 12
eval_iters: 2
log_interval: 10
always_save_checkpoint: true
seed: 1337
threads: 1
YAML
GPT_DIST_PEAK_FLOPS=1e10 "$bin" train --config "$work/config.yaml" --quiet
cp "$work/out/ckpt.h5" "$out/ckpt.h5"
sed -e "s|$work/data|DATA_DIR|" -e "s|$work/out|OUT_DIR|" "$work/config.yaml" > "$out/config.yaml"
{
    printf '{"commit": "00d52ff", "val": '
    "$bin" eval --checkpoint "$out/ckpt.h5" --data "$work/data" --split val --threads 1 --json
    printf ', "train": '
    "$bin" eval --checkpoint "$out/ckpt.h5" --data "$work/data" --split train --threads 1 --json
    printf '}\n'
} > "$out/expected.json"
cat "$out/expected.json"
