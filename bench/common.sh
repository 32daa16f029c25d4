# Shared by run.sh, soak.sh, overload.sh and ceiling.sh (sourced, after BENCH and ROOT are set): a scratch directory
# cleaned up with every process started, the Release builds, and a throwaway Mosquitto.

# bench_setup NAME: WORK (a scratch directory), PIDS (killed at exit); on a failure the engine's
# log tail is shown before the directory goes.
bench_setup() {
    WORK=$(mktemp -d "/tmp/flowserver-$1-XXXXXX")
    PIDS=()
    trap bench_cleanup EXIT
}
bench_cleanup() {
    local status=$?
    [ $status -ne 0 ] && [ -f "$WORK/engine.log" ] && tail -20 "$WORK/engine.log" >&2
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
# cpu_ticks PID...: user + system CPU of the processes so far, in clock ticks (getconf CLK_TCK a second)
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'))); done; echo "$t"; }
# field LINE KEY: KEY's value in a "RESULT k=v ..." line
field() { echo "$1" | sed -n "s/.* $2=\([^ ]*\).*/\1/p"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# bench_build: FlowServer and the load generator in Release; sets LOADGEN.
bench_build() {
    log "building FlowServer and the load generator (Release)"
    dotnet build -c Release "$ROOT/src/FlowServer" -v q -nologo >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
    dotnet build -c Release "$BENCH/loadgen" -v q -nologo >>"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
    LOADGEN="dotnet $BENCH/loadgen/bin/Release/net10.0/loadgen.dll"
}

# bench_broker "QUEUE SETTINGS": Mosquitto on a free loopback port with those queue lines
# (printf escapes allowed), and the scenario flows written for it; sets BROKER_PORT and BROKER_PID.
bench_broker() {
    BROKER_PORT=$(free_port)
    printf "listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n$1\n%s\n" \
        "$BROKER_PORT" "$( [ "$(id -u)" = 0 ] && echo "user root" )" >"$WORK/mosquitto.conf"
    /usr/sbin/mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
    BROKER_PID=$!
    PIDS+=("$BROKER_PID")
    python3 "$BENCH/flows/generate.py" "$WORK" "$BROKER_PORT"
    sleep 0.5
}
