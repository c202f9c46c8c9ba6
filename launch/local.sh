#!/usr/bin/env bash
# Data-parallel training on this machine: NP ranks under mpirun, each a full replica.
#
#   launch/local.sh [--max-restarts N] [--save-grace S] NP CONFIG [--set key=value]...
#
# --max-restarts N (default 0): after a failed run, start it again from the newest checkpoint,
# at most N times (see launch/restarts.sh; RESTART_DELAY seconds between, default 10).
# --save-grace S (default 120): Ctrl-C (or SIGTERM, SIGHUP) to this script asks every rank to
# finish its step, save a checkpoint and stop (passed on as SIGUSR1 through mpirun); the ranks
# get S seconds for that before they are stopped at once, as by a second Ctrl-C (which abandons
# a save in progress). Either way the script exits 1 and does not restart (launch/restarts.sh).
#
# Placement: when NP divides the cores, each rank is bound to its own cores/NP cores
# (--map-by slot:PE=k --bind-to core); with NP = cores that is one core and one thread per rank.
# Otherwise ranks are not bound (and oversubscribe when NP > cores). gpt-dist gives each rank
# cores / ranks-on-this-node compute threads unless the config sets `threads`.
# gradient_accumulation_steps counts micro-steps over all ranks (as nanoGPT): it must be a
# multiple of NP. To keep nanoGPT's tokens per step on NP ranks, divide batch_size or scale
# the accumulation, e.g. launch/local.sh 2 configs/shakespeare_char.yaml \
#     --set batch_size=6 --set gradient_accumulation_steps=2
# GPT_DIST overrides the executable (default: .build/release/gpt-dist, built if missing).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/launch/restarts.sh"
take_launch_options "$@"
set -- "${args[@]}"
if [[ $# -lt 2 ]]; then
    echo "usage: launch/local.sh [--max-restarts N] [--save-grace S] NP CONFIG [--set key=value]..." >&2
    exit 2
fi
np="$1"; config="$2"; shift 2
args=("$@")
if ! [[ "$np" =~ ^[1-9][0-9]*$ ]]; then
    echo "launch/local.sh: NP must be a positive integer, got '$np'" >&2
    exit 2
fi
if [[ ! -f "$config" ]]; then
    echo "launch/local.sh: $config: no such config file" >&2
    exit 2
fi

bin="${GPT_DIST:-$root/.build/release/gpt-dist}"
if [[ ! -x "$bin" ]]; then
    echo "launch/local.sh: building $bin (swift build -c release)" >&2
    (cd "$root" && swift build -c release >&2)
fi
command -v mpirun >/dev/null 2>&1 || { echo "launch/local.sh: mpirun not found (apt-get install openmpi-bin)" >&2; exit 1; }

cores="$(nproc --all 2>/dev/null || getconf _NPROCESSORS_ONLN)"
placement=()
if (( cores % np == 0 )); then
    placement=(--map-by "slot:PE=$((cores / np))" --bind-to core)
elif (( np > cores )); then
    placement=(--oversubscribe --bind-to none)
else
    placement=(--bind-to none)
fi

# Open MPI refuses to start as root without both of these.
if [[ "$(id -u)" == 0 ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

run_with_restarts "$bin" "$config" -- mpirun -np "$np" "${placement[@]}"
