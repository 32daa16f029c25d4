#!/usr/bin/env bash
# Soak: FlowServer under a sustained rate for minutes, memory sampled throughout.
#
#   bash bench/soak.sh [--minutes 10] [--rate 2000] [--scenario function|switch|fanout] [--qos 0|1]
#
# Builds FlowServer and the load generator in Release, starts its own Mosquitto on a free loopback
# port and FlowServer with the scenario's flow (bench/flows/generate.py), warms up, then publishes
# at the rate for the given minutes while reading the engine's RSS and CPU every 10 s. Prints the
# samples, the load generator's result (lost, duplicated, latency) and whether memory stayed
# flat: the median RSS of the last third of the run against that of the first third.
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
MINUTES=10 RATE=2000 SCENARIO=function QOS=0
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) MINUTES=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --scenario) SCENARIO=$2; shift 2 ;;
        --qos) QOS=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 64 ;;
    esac
done
. "$BENCH/common.sh"
bench_setup soak
bench_build
bench_broker 'max_queued_messages 2000000'

dotnet "$ROOT/src/FlowServer/bin/Release/net10.0/FlowServer.dll" --port "$(free_port)" --data-dir "$WORK/engine" \
    --no-broker --no-example --flows "$WORK/$SCENARIO.qos$QOS.json" >"$WORK/engine.log" 2>&1 &
ENGINE=$!
PIDS+=("$ENGINE")
fan=1; [ "$SCENARIO" = fanout ] && fan=10
$LOADGEN --probe --broker "127.0.0.1:$BROKER_PORT" --since-unix-ms "$(date +%s%3N)" --quiet 5 >/dev/null
$LOADGEN --broker "127.0.0.1:$BROKER_PORT" --qos "$QOS" --count 5000 --fanout $fan --check "$SCENARIO" --quiet 3 >/dev/null

count=$(( RATE * MINUTES * 60 ))
log "soak: $SCENARIO, QoS $QOS, $RATE msg/s for $MINUTES min ($count inputs)"
$LOADGEN --broker "127.0.0.1:$BROKER_PORT" --qos "$QOS" --rate "$RATE" --count "$count" --fanout $fan --check "$SCENARIO" --quiet 10 >"$WORK/result.txt" &
LOAD=$!
echo "elapsed_s rss_mib cpu_percent"
: >"$WORK/rss"
start=$(date +%s); last=$(cpu_ticks "$ENGINE"); while kill -0 "$LOAD" 2>/dev/null; do
    sleep 10
    kill -0 "$LOAD" 2>/dev/null || break
    now=$(cpu_ticks "$ENGINE"); rss=$(( $(awk '/^VmRSS:/ {print $2}' "/proc/$ENGINE/status") / 1024 ))
    echo "$(( $(date +%s) - start )) $rss $(( (now - last) * 100 / $(getconf CLK_TCK) / 10 ))"
    echo "$rss" >>"$WORK/rss"; last=$now
done
wait "$LOAD" || true
grep RESULT "$WORK/result.txt" || { cat "$WORK/result.txt"; exit 1; }
python3 - "$WORK/rss" <<'PY'
import statistics, sys
rss = [int(x) for x in open(sys.argv[1]) if x.strip()]
third = max(1, len(rss) // 3)
first, last = statistics.median(rss[:third]), statistics.median(rss[-third:])
print(f"RSS median first third {first:.0f} MiB, last third {last:.0f} MiB, max {max(rss)} MiB over {len(rss)} samples")
print("memory flat" if last <= first * 1.10 else "memory GREW by more than 10 %")
PY
