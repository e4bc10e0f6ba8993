# Helpers of the ferrite-bench scripts (bench-limits, bench-ferrite). Sourced, not run.
# Expects $repo_root.

# Where cargo puts binaries (honours CARGO_TARGET_DIR).
bench_target_dir() {
    echo "${CARGO_TARGET_DIR:-$repo_root/target}"
}

# Builds the release binaries the bench scripts run: ferrite-bench, and ferrite with "broker".
bench_build_release() {
    local packages=(-p bench)
    if [[ "${1:-}" == broker ]]; then
        packages+=(-p broker)
    fi
    cargo build --release --locked "${packages[@]}" >&2
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for_port PORT SECONDS: waits until something accepts connections on 127.0.0.1:PORT.
wait_for_port() {
    local port=$1 seconds=$2 step
    for ((step = 0; step < seconds * 10; step++)); do
        if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1', $port)))" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1:$port after ${seconds}s" >&2
    return 1
}

# stop_process PID: SIGTERM, then SIGKILL after 10 s.
stop_process() {
    local pid=$1 step
    kill "$pid" 2>/dev/null || return 0
    for ((step = 0; step < 100; step++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# The cores: the broker (or sink) takes the first available core, the bench the last.
bench_cores() {
    python3 -c 'import os; cores = sorted(os.sched_getaffinity(0)); print(cores[0], cores[-1])'
}

# start_ferrite BIN_DIR CORE DATA_PARENT LOG: starts ferrite pinned to CORE on a free port with
# a fresh data directory under DATA_PARENT; sets ferrite_pid, ferrite_port, ferrite_data.
# Stop it with stop_ferrite. Extra broker arguments: $FERRITE_BENCH_BROKER_ARGS (word-split).
start_ferrite() {
    local bin=$1 core=$2 data_parent=$3 log=$4
    mkdir -p "$data_parent"
    ferrite_port=$(free_port)
    ferrite_data=$(mktemp -d "$data_parent/ferrite-data.XXXXXX")
    # shellcheck disable=SC2086
    "$bin/ferrite" --listen "127.0.0.1:$ferrite_port" --data-dir "$ferrite_data" --cores "$core" \
        ${FERRITE_BENCH_BROKER_ARGS:-} >"$log" 2>&1 &
    ferrite_pid=$!
    wait_for_port "$ferrite_port" 30
}

stop_ferrite() {
    if [[ -n "${ferrite_pid:-}" ]]; then
        stop_process "$ferrite_pid"
        ferrite_pid=
    fi
    if [[ -n "${ferrite_data:-}" ]]; then
        rm -rf "$ferrite_data"
        ferrite_data=
    fi
}
