#!/usr/bin/env bash
# The multi-host scaling table (issue 12): gpt-dist's data-parallel bench and PyTorch DDP on the
# same emulated hosts (scripts/multihost.sh), 1 host against N (default 2), one single-threaded
# rank per host, per-rank batch fixed (weak scaling). Prints markdown rows as the cells finish.
#
#   scripts/scaling_table.sh [--shapes "S..."] [--links "L..."] [--variants "PATTERN..."]
#                            [--iters N] [--warmup N] [--hosts N] [--timeout S] [--log-dir DIR]
#                            [--mpirun-args "..."] [--pt-exposed-comm] [--dry-run]
#
#   --shapes     shakespeare-gpu (6x6x384, block 256, vocab 50304, batch 8 per rank) and/or
#                gpt2-124m (12x12x768, block 1024, vocab 50304, batch 1 per rank); default both
#   --links      1gbit 10gbit none (default all three; any multihost.sh --rate)
#   --variants   shell patterns over the variant names (default '*'):
#                  gd-b{0,25}-z{0,1}-{fp32,bf16}  gpt-dist bench --bucket-mb {0,25}
#                      --zero-stage {0,1} --grad-reduce-dtype {float32,bfloat16}
#                  pt-fp32, pt-bf16               bench/pytorch_ddp.py under torchrun, DDP
#                      bucket_cap_mb 25, without / with bf16_compress_hook
#                e.g. --variants 'gd-b25-* pt-*'
#   --iters/--warmup   timed and warm-up steps of every run (default 5 and 1)
#   --pt-exposed-comm  PyTorch runs time their steps again under no_sync() for an exposed-comm
#                      figure (doubles their timed steps)
#   --dry-run    print the rows' commands without running them
# The same settings can come from the environment: SHAPES, LINKS, VARIANTS, ITERS, WARMUP, HOSTS.
#
# Columns: shape, link, the bus bandwidth `gpt-dist doctor` measured across the hosts just
# before the cell (16 MiB allreduce; its time per allreduce in brackets; PyTorch rows add gloo's
# own, measured the same way by pytorch_ddp.py), system, variant, 1-host s/step (best step; measured once
# per shape and system, link-independent, reused for every link), N-host s/step, efficiency =
# 1-host best step / N-host best step (the same per-rank batch: = N-host global tokens/s / (N x 1-host
# tokens/s)), exposed comm and bytes/rank/step when the
# bench prints them, the exact command. Each run's whole output is kept in the log directory;
# scripts/scaling_summary.py DIR... reads those logs again for median and best steps side by side.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

shapes="${SHAPES:-shakespeare-gpu gpt2-124m}"
links="${LINKS:-1gbit 10gbit none}"
variants="${VARIANTS:-*}"
iters="${ITERS:-5}" warmup="${WARMUP:-1}" hosts="${HOSTS:-2}"
timeout_s=3600 log_dir="" mpirun_args="" pt_exposed=0 dry_run=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --shapes) shapes="$2"; shift 2 ;;
        --links) links="$2"; shift 2 ;;
        --variants) variants="$2"; shift 2 ;;
        --iters) iters="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        --hosts) hosts="$2"; shift 2 ;;
        --timeout) timeout_s="$2"; shift 2 ;;
        --log-dir) log_dir="$2"; shift 2 ;;
        --mpirun-args) mpirun_args="$2"; shift 2 ;;
        --pt-exposed-comm) pt_exposed=1; shift ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "scaling_table: unknown option '$1' (--help)" >&2; exit 2 ;;
    esac
done
log_dir="${log_dir:-/tmp/scaling-table-$(date -u +%Y%m%d-%H%M%S)}"
mkdir -p "$log_dir"

shape_args() {
    case "$1" in
        shakespeare-gpu) echo "--preset shakespeare-gpu --vocab-size 50304 --batch-size 8" ;;
        gpt2-124m) echo "--preset gpt2-124m --vocab-size 50304 --batch-size 1" ;;
        *) echo "scaling_table: unknown shape '$1' (shakespeare-gpu, gpt2-124m)" >&2; exit 2 ;;
    esac
}

all_variants=()
for b in 0 25; do for z in 0 1; do for d in fp32 bf16; do all_variants+=("gd-b$b-z$z-$d"); done; done; done
all_variants+=(pt-fp32 pt-bf16)
selected=()
set -f  # the patterns are matched against variant names, not files
for v in "${all_variants[@]}"; do
    for pattern in $variants; do
        # shellcheck disable=SC2053
        if [[ "$v" == $pattern ]]; then selected+=("$v"); break; fi
    done
done
set +f
(( ${#selected[@]} )) || { echo "scaling_table: no variant matches '$variants'" >&2; exit 2; }
want_gd=0 want_pt=0
for v in "${selected[@]}"; do [[ "$v" == gd-* ]] && want_gd=1; [[ "$v" == pt-* ]] && want_pt=1; done

# A command for the table: words with spaces, quotes or $ in single quotes.
show() {
    local out="" w
    for w in "$@"; do
        if [[ "$w" =~ [[:space:]\$\'\"\(\)\;\&\|\*] ]]; then out+=" '${w//\'/\'\\\'\'}'"; else out+=" $w"; fi
    done
    echo "${out# }"
}

# ---- parsing a run's output (tolerant: today's bench prints one block per rank) ----------------
ms_best() {  # slowest rank's best step in ms (the largest "ms/iter X best" line)
    awk '/^ms\/iter[ \t]/ { for (i = 2; i <= NF; i++) if ($(i+1) ~ /^best/) { v = $i + 0; if (v > m) m = v } } END { if (m) print m }' "$1"
}
tokens_global() {  # "global" line, or one line, or the sum of the ranks' lines
    awk '/^tokens\/s[ \t]/ { n++; s += $2; if (/global/ && !g) g = $2 } END { if (g) print g; else if (n == 1) print s; else if (n > 1) print s }' "$1"
}
exposed_ms() { sed -nE 's/^exposed comm[: ]+([0-9.]+) *ms.*/\1/p' "$1" | head -1; }
bytes_step() {  # PyTorch's "bytes/rank/step N", gpt-dist's "bytes/rank   X MB sent per rank per step"
    { sed -nE 's/.*bytes\/rank\/step[: ]+([0-9.eE+]+).*/\1/p' "$1"
      sed -nE 's/^bytes\/rank +([0-9.]+) MB sent.*/\1/p' "$1" | awk '{ printf "%.0f\n", $1 * 1e6 }'; } | head -1
}
doctor_bw() {  # "0.06 GB/s (258 ms)": bus bandwidth and time of one 16 MiB allreduce
    sed -nE 's/^multihost: doctor allreduce 16 MiB: ([0-9.]+) ms per allreduce, bus bandwidth ([0-9.]+ GB\/s).*/\2 (\1 ms)/p' "$1" | head -1
}
secs() { [[ -n "$1" ]] && awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }'; }
human_bytes() { [[ -n "$1" ]] && awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }

run_cell() {  # LOG CMD... → status; the output goes to LOG (and stderr shows progress)
    local log="$1"; shift
    echo "scaling_table: $(show "$@")" >&2
    local status=0
    "$@" > "$log" 2>&1 || status=$?
    (( status == 0 )) || echo "scaling_table: failed (status $status), see $log" >&2
    return "$status"
}

mh=(scripts/multihost.sh --timeout "$timeout_s")
[[ -n "$mpirun_args" ]] && mh+=(--mpirun-args "$mpirun_args")
common=(--threads 1 --iters "$iters" --warmup "$warmup")

echo "| shape | link | doctor bus bandwidth | system | variant | 1-host s/step | $hosts-host s/step | efficiency | exposed comm | bytes/rank/step | command |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"

declare -A base_ms base_tok
for shape in $shapes; do
    read -ra sa <<< "$(shape_args "$shape")"
    # ---- 1-host baselines: once per shape and system, reused for every link ----
    for sys in gd pt; do
        [[ "$sys" == gd && $want_gd == 0 ]] && continue
        [[ "$sys" == pt && $want_pt == 0 ]] && continue
        if [[ "$sys" == gd ]]; then
            cmd=("${mh[@]}" --hosts 1 -- gpt-dist bench "${sa[@]}" "${common[@]}")
            name=gpt-dist
        else
            cmd=("${mh[@]}" --hosts 1 --each-host -- python3 bench/pytorch_ddp.py "${sa[@]}" "${common[@]}")
            name=PyTorch
        fi
        log="$log_dir/$shape-1host-$sys.log"
        if (( dry_run )); then
            echo "| $shape | (1 host) | | $name | baseline | | | | | | \`$(show "${cmd[@]}")\` |"
            continue
        fi
        if run_cell "$log" "${cmd[@]}"; then
            base_ms[$shape-$sys]="$(ms_best "$log")"; base_tok[$shape-$sys]="$(tokens_global "$log")"
            echo "| $shape | (1 host) | | $name | baseline | $(secs "${base_ms[$shape-$sys]}") | | | | | \`$(show "${cmd[@]}")\` |"
        else
            echo "| $shape | (1 host) | | $name | baseline | failed ($log) | | | | | \`$(show "${cmd[@]}")\` |"
        fi
    done
    # ---- N-host cells ----
    for link in $links; do
        for v in "${selected[@]}"; do
            if [[ "$v" == gd-* ]]; then
                IFS=- read -r _ b z d <<< "$v"
                dtype=float32; [[ "$d" == bf16 ]] && dtype=bfloat16
                cmd=("${mh[@]}" --hosts "$hosts" --rate "$link" -- gpt-dist bench "${sa[@]}" "${common[@]}"
                     --bucket-mb "${b#b}" --zero-stage "${z#z}" --grad-reduce-dtype "$dtype")
                sys=gd name=gpt-dist
            else
                extra=""; [[ "$v" == pt-bf16 ]] && extra+=" --bf16-compress"
                (( pt_exposed )) && extra+=" --exposed-comm"
                inner="python3 -m torch.distributed.run --nnodes \$NNODES --nproc-per-node 1 --node-rank \$((HOST_INDEX - 1))"
                inner+=" --master-addr \$MASTER_ADDR --master-port \$MASTER_PORT bench/pytorch_ddp.py ${sa[*]} ${common[*]} --bucket-mb 25$extra"
                cmd=("${mh[@]}" --hosts "$hosts" --rate "$link" --each-host -- "$inner")
                sys=pt name=PyTorch
            fi
            log="$log_dir/$shape-$link-$v.log"
            if (( dry_run )); then
                echo "| $shape | $link | | $name | $v | | | | | | \`$(show "${cmd[@]}")\` |"
                continue
            fi
            status=0
            run_cell "$log" "${cmd[@]}" || status=$?
            bw="$(doctor_bw "$log")"
            gloo="$(sed -nE 's/^allreduce 16 MiB: ([0-9.]+) ms per allreduce, bus bandwidth ([0-9.]+ GB\/s).*gloo.*/\2 (\1 ms)/p' "$log" | head -1)"
            [[ -n "$gloo" ]] && bw="${bw:-?} MPI; $gloo gloo"
            if (( status != 0 )); then
                echo "| $shape | $link | ${bw:-?} | $name | $v | $(secs "${base_ms[$shape-$sys]:-}") | failed, status $status ($log) | | | | \`$(show "${cmd[@]}")\` |"
                continue
            fi
            ms="$(ms_best "$log")"; tok="$(tokens_global "$log")"
            b1="${base_tok[$shape-$sys]:-}"; m1="${base_ms[$shape-$sys]:-}"
            # Best step over best step for every system (gpt-dist's tokens/s line is from its mean
            # step, PyTorch's from its best: the step times compare like with like).
            eff=""
            if [[ -n "$ms" && -n "$m1" ]]; then
                eff="$(awk -v a="$m1" -v c="$ms" 'BEGIN { printf "%.2f", a / c }')"
            fi
            ex="$(exposed_ms "$log")"; [[ -n "$ex" ]] && ex="$ex ms"
            echo "| $shape | $link | ${bw:-?} | $name | $v | $(secs "$m1") | $(secs "$ms") | $eff | $ex | $(human_bytes "$(bytes_step "$log")") | \`$(show "${cmd[@]}")\` |"
        done
    done
done
echo "scaling_table: logs in $log_dir" >&2
