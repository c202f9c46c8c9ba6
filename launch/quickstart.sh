#!/usr/bin/env bash
# One command from a fresh checkout to a GPT that writes Shakespeare:
# installs what is missing (Debian/Ubuntu packages), builds the release binary, gets tiny
# Shakespeare, prepares it, trains configs/shakespeare_char.yaml on all cores, samples from it.
#
#   launch/quickstart.sh [--set key=value]...      (extra settings go to `gpt-dist train`)
#
# RANKS overrides the number of ranks (default: one per core when that splits nanoGPT's batch of
# 12 evenly, else one rank using every core).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf '\n==> %s\n' "$*"; }

# 1. System packages.
packages=(libopenmpi-dev openmpi-bin libhdf5-dev libopenblas-dev pkg-config)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} > 0 )); then
    say "installing ${missing[*]}"
    sudo=""; [[ "$(id -u)" == 0 ]] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v swift >/dev/null 2>&1 || { echo "quickstart: swift not found: install a Swift 5.10+ toolchain (swift.org/install)" >&2; exit 1; }

# 2. Build.
say "building (swift build -c release)"
swift build -c release
bin="$root/.build/release/gpt-dist"

# 3. Data: tiny Shakespeare, tokenized by character as nanoGPT's shakespeare_char.
text="data/shakespeare/input.txt"
if [[ ! -s "$text" ]]; then
    say "getting tiny Shakespeare"
    local_copy=()
    [[ -s "$root/../shared/data/tinyshakespeare.txt" ]] && local_copy=("$root/../shared/data/tinyshakespeare.txt")
    launch/get_shakespeare.sh "${local_copy[@]}"
fi
data="data/shakespeare_char"
if [[ ! -d "$data" ]]; then
    say "preparing $text -> $data"
    "$bin" prepare --input "$text" --out "$data"
fi

# 4. Train on every core.
cores="$(nproc --all 2>/dev/null || getconf _NPROCESSORS_ONLN)"
ranks="${RANKS:-}"
if [[ -z "$ranks" ]]; then
    if (( cores <= 12 && 12 % cores == 0 )); then ranks="$cores"; else ranks=1; fi
fi
config="configs/shakespeare_char.yaml"
if (( ranks == 1 )); then
    say "training $config on 1 rank x $cores threads"
    "$bin" train --config "$config" "$@"
else
    # nanoGPT's 12 sequences per step, split over the ranks: same numbers, every core busy.
    say "training $config on $ranks ranks (batch $((12 / ranks)) each, $ranks accumulation micro-steps)"
    launch/local.sh "$ranks" "$config" --set "batch_size=$((12 / ranks))" \
        --set "gradient_accumulation_steps=$ranks" "$@"
fi

# 5. Evaluate and sample.
ckpt="out/shakespeare_char/ckpt.h5"
say "val loss over the whole val split"
"$bin" eval --checkpoint "$ckpt" --data "$data" --split val
say "sampling"
"$bin" sample --checkpoint "$ckpt" --num-samples 1 --max-new-tokens 500 --prompt $'\n'
say "done: loss curves in out/shakespeare_char/loss.svg, metrics in out/shakespeare_char/metrics.jsonl"
