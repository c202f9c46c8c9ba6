# Restarts and stop signals for the launch scripts (sourced, not run):
#
#   take_launch_options "$@"      # sets max_restarts, save_grace and args (the arguments without
#                                 # --max-restarts N and --save-grace S)
#   run_with_restarts BIN CONFIG -- LAUNCHER...   # runs LAUNCHER... BIN train --config CONFIG args...
#
# After a failed run (non-zero status) it waits RESTART_DELAY seconds (default 10) and starts the
# run again with --set init_from=resume when out_dir holds a checkpoint (gpt-dist falls back to
# the newest one that verifies), at most max_restarts times. Each restart is logged with its
# cause (the run's last `gpt-dist train: error:` line, else mpirun's line about a process that died, else the
# exit status); the same cause twice in a row stops (a save into a full disk is not retried
# forever), and a run that fails max_restarts + 1 times stops with the list of causes and the
# last status.
#
# Stop signals: mpirun answers a SIGINT or SIGTERM of its own by ending the ranks (SIGTERM, and
# SIGKILL one second later: too soon for a big model's save), answers a second Ctrl-C itself,
# and passes neither on (Open MPI 4.1 forwards SIGUSR1, SIGUSR2, SIGTSTP, SIGCONT, SIGABRT,
# SIGALRM and a few more, never SIGINT, SIGTERM or SIGHUP: its ess_base_forward_signals). So the
# launcher starts mpirun in a session of its own (a terminal's Ctrl-C reaches only the launcher)
# and turns each SIGINT, SIGTERM or SIGHUP it gets into a SIGUSR1 for mpirun (or srun) to pass
# to every rank: the first asks the ranks to finish the step, save a checkpoint and stop, a
# second stops them at once (a save in progress abandoned); each rank says so itself. When the
# ranks have not stopped save_grace seconds (--save-grace, default 120) after the first signal,
# the launcher sends the second one itself; 10 s later mpirun gets SIGTERM (it ends the ranks),
# 10 s after that SIGKILL. A run so stopped is never restarted and the launcher exits 1, the
# status of a stopped run. A rank that dies is still mpirun's to handle: it ends the others
# within seconds (its one-second SIGKILL is not changed).

take_launch_options() {
    max_restarts=0
    save_grace=120
    args=()
    while [[ $# -gt 0 ]]; do
        if [[ "$1" == --max-restarts ]]; then
            [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || { echo "launch: --max-restarts needs a number of restarts" >&2; exit 2; }
            max_restarts="$2"; shift 2
        elif [[ "$1" == --save-grace ]]; then
            [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || { echo "launch: --save-grace needs a number of seconds (1 or more)" >&2; exit 2; }
            save_grace="$2"; shift 2
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

# Kills the pending escalation timer, if any.
stop_timer() {
    if [[ -n "${stop_timer_pid:-}" ]]; then
        kill "$stop_timer_pid" 2>/dev/null || true
        stop_timer_pid=""
    fi
}

# In $1 seconds, SIGALRM to this shell (the next step of the stop); Ctrl-C does not end it,
# stop_timer does (its sleep too), and it holds none of the launcher's output open.
start_timer() {
    stop_timer
    ( trap '' INT HUP
      sleep "$1" & sleeper=$!
      trap 'kill $sleeper 2>/dev/null; exit 0' TERM
      wait $sleeper && kill -ALRM $$ 2>/dev/null ) > /dev/null 2>&1 &
    stop_timer_pid=$!
}

# The next step of stopping the run ($1: why, for the log line).
escalate_stop() {
    stop_level=$((stop_level + 1))
    case "$stop_level" in
        1)
            echo "launch: $1: asking the ranks to finish the step, save a checkpoint and stop (SIGUSR1 through ${run_name}; they have --save-grace ${save_grace} s, a second Ctrl-C stops them at once)" >&2
            kill -USR1 "$run_pid" 2>/dev/null || true
            start_timer "$save_grace" ;;
        2)
            echo "launch: $1: stopping the ranks at once (SIGUSR1 again: a save in progress is abandoned, the previous checkpoint stays)" >&2
            kill -USR1 "$run_pid" 2>/dev/null || true
            start_timer 10 ;;
        3)
            echo "launch: $1: ending ${run_name} (SIGTERM)" >&2
            kill -TERM "$run_pid" 2>/dev/null || true
            start_timer 10 ;;
        *)
            echo "launch: $1: killing ${run_name} (SIGKILL)" >&2
            kill -KILL "$run_pid" 2>/dev/null || true ;;
    esac
}

# A stop signal ($1) reached the launcher (a terminal's Ctrl-C, kill, scancel).
on_stop_signal() {
    signalled=1
    [[ -n "${run_pid:-}" ]] && escalate_stop "$1"
    return 0
}

# The escalation timer fired.
on_stop_timer() {
    stop_timer_pid=""
    [[ -n "${run_pid:-}" ]] || return 0
    case "$stop_level" in
        1) escalate_stop "the ranks did not stop within --save-grace ${save_grace} s" ;;
        *) escalate_stop "${run_name} did not end within 10 s" ;;
    esac
}

run_with_restarts() {
    local bin="$1" config="$2"; shift 3   # BIN CONFIG --
    local launcher=("$@") attempt=0 status=0 cause previous="" causes=() resume=()
    local out_dir log session=()
    out_dir="$("$bin" train --config "$config" "${args[@]}" --print-config | sed -n 's/^out_dir: //p')"
    log="$(mktemp)"
    run_name="$(basename "${launcher[0]}")"
    # mpirun in a session of its own: a terminal's Ctrl-C reaches the launcher, not mpirun.
    [[ "$run_name" == mpirun ]] && command -v setsid >/dev/null 2>&1 && session=(setsid)
    signalled=0 stop_level=0 run_pid="" stop_timer_pid=""
    trap 'on_stop_signal SIGINT' INT
    trap 'on_stop_signal SIGTERM' TERM
    trap 'on_stop_signal SIGHUP' HUP
    trap 'on_stop_timer' ALRM
    while true; do
        set +e
        # tee ignores Ctrl-C so the run's last lines (its save) still get through.
        ( set -x; exec "${session[@]}" "${launcher[@]}" "$bin" train --config "$config" "${args[@]}" "${resume[@]}" ) \
            < /dev/null 2> >(trap '' INT TERM HUP; tee "$log" >&2) &
        run_pid=$!
        # A stop signal interrupts the wait (its trap runs); wait again until the run has ended.
        while true; do
            wait "$run_pid"
            status=$?
            kill -0 "$run_pid" 2>/dev/null || break
        done
        run_pid=""
        stop_timer
        set -e
        wait  # for tee
        if (( signalled )); then
            rm -f "$log"
            [[ $status -eq 0 ]] && return 0
            echo "launch: stopped by a signal (exit status 1$([[ $status -ne 1 ]] && echo ", the run's $status")); not restarting" >&2
            return 1
        fi
        [[ $status -eq 0 ]] && { rm -f "$log"; return 0; }
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
        sleep "${RESTART_DELAY:-10}" &
        wait $! || true   # a stop signal cuts the delay short
        if (( signalled )); then
            rm -f "$log"
            echo "launch: stopped by a signal before the restart (exit status 1)" >&2
            return 1
        fi
    done
    rm -f "$log"
    echo "launch: giving up after ${#causes[@]} failed run(s):" >&2
    local k
    for k in "${!causes[@]}"; do echo "launch:   run $((k + 1)): ${causes[$k]}" >&2; done
    return "$status"
}
