#!/usr/bin/env bash
# Runs launch/hostfile.sh across two "machines" emulated on this one: two network namespaces
# with their own hostnames (node1, node2) and addresses (10.9.0.1, 10.9.0.2) on a bridge, an sshd
# in each, so mpirun starts its daemons over ssh and the ranks talk over TCP as on a real cluster.
# Needs root (namespaces) and installs openssh-server when missing. Not a test: a check to run by
# hand after changing the launch scripts.
#
#   scripts/check_hostfile_netns.sh [--faults] DATA_DIR [CONFIG]     (default configs/quick.yaml)
#
# Prints the training log and each rank's host; tears everything down on exit. GPT_DIST is the
# executable (default .build/release/gpt-dist). --faults then runs, across the two hosts: a
# Ctrl-C to launch/hostfile.sh while rank 0 takes 3 s to save (the ranks' SIGUSR1 lines, the
# checkpoint saved, status 1), rank 2 of 3 (node2) frozen with SIGSTOP (its peers' watchdogs
# name it), and ranks 0 (node1) and 2 (node2) of 3 killed together (rank 1 names both).
set -euo pipefail
faults=0
[[ "${1:-}" == --faults ]] && { faults=1; shift; }
data="${1:?usage: scripts/check_hostfile_netns.sh [--faults] DATA_DIR [CONFIG]}"
config="${2:-configs/quick.yaml}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ "$(id -u)" == 0 ]] || { echo "check_hostfile_netns: needs root" >&2; exit 2; }
# One emulation at a time: scripts/multihost.sh uses the same names (gd1, gd2, gdbr) and lock.
exec 9>/run/lock/gpt-dist-netns.lock
flock 9
command -v sshd >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >/dev/null

work="$(mktemp -d)"
cleanup() {
    for i in 1 2; do
        [[ -f "$work/sshd-$i.pid" ]] && kill "$(cat "$work/sshd-$i.pid")" 2>/dev/null || true
        ip netns del "gd$i" 2>/dev/null || true
    done
    ip link del gdbr 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

ip link add gdbr type bridge && ip addr add 10.9.0.254/24 dev gdbr && ip link set gdbr up
ssh-keygen -q -t ed25519 -N "" -f "$work/key"
mkdir -p /run/sshd
for i in 1 2; do
    ip netns add "gd$i"
    ip link add "gdv$i" type veth peer name "gdp$i"
    ip link set "gdp$i" netns "gd$i"
    ip link set "gdv$i" master gdbr && ip link set "gdv$i" up
    ip netns exec "gd$i" ip addr add "10.9.0.$i/24" dev "gdp$i"
    ip netns exec "gd$i" ip link set "gdp$i" up
    ip netns exec "gd$i" ip link set lo up
    ip netns exec "gd$i" unshare --uts sh -c "hostname node$i; exec /usr/sbin/sshd -o ListenAddress=10.9.0.$i \
        -o PermitRootLogin=prohibit-password -o StrictModes=no -o AuthorizedKeysFile=$work/key.pub -o PidFile=$work/sshd-$i.pid \
        -o SetEnv=PATH=$PATH"
done
for i in 1 2; do
    ssh -i "$work/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        -o BatchMode=yes "10.9.0.$i" true || { echo "check_hostfile_netns: ssh to 10.9.0.$i failed" >&2; exit 1; }
done
printf '10.9.0.1 slots=1\n10.9.0.2 slots=1\n' > "$work/hosts"
printf '10.9.0.1 slots=2\n10.9.0.2 slots=1\n' > "$work/hosts3"
export OMPI_MCA_plm_rsh_args="-i $work/key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
net="--mca oob_tcp_if_include 10.9.0.0/24 --mca btl_tcp_if_include 10.9.0.0/24 --mca btl self,tcp"

cd "$root"
bin="${GPT_DIST:-$root/.build/release/gpt-dist}"
export GPT_DIST="$bin"
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --hostfile "$work/hosts" -np 2 -x PATH $net \
    "$bin" doctor | grep -E "^host:|^allreduce"
MPIRUN_ARGS="$net" launch/hostfile.sh "$work/hosts" 2 "$config" --set "data_dir=$data" \
    --set "out_dir=$work/out" --set gradient_accumulation_steps=2 2>&1 | tr '\r' '\n' | grep -v '^iter '
(( faults )) || exit 0

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 GPT_DIST_PEAK_FLOPS=1e10
common=(--quiet --set "data_dir=$data" --set "out_dir=$work/faults" --set max_iters=100000 --set eval_interval=100000)
steps() { grep -c '"train"' "$work/faults/metrics.jsonl" 2>/dev/null || true; }
await_steps() { until [[ "$(steps)" -ge "$1" ]]; do sleep 0.2; done; }
since() { echo "$(date +%s.%N) - $1" | bc; }
set +e
echo "== Ctrl-C to launch/hostfile.sh while rank 0 takes 3 s to save"
set -m   # the launcher in a process group of its own, as a terminal's foreground job
GPT_DIST_TEST_PAUSE_IN_SAVE=3 MPIRUN_ARGS="$net -x GPT_DIST_TEST_PAUSE_IN_SAVE -x GPT_DIST_PEAK_FLOPS" \
    launch/hostfile.sh "$work/hosts" 2 "$config" "${common[@]}" --set gradient_accumulation_steps=2 \
    > "$work/ctrl-c.out" 2> "$work/ctrl-c.err" &
launcher=$!
set +m
await_steps 5
t=$(date +%s.%N); kill -INT -- -"$launcher"; wait "$launcher"; echo "status $? $(since "$t") s after the Ctrl-C"
grep -E "^launch:|^gpt-dist train" "$work/ctrl-c.err"; grep "^stopped at" "$work/ctrl-c.out"
mpi=(mpirun --hostfile "$work/hosts3" -np 3 -x PATH -x GPT_DIST_PEAK_FLOPS $net)
echo "== rank 2 of 3 (node2) frozen (SIGSTOP)"
rm -rf "$work/faults"; t=$(date +%s.%N)
GPT_DIST_TEST_FREEZE_AT_STEP=5 "${mpi[@]}" -x GPT_DIST_TEST_FREEZE_AT_STEP "$bin" train --config "$config" "${common[@]}" \
    --set gradient_accumulation_steps=3 --set collective_timeout_s=3 2>&1 | grep -E "error: rank"
echo "status ${PIPESTATUS[0]} $(since "$t") s after the start"
echo "== ranks 0 (node1) and 2 (node2) of 3 killed together"
rm -rf "$work/faults"
"${mpi[@]}" "$bin" train --config "$config" "${common[@]}" --set gradient_accumulation_steps=3 \
    > "$work/kill.out" 2> "$work/kill.err" &
job=$!
await_steps 3
victims=()
for rank in 0 2; do
    for pid in $(pgrep -f "$bin train --config $config"); do
        grep -qz "^OMPI_COMM_WORLD_RANK=$rank\$" "/proc/$pid/environ" 2>/dev/null && victims+=("$pid")
    done
done
t=$(date +%s.%N); kill -9 "${victims[@]}"; wait "$job"; echo "status $? $(since "$t") s after the kill"
grep -E "^gpt-dist train|noticed" "$work/kill.err"
