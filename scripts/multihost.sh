#!/usr/bin/env bash
# Emulates N hosts on this machine and runs a job across them: N network namespaces (gd1..gdN,
# hostnames node1..nodeN, addresses 10.9.0.1..N/24) joined by veth pairs to a bridge (gdbr), each
# host's link shaped with tc to a rate in both directions, each host's processes pinned with
# taskset to cores of its own. Everything is torn down on exit, on failure and on Ctrl-C. Needs root.
#
#   scripts/multihost.sh [options] -- CMD [ARG]...
#
#   --hosts N            emulated hosts (default 2)
#   --rate R             each host's link: 1gbit, 10gbit, none (unshaped veth), or any tc rate
#                        such as 500mbit (default none)
#   --ranks-per-host R   MPI ranks per host (default 1)
#   --cores-per-host C   cores per host (default 1): host i gets cores (i-1)*C .. i*C-1 (modulo
#                        the machine's core count, with a warning when hosts must share cores)
#   --each-host          run CMD once inside each host instead of as an mpirun job (for torchrun):
#                        env HOST_INDEX=i, NNODES=N, MASTER_ADDR=<host 1>, MASTER_PORT, HOST_ADDR,
#                        HOST_IFNAME, GLOO_SOCKET_IFNAME, and torchrun's PET_NNODES,
#                        PET_NODE_RANK, PET_MASTER_ADDR, PET_MASTER_PORT; waits for all and fails
#                        if any failed (the others are stopped then). A single CMD word is run
#                        with `bash -c` inside the host, so it may use those variables.
#   --no-doctor          skip `gpt-dist doctor` across the hosts before the job
#   --doctor-reps K      timed 16 MiB allreduces of that doctor run (default 10)
#   --timeout S          stop the job after S seconds (default: none); exit status 124
#   --mpirun-args "..."  extra mpirun options
#   --burst-ms B         tbf burst, in milliseconds of the rate (default 10)
#   --latency-ms L       tbf queue, in milliseconds of the rate (default 20)
#   --cleanup            remove what a killed (-9) run left behind (namespaces gd* and their
#                        processes, bridge gdbr, /tmp/multihost.* work directories)
#
# In the default mode CMD runs as `mpirun -np N*R` across the hosts over TCP (btl self,tcp on the
# bridge's subnet only). mpirun runs here, outside the namespaces; its launch agent (instead of
# ssh) is a script that starts Open MPI's daemon inside host i's namespace with its own UTS
# namespace (hostname node<i>) under `taskset -c <host i's cores>`, so every rank of host i
# inherits those cores (mpirun's own binding is off: --bind-to none). `--hosts 1` runs the same
# command as one host's ranks (one rank by default) in gd1 on the same core as host 1 of a
# multi-host run. A first word `gpt-dist` finds $GPT_DIST or .build/release/gpt-dist.
#
# Before the job, `gpt-dist doctor` runs across the same hosts and ranks and its allreduce line
# (16 MiB, bus bandwidth) is printed as `multihost: doctor allreduce 16 MiB: ...`: every figure
# of a multi-host run is to be read beside that effective bandwidth.
#
# tc: a tbf qdisc on each host's side of its veth (what the host sends) and one on the bridge's
# side (what it receives), each at the rate, burst = rate x burst-ms (1.25 MB at 1gbit, 12.5 MB
# at 10gbit), queue = rate x latency-ms. No traffic leaves the machine: the namespaces have no
# route but their own /24, and the bridge is not connected to any other interface.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prog=multihost
die() { echo "$prog: $*" >&2; exit 2; }
say() { echo "$prog: $*"; }

hosts=2 rate=none ranks_per_host=1 cores_per_host=1 each_host=0 doctor=1 doctor_reps=10
timeout_s="" extra_mpirun="" burst_ms=10 latency_ms=20 cleanup_only=0
subnet=10.9.0 bridge=gdbr master_port=29500
while [[ $# -gt 0 ]]; do
    case "$1" in
        --hosts) hosts="$2"; shift 2 ;;
        --rate) rate="$2"; shift 2 ;;
        --ranks-per-host) ranks_per_host="$2"; shift 2 ;;
        --cores-per-host) cores_per_host="$2"; shift 2 ;;
        --each-host) each_host=1; shift ;;
        --no-doctor) doctor=0; shift ;;
        --doctor-reps) doctor_reps="$2"; shift 2 ;;
        --timeout) timeout_s="$2"; shift 2 ;;
        --mpirun-args) extra_mpirun="$2"; shift 2 ;;
        --burst-ms) burst_ms="$2"; shift 2 ;;
        --latency-ms) latency_ms="$2"; shift 2 ;;
        --cleanup) cleanup_only=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        *) die "unknown option '$1' (the command goes after --; --help)" ;;
    esac
done
[[ "$(id -u)" == 0 ]] || die "needs root (network namespaces, tc)"

for v in hosts ranks_per_host cores_per_host doctor_reps burst_ms latency_ms; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "--${v//_/-} must be a positive integer, got '${!v}'"
done
[[ -z "$timeout_s" || "$timeout_s" =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive integer"
(( hosts <= 200 )) || die "--hosts: at most 200"

# Leftovers of a run killed with -9 (the trap could not run). Only this script's names.
remove_leftovers() {
    local ns pid
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^gd[0-9]+$' || true); do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
    ip link del "$bridge" 2>/dev/null || true
}
[[ $# -gt 0 || $cleanup_only == 1 ]] || die "no command (usage: scripts/multihost.sh [options] -- CMD [ARG]...)"

# One emulation at a time on this machine (scripts/check_hostfile_netns.sh takes the same lock).
exec 9>/run/lock/gpt-dist-netns.lock
if (( cleanup_only )); then
    flock -n 9 || die "an emulation is running (it holds /run/lock/gpt-dist-netns.lock): nothing removed"
    remove_leftovers
    rm -rf /tmp/multihost.??????
    say "removed leftovers"
    exit 0
fi
if ! flock -n 9; then
    say "waiting for another emulation (lock /run/lock/gpt-dist-netns.lock)"
    flock 9
fi
if ip link show "$bridge" >/dev/null 2>&1 || ip netns list | grep -qE '^gd[0-9]+( |$)'; then
    die "namespaces gd* or bridge $bridge exist but no emulation holds the lock: leftovers of a killed run; remove them with scripts/multihost.sh --cleanup"
fi

# ---- rate → tbf parameters --------------------------------------------------------------------
rate_bits() {  # tc rate string → bits/s
    local r="${1,,}" n u
    [[ "$r" =~ ^([0-9]+(\.[0-9]+)?)([kmgt]?)(bit|bps)?$ ]] || return 1
    n="${BASH_REMATCH[1]}"; u="${BASH_REMATCH[3]}"
    [[ "${BASH_REMATCH[4]}" == bps ]] && n="$(awk -v n="$n" 'BEGIN{print n*8}')"
    case "$u" in k) n="$(awk -v n="$n" 'BEGIN{print n*1e3}')" ;; m) n="$(awk -v n="$n" 'BEGIN{print n*1e6}')" ;;
                 g) n="$(awk -v n="$n" 'BEGIN{print n*1e9}')" ;; t) n="$(awk -v n="$n" 'BEGIN{print n*1e12}')" ;; esac
    awk -v n="$n" 'BEGIN{printf "%.0f", n}'
}
if [[ "$rate" != none ]]; then
    bits="$(rate_bits "$rate")" || die "--rate: '$rate' is not none or a tc rate like 1gbit"
    burst_bytes=$(( bits / 8 * burst_ms / 1000 ))
    (( burst_bytes >= 65536 * 2 )) || burst_bytes=$(( 65536 * 2 ))   # at least two 64 KiB GSO packets
    queue_bytes=$(( bits / 8 * latency_ms / 1000 ))
    (( queue_bytes >= 65536 * 2 )) || queue_bytes=$(( 65536 * 2 ))
    tbf="tbf rate $rate burst $burst_bytes limit $queue_bytes"
fi

# ---- cores ------------------------------------------------------------------------------------
ncpu="$(nproc --all)"
declare -a host_cores
for ((i = 1; i <= hosts; i++)); do
    list=""
    for ((c = 0; c < cores_per_host; c++)); do list+="${list:+,}$(( ((i - 1) * cores_per_host + c) % ncpu ))"; done
    host_cores[i]="$list"
done
(( hosts * cores_per_host <= ncpu )) || echo "$prog: warning: $hosts hosts x $cores_per_host cores > $ncpu cores: hosts share cores" >&2

bin="${GPT_DIST:-$root/.build/release/gpt-dist}"
if [[ "$1" == gpt-dist ]]; then
    [[ -x "$bin" ]] || die "$bin not built (swift build -c release, or set GPT_DIST)"
    shift; set -- "$bin" "$@"
fi

# ---- setup and teardown -----------------------------------------------------------------------
work="$(mktemp -d /tmp/multihost.XXXXXX)"
job_pids=()
cleanup() {
    local status=$? pid i
    trap - EXIT INT TERM HUP
    [[ -z "${watchdog:-}" ]] || kill -TERM "$watchdog" 2>/dev/null || true
    for pid in "${job_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # Every process still inside a namespace was started by this script (mpirun's daemons, ranks,
    # each-host commands): TERM, a moment, then KILL, by pid.
    for ((i = 1; i <= hosts; i++)); do
        for pid in $(ip netns pids "gd$i" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
    done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        local left=0
        for ((i = 1; i <= hosts; i++)); do [[ -n "$(ip netns pids "gd$i" 2>/dev/null)" ]] && left=1; done
        (( left )) || break
        sleep 0.2
    done
    for ((i = 1; i <= hosts; i++)); do
        for pid in $(ip netns pids "gd$i" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        ip netns del "gd$i" 2>/dev/null || true   # takes the veth pair with it
        ip link del "gdv$i" 2>/dev/null || true
    done
    ip link del "$bridge" 2>/dev/null || true
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
interrupted=""
trap 'interrupted=130; exit 130' INT
trap 'interrupted=143; exit 143' TERM
trap 'interrupted=129; exit 129' HUP

ip link add "$bridge" type bridge
ip addr add "$subnet.254/24" dev "$bridge"
ip link set "$bridge" up
for ((i = 1; i <= hosts; i++)); do
    ip netns add "gd$i"
    ip link add "gdv$i" type veth peer name "gdp$i"
    ip link set "gdp$i" netns "gd$i"
    ip link set "gdv$i" master "$bridge"
    ip link set "gdv$i" up
    ip netns exec "gd$i" ip addr add "$subnet.$i/24" dev "gdp$i"
    ip netns exec "gd$i" ip link set "gdp$i" up
    ip netns exec "gd$i" ip link set lo up
    if [[ "$rate" != none ]]; then
        # shellcheck disable=SC2086
        ip netns exec "gd$i" tc qdisc replace dev "gdp$i" root $tbf   # host i sends
        # shellcheck disable=SC2086
        tc qdisc replace dev "gdv$i" root $tbf                        # host i receives
    fi
done
# Wait for the links (and the bridge's forwarding state) before the first connection.
for ((i = 1; i <= hosts; i++)); do
    for _ in $(seq 1 50); do
        [[ "$(cat "/sys/class/net/gdv$i/operstate")" == up && "$(cat "/sys/class/net/gdv$i/brport/state")" == 3 ]] \
            && ip netns exec "gd$i" grep -qx up "/sys/class/net/gdp$i/operstate" && break
        sleep 0.1
    done
done

# Run "$@" inside host i (its namespace, hostname node<i>, its cores); call it in a subshell (&).
in_host() {
    local i="$1"; shift
    exec ip netns exec "gd$i" unshare --uts -- taskset -c "${host_cores[i]}" \
        /bin/sh -c 'hostname "$0"; exec "$@"' "node$i" "$@"
}

# mpirun's launch agent: `agent HOST CMD...` as ssh would be called; CMD is a shell command line.
cat > "$work/agent" <<EOF
#!/bin/bash
host="\$1"; shift
case "\$host" in
$(for ((i = 1; i <= hosts; i++)); do printf '    %s|node%s) i=%s; cores=%s ;;\n' "$subnet.$i" "$i" "$i" "${host_cores[i]}"; done)
    *) echo "multihost agent: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "gd\$i" unshare --uts -- taskset -c "\$cores" /bin/sh -c 'hostname "node\$0"; eval "\$1"' "\$i" "\$*"
EOF
chmod +x "$work/agent"
for ((i = 1; i <= hosts; i++)); do echo "$subnet.$i slots=$ranks_per_host"; done > "$work/hostfile"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# shellcheck disable=SC2054  # the commas are MCA values (self,tcp)
mpirun_cmd=(mpirun --hostfile "$work/hostfile" -np $(( hosts * ranks_per_host )) --map-by slot --bind-to none
    --mca plm_rsh_agent "$work/agent" --mca plm_rsh_no_tree_spawn 1
    --mca pml ob1 --mca btl self,tcp
    --mca btl_tcp_if_include "$subnet.0/24" --mca oob_tcp_if_include "$subnet.0/24"
    -x PATH --wdir "$PWD")
[[ -n "${LD_LIBRARY_PATH:-}" ]] && mpirun_cmd+=(-x LD_LIBRARY_PATH)
# shellcheck disable=SC2206
[[ -n "$extra_mpirun" ]] && mpirun_cmd+=($extra_mpirun)

# --timeout: a background watchdog that TERMs the given pids after timeout_s and leaves a mark.
watchdog=""
start_watchdog() {
    [[ -n "$timeout_s" ]] || return 0
    ( exec >/dev/null 2>&1
      sleep "$timeout_s" & s=$!
      trap 'kill $s; exit 0' TERM
      wait $s
      echo timeout > "$work/timed-out"
      kill -TERM "$@" ) 9>&- &
    watchdog=$!
}
stop_watchdog() {
    [[ -n "$watchdog" ]] || return 0
    kill -TERM "$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
    watchdog=""
}

run_timed() {  # run "$@" in the background (so the traps fire at once), with --timeout
    "$@" 9>&- &
    local pid=$!
    job_pids+=("$pid")
    local status=0
    rm -f "$work/timed-out"
    start_watchdog "$pid"
    wait "$pid" || status=$?
    stop_watchdog
    [[ -f "$work/timed-out" ]] && { echo "$prog: timed out after $timeout_s s" >&2; status=124; }
    return "$status"
}

say "hosts $hosts (gd1..gd$hosts, $subnet.1-$hosts), ranks per host $ranks_per_host, cores $(for ((i = 1; i <= hosts; i++)); do printf 'node%s:%s ' "$i" "${host_cores[i]}"; done)"
if [[ "$rate" == none ]]; then
    say "link none (unshaped veth)"
else
    say "link $rate each way per host: tc qdisc $tbf (burst ${burst_ms} ms, queue ${latency_ms} ms of the rate)"
fi

if (( doctor )); then
    [[ -x "$bin" ]] || die "$bin not built (needed for the doctor; --no-doctor to skip)"
    status=0
    run_timed "${mpirun_cmd[@]}" "$bin" doctor --repetitions "$doctor_reps" > "$work/doctor.txt" 2>&1 || status=$?
    if (( status != 0 )); then
        cat "$work/doctor.txt" >&2
        die "gpt-dist doctor across the hosts failed (status $status)"
    fi
    line="$(grep -E '^allreduce 16 MiB:' "$work/doctor.txt" | sed 's/^allreduce 16 MiB: *//')"
    say "doctor allreduce 16 MiB: ${line:-?} [ranks $(( hosts * ranks_per_host )), link $rate]"
    grep -E '^rank [0-9]+:' "$work/doctor.txt" | sed "s/^/$prog: doctor /"
fi

status=0
if (( each_host )); then
    say "each host runs: $*"
    declare -A host_of
    pids=()
    for ((i = 1; i <= hosts; i++)); do
        envs=(HOST_INDEX="$i" NNODES="$hosts" MASTER_ADDR="$subnet.1" MASTER_PORT="$master_port"
              HOST_ADDR="$subnet.$i" HOST_IFNAME="gdp$i" GLOO_SOCKET_IFNAME="gdp$i"
              PET_NNODES="$hosts" PET_NODE_RANK="$(( i - 1 ))" PET_MASTER_ADDR="$subnet.1"
              PET_MASTER_PORT="$master_port" OMP_NUM_THREADS="${OMP_NUM_THREADS:-$cores_per_host}")
        if [[ $# -eq 1 ]]; then cmd=(bash -c "$1"); else cmd=("$@"); fi
        if (( i == 1 )); then
            in_host "$i" env "${envs[@]}" "${cmd[@]}" 9>&- &
        else
            in_host "$i" env "${envs[@]}" "${cmd[@]}" > "$work/host-$i.out" 2>&1 9>&- &
        fi
        pids+=("$!"); job_pids+=("$!"); host_of[$!]=$i
    done
    rm -f "$work/timed-out"
    start_watchdog "${pids[@]}"
    running=("${pids[@]}")
    while (( ${#running[@]} > 0 )); do
        s=0; done_pid=""
        wait -n -p done_pid "${running[@]}" || s=$?
        [[ -n "$done_pid" ]] || break
        rest=(); for pid in "${running[@]}"; do [[ "$pid" == "$done_pid" ]] || rest+=("$pid"); done
        running=("${rest[@]}")
        if (( s != 0 )); then
            if (( status != 0 )); then
                echo "$prog: host ${host_of[$done_pid]} stopped (status $s)" >&2
            else
                echo "$prog: host ${host_of[$done_pid]} failed (status $s); stopping the others" >&2
                status=$s
                # The others would wait for it (rendezvous, collectives): stop them.
                for pid in "${running[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
            fi
        fi
    done
    stop_watchdog
    [[ -f "$work/timed-out" ]] && { echo "$prog: timed out after $timeout_s s" >&2; status=124; }
    for ((i = 2; i <= hosts; i++)); do
        echo "$prog: ---- output of host $i ----"
        cat "$work/host-$i.out"
    done
else
    say "mpirun: ${mpirun_cmd[*]} $*"
    run_timed "${mpirun_cmd[@]}" "$@" || status=$?
fi
status="${interrupted:-$status}"
say "exit status $status"
exit "$status"
