#!/usr/bin/env bash
# Overload: publish faster than the flow can go, for minutes, and check that nothing is lost
# silently and memory stays bounded.
#
#   bash bench/overload.sh [--minutes 2] [--factor 2] [--qos "1 0"] [--connection separate|shared]
#
# The flow (bench/flows/generate.py, scenario "slow-separate", or "slow" with --connection shared)
# is mqtt in → a function that spins ~0.5 ms per message → mqtt out, mqtt out on a broker node of
# its own (the default) or on the mqtt in's (shared: the QoS 1 receive limit then cannot pause
# reading while mqtt out awaits PUBACKs, and memory grows). A short burst first measures the flow's capacity; then per QoS
# FlowServer starts with the flow and the load generator publishes at FACTOR × that capacity for
# MINUTES while the engine's RSS is sampled every 10 s. Afterwards:
#   QoS 1 (default backpressure): mqtt in acknowledges only what the flow took, the broker holds
#         the rest; every message must arrive (lost = 0).
#   QoS 0 (the function's inbox set to 1,000 with drop-oldest): the engine never blocks; what it
#         drops is counted at /metrics (flowserver_node_dropped_total), and the messages the
#         load generator misses must equal that count: no loss that is not counted.
# Memory: peak RSS and the RSS samples are printed; "bounded" when the last third of the run
# is no higher than 110 % of the first third.
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
MINUTES=2 FACTOR=2 QOSES="1 0" FLOW=slow-separate
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) MINUTES=$2; shift 2 ;;
        --factor) FACTOR=$2; shift 2 ;;
        --qos) QOSES=$2; shift 2 ;;
        --connection) case "$2" in separate) FLOW=slow-separate ;; shared) FLOW=slow ;; *) echo "--connection separate|shared" >&2; exit 64 ;; esac; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 64 ;;
    esac
done
. "$BENCH/common.sh"
bench_setup overload
bench_build
# The broker queues what the engine has not acknowledged yet (QoS 1), without a limit of its own.
bench_broker 'max_queued_messages 0\nmax_queued_bytes 0'

start_engine() { # start_engine FLOWFILE: sets ENGINE and port
    port=$(free_port)
    rm -rf "$WORK/engine"
    dotnet "$ROOT/src/FlowServer/bin/Release/net10.0/FlowServer.dll" --port "$port" --data-dir "$WORK/engine" \
        --no-broker --no-example --flows "$1" >"$WORK/engine.log" 2>&1 &
    ENGINE=$!
    PIDS+=("$ENGINE")
    $LOADGEN --probe --broker "127.0.0.1:$BROKER_PORT" --since-unix-ms "$(date +%s%3N)" --quiet 5 >/dev/null
    # The flows run before the admin API listens: wait for it too (its /metrics count the drops).
    for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && return 0; sleep 0.05; done
    echo "the admin API on port $port did not answer" >&2; exit 1
}

# Capacity: a burst that the QoS 1 flow (nothing dropped on the way) works through at its own pace.
start_engine "$WORK/$FLOW.qos1.json"
cap_line=$($LOADGEN --broker "127.0.0.1:$BROKER_PORT" --qos 1 --count 6000 --check function --quiet 5 | grep RESULT)
capacity=$(field "$cap_line" in_msgs_per_s)
rate=$(python3 -c "print(int(float('$capacity') * $FACTOR))")
kill -TERM "$ENGINE"; wait "$ENGINE" 2>/dev/null || true

verdicts=()
for qos in $QOSES; do
    start_engine "$WORK/$FLOW.qos$qos.json"
    count=$(python3 -c "print(int($rate * $MINUTES * 60))")
    dropped_before=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^flowserver_node_dropped_total/ && /bench-fn/ {print $2}')
    log "QoS $qos: flow capacity ~$capacity msg/s; publishing $rate msg/s for $MINUTES min ($count messages)"
    $LOADGEN --broker "127.0.0.1:$BROKER_PORT" --qos "$qos" --rate "$rate" --count "$count" --check function --quiet 15 >"$WORK/result.txt" &
    LOAD=$!
    : >"$WORK/rss"
    start=$(date +%s)
    echo "qos elapsed_s rss_mib"
    while kill -0 "$LOAD" 2>/dev/null; do
        sleep 10
        kill -0 "$LOAD" 2>/dev/null || break
        rss=$(( $(awk '/^VmRSS:/ {print $2}' "/proc/$ENGINE/status") / 1024 ))
        echo "$qos $(( $(date +%s) - start )) $rss"
        echo "$rss" >>"$WORK/rss"
    done
    wait "$LOAD" || true
    line=$(grep RESULT "$WORK/result.txt") || { cat "$WORK/result.txt"; exit 1; }
    peak=$(( $(awk '/^VmHWM:/ {print $2}' "/proc/$ENGINE/status") / 1024 ))
    dropped_after=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^flowserver_node_dropped_total/ && /bench-fn/ {print $2}')
    dropped=$(python3 -c "print(int(float('${dropped_after:-0}') - float('${dropped_before:-0}')))")
    lost=$(field "$line" lost)
    echo "$line"
    memory=$(python3 - "$WORK/rss" <<'PY'
import statistics, sys
rss = [int(x) for x in open(sys.argv[1]) if x.strip()]
third = max(1, len(rss) // 3)
first, last = statistics.median(rss[:third]), statistics.median(rss[-third:])
print(f"RSS first third {first:.0f} MiB, last third {last:.0f} MiB, {'bounded' if last <= first * 1.10 else 'GREW'}")
PY
)
    if [ "$qos" = 1 ]; then
        [ "$lost" = 0 ] && verdict="nothing lost" || verdict="LOST $lost"
    else
        [ "$lost" = "$dropped" ] && verdict="every loss counted ($lost lost = $dropped dropped at the function's inbox)" || verdict="UNCOUNTED LOSS: $lost lost, $dropped counted"
    fi
    verdicts+=("$FLOW, QoS $qos at ${FACTOR}× capacity (~$capacity → $rate msg/s, $count messages): $verdict; dup $(field "$line" dup), bad $(field "$line" bad); peak RSS $peak MiB; $memory")
    kill -TERM "$ENGINE"; wait "$ENGINE" 2>/dev/null || true
done
printf '%s\n' "${verdicts[@]}"
