#!/usr/bin/env python3
"""Side-by-side medians of a bench/run.sh result file: FlowServer | Node-RED | ratio | target."""
import statistics
import sys
from collections import defaultdict


def parse(path):
    runs, idle = [], []
    parse.extra = {"BROKER": [], "RESTART": []}
    for line in open(path):
        kind, _, rest = line.strip().partition(" ")
        fields = dict(kv.split("=", 1) for kv in rest.split() if "=" in kv)
        if kind == "RESULT":
            runs.append(fields)
        elif kind == "IDLE":
            idle.append(fields)
        elif kind in parse.extra:
            parse.extra[kind].append(fields)
    return runs, idle


def median(values):
    values = [float(v) for v in values if v not in ("nan", "NaN", None)]
    return statistics.median(values) if values else None


def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def ratio(a, b, higher_is_better=True):
    if a is None or b is None or a == 0 or b == 0:
        return "–"
    return f"{(a / b if higher_is_better else b / a):.2f}×"


runs, idle = parse(sys.argv[1])
by = defaultdict(list)
for r in runs:
    by[(r["engine"], r["scenario"], r["profile"])].append(r)
reps = max([int(r["rep"]) for r in runs] + [int(i["rep"]) for i in idle] + [0])
# The ReadyToRun publish of FlowServer gets a column of its own when the run measured it.
r2r = any(r["engine"] == "flowserver-r2r" for r in runs) or any(i["engine"] == "flowserver-r2r" for i in idle)


def met_text(value, target, higher):
    if target is None or value is None:
        return "–"
    return "yes" if (value >= target if higher else value <= target) else "no"


def row(cells_fs, cell_r2r, cell_nr, better, target, met_fs, met_r2r):
    extra = f" {cell_r2r} |" if r2r else ""
    met = f"{met_fs} / {met_r2r}" if r2r else met_fs
    return f"{cells_fs} |{extra} {cell_nr} | {better} | {target} | {met} |"


# Targets of the performance issue, per scenario/profile: (field, target, higher_is_better)
cpu_target = {"function": 5, "switch": 3, "fanout": 30}
print(f"# FlowServer vs Node-RED 5.0.7 (medians of {reps} repetition(s), one run of bench/run.sh)\n")
if r2r:
    print("FlowServer: `dotnet build -c Release`; FlowServer R2R: the same, published self-contained ReadyToRun (one composite image); better by: FlowServer against Node-RED; met: FlowServer / R2R.\n")
print("| scenario | profile | figure | FlowServer |" + (" FlowServer R2R |" if r2r else "") + " Node-RED | FlowServer better by | target | met |")
print("|---|---|---|---|" + ("---|" if r2r else "") + "---|---|---|---|")
lost_total = 0
for scenario in ("function", "switch", "fanout"):
    for profile in ("rate-qos0", "max-qos0", "max-qos1"):
        fs, fr, nr = (by.get((e, scenario, profile), []) for e in ("flowserver", "flowserver-r2r", "node-red"))
        if not fs and not nr and not fr:
            continue
        lost_total += sum(int(r["lost"]) + int(r["dup"]) + int(r["bad"]) for r in fs + fr)
        def m(rows, key):
            return median([r.get(key) for r in rows])
        rows = []
        if profile == "rate-qos0":
            rows.append(("p50 latency ms", "p50_ms", False, None, 2))
            rows.append(("p99 latency ms", "p99_ms", False, 1.0 if scenario != "fanout" else None, 2))
        else:
            target = None
            if scenario == "function":
                nr_rate = m(nr, "msgs_per_s")
                target = 2 * nr_rate if nr_rate else None
            rows.append(("out msgs/s", "msgs_per_s", True, target, 0))
        rows.append(("engine CPU µs per input", "engine_cpu_us_per_in_msg", False, cpu_target[scenario] if profile == "max-qos0" else None, 1))
        rows.append(("peak RSS MiB", "rss_peak_mb", False, 150 if profile != "rate-qos0" else None, 0))
        # The load generator's own CPU (it shares the cores): shown, not compared.
        if profile != "rate-qos0" and any("loadgen_cpu_us_per_out" in r for r in fs + fr + nr):
            rows.append(("load generator CPU µs per output", "loadgen_cpu_us_per_out", None, None, 1))
        for name, key, higher, target, digits in rows:
            a, c, b = m(fs, key), m(fr, key), m(nr, key)
            if higher is None:
                print(row(f"| {scenario} | {profile} | {name} | {fmt(a, digits)}", fmt(c, digits), fmt(b, digits), "–", "–", "–", "–"))
                continue
            shown_target = "–" if target is None else (f"≥ {fmt(target)}" if higher else f"≤ {fmt(target, 1)}")
            print(row(f"| {scenario} | {profile} | {name} | {fmt(a, digits)}", fmt(c, digits), fmt(b, digits), ratio(a, b, higher),
                      shown_target, met_text(a, target, higher), met_text(c, target, higher)))


def engine_rows(rows, engine):
    return [r for r in rows if r["engine"] == engine]


print()
print("| figure | FlowServer |" + (" FlowServer R2R |" if r2r else "") + " Node-RED | FlowServer better by | target | met |")
print("|---|---|" + ("---|" if r2r else "") + "---|---|---|---|")
for name, key, source, target in (
        ("process start → first message through the flow, ms", "startup_ms", runs, 500),
        ("restart with the flows it kept → first message (function flow), ms", "restart_ms", parse.extra["RESTART"], 500),
        ("RSS idle with a scenario flow, MiB", "rss_idle_mb", runs, 70),
        ("RSS idle, empty flow, MiB", "rss_empty_mb", idle, 70),
        ("full deploy of 1000 nodes via POST /flows until running, ms", "deploy_1000_ms", idle, 100),
        ("RSS with the 1000-node flow, MiB", "rss_1000_mb", idle, 100)):
    a, c, b = (median([r[key] for r in engine_rows(source, e)]) for e in ("flowserver", "flowserver-r2r", "node-red"))
    print(row(f"| {name} | {fmt(a)}", fmt(c), fmt(b), ratio(a, b, False), f"≤ {target}", met_text(a, target, False), met_text(c, target, False)))
alone = parse.extra["BROKER"]
if alone:
    print()
    print(f"The broker alone (no engine: the load generator publishes and subscribes to one topic) at 1,000 msg/s, "
          f"median of {len(alone)}: p50 {fmt(median([r['p50_ms'] for r in alone]), 2)} ms, p99 {fmt(median([r['p99_ms'] for r in alone]), 2)} ms "
          f"— the floor under every engine's latency on this machine.")
print()
print(f"FlowServer runs with lost, duplicated or bad messages: {lost_total} messages in total")
