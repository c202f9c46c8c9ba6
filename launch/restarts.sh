# Restarts for the launch scripts (sourced, not run):
#
#   take_restart_option "$@"      # sets max_restarts and args (the arguments without --max-restarts N)
#   run_with_restarts BIN CONFIG -- LAUNCHER...   # runs LAUNCHER... BIN train --config CONFIG args...
#
# After a failed run (non-zero status) it waits RESTART_DELAY seconds (default 10) and starts the
# run again with --set init_from=resume when out_dir holds a checkpoint (gpt-dist falls back to
# the newest one that verifies), at most max_restarts times. Each restart is logged with its
# cause (the run's last `gpt-dist train: error:` line, else mpirun's line about a process that died, else the
# exit status); the same cause twice in a row stops (a save into a full disk is not retried
# forever), and a run that fails max_restarts + 1 times stops with the list of causes and the
# last status. A run stopped by Ctrl-C or SIGTERM (to the launcher) is never restarted: the
# launcher exits with the run's status (1, as gpt-dist and mpirun exit when signalled).

take_restart_option() {
    max_restarts=0
    args=()
    while [[ $# -gt 0 ]]; do
        if [[ "$1" == --max-restarts ]]; then
            [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || { echo "launch: --max-restarts needs a number of restarts" >&2; exit 2; }
            max_restarts="$2"; shift 2
        else
            args+=("$1"); shift
        fi
    done
}

# The cause of a failed run from its standard error (file $1) and status ($2).
failure_cause() {
    local line
    line="$(grep -E '^gpt-dist [a-z ]+: error: ' "$1" | tail -n 1 || true)"
    [[ -z "$line" ]] && line="$(grep -E 'exited on signal|returned a non-zero|killed' "$1" | head -n 1 | sed 's/^ *//' || true)"
    echo "${line:-exit status $2}"
}

run_with_restarts() {
    local bin="$1" config="$2"; shift 3   # BIN CONFIG --
    local launcher=("$@") attempt=0 status=0 cause previous="" causes=() resume=()
    local out_dir log
    out_dir="$("$bin" train --config "$config" "${args[@]}" --print-config | sed -n 's/^out_dir: //p')"
    log="$(mktemp)"
    # Ctrl-C reaches the launcher too: note it, let the run stop itself, then do not restart.
    local signalled=0
    trap 'signalled=1' INT TERM
    while true; do
        set +e
        # tee ignores Ctrl-C so the run's last lines (its save) still get through.
        ( set -x; "${launcher[@]}" "$bin" train --config "$config" "${args[@]}" "${resume[@]}" ) 2> >(trap '' INT TERM; tee "$log" >&2)
        status=$?
        set -e
        wait  # for tee
        [[ $status -eq 0 ]] && { rm -f "$log"; return 0; }
        if (( signalled )); then
            rm -f "$log"
            echo "launch: stopped by a signal (exit status $status); not restarting" >&2
            return "$status"
        fi
        cause="$(failure_cause "$log" "$status")"
        causes+=("$cause")
        if (( attempt >= max_restarts )); then
            break
        fi
        if [[ "$cause" == "$previous" ]]; then
            echo "launch: the same failure twice in a row; not restarting" >&2
            break
        fi
        previous="$cause"
        attempt=$((attempt + 1))
        resume=()
        [[ -n "$out_dir" && -e "$out_dir/ckpt.h5" ]] && resume=(--set init_from=resume)
        echo "launch: run failed ($cause); restart $attempt of $max_restarts in ${RESTART_DELAY:-10} s${resume:+ from the newest checkpoint in $out_dir}" >&2
        sleep "${RESTART_DELAY:-10}"
    done
    rm -f "$log"
    echo "launch: giving up after ${#causes[@]} failed run(s):" >&2
    local k
    for k in "${!causes[@]}"; do echo "launch:   run $((k + 1)): ${causes[$k]}" >&2; done
    return "$status"
}
