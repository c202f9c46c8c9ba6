#!/usr/bin/env bash
# Data-parallel training over several machines listed in an Open MPI hostfile.
#
#   launch/hostfile.sh [--max-restarts N] [--save-grace S] HOSTFILE NP CONFIG [--set key=value]...
#
# --max-restarts N (default 0): after a failed run, start it again from the newest checkpoint,
# at most N times (see launch/restarts.sh).
# --save-grace S (default 120): seconds the ranks get to finish the step and save after a
# Ctrl-C or SIGTERM to this script (passed on to every rank, on every host, as SIGUSR1 through
# mpirun); a second one stops them at once. The script then exits 1 (launch/restarts.sh).
#
# HOSTFILE lines look like `node1 slots=8` (one slot per rank; make slots the cores you give
# gpt-dist on that node). Every node needs the same checkout at the same path, a release build
# (swift build -c release) and the dataset at the config's data_dir (a shared filesystem or a
# copy). Only rank 0 writes out_dir. Ranks are bound one per core; each rank runs
# cores-of-its-node / ranks-on-its-node threads unless the config sets `threads`.
# Extra mpirun options go in MPIRUN_ARGS (e.g. "--mca btl_tcp_if_include eth0").
# scripts/check_hostfile_netns.sh runs it across two hosts emulated with network namespaces (own
# hostnames and addresses, sshd in each, TCP between the ranks); checked 2026-11-26: the same
# losses as `launch/local.sh 2` and srun for the same config.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/launch/restarts.sh"
take_launch_options "$@"
set -- "${args[@]}"
if [[ $# -lt 3 ]]; then
    echo "usage: launch/hostfile.sh [--max-restarts N] [--save-grace S] HOSTFILE NP CONFIG [--set key=value]..." >&2
    exit 2
fi
hostfile="$1"; np="$2"; config="$3"; shift 3
args=("$@")
[[ -f "$hostfile" ]] || { echo "launch/hostfile.sh: $hostfile: no such hostfile" >&2; exit 2; }
[[ "$np" =~ ^[1-9][0-9]*$ ]] || { echo "launch/hostfile.sh: NP must be a positive integer, got '$np'" >&2; exit 2; }
[[ -f "$config" ]] || { echo "launch/hostfile.sh: $config: no such config file" >&2; exit 2; }

bin="${GPT_DIST:-$root/.build/release/gpt-dist}"
[[ -x "$bin" ]] || { echo "launch/hostfile.sh: $bin not built (swift build -c release)" >&2; exit 1; }

if [[ "$(id -u)" == 0 ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

# Forward the environment the binary needs (Swift's runtime libraries may live on LD_LIBRARY_PATH).
forward=(-x PATH)
[[ -n "${LD_LIBRARY_PATH:-}" ]] && forward+=(-x LD_LIBRARY_PATH)

# shellcheck disable=SC2086
run_with_restarts "$bin" "$config" -- mpirun --hostfile "$hostfile" -np "$np" --map-by core --bind-to core \
    "${forward[@]}" ${MPIRUN_ARGS:-} --wdir "$PWD"
