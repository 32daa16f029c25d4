#!/usr/bin/env python3
"""Side-by-side medians of a bench/run.sh result file: FlowServer | Node-RED | ratio | target."""
import statistics
import sys
from collections import defaultdict


def parse(path):
    runs, idle = [], []
    for line in open(path):
        kind, _, rest = line.strip().partition(" ")
        fields = dict(kv.split("=", 1) for kv in rest.split() if "=" in kv)
        if kind == "RESULT":
            runs.append(fields)
        elif kind == "IDLE":
            idle.append(fields)
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

# Targets of the performance issue, per scenario/profile: (field, target, higher_is_better)
cpu_target = {"function": 5, "switch": 3, "fanout": 30}
print(f"# FlowServer vs Node-RED 5.0.7 (medians of {reps} repetition(s), one run of bench/run.sh)\n")
print("| scenario | profile | figure | FlowServer | Node-RED | FlowServer better by | target | met |")
print("|---|---|---|---|---|---|---|---|")
lost_total = 0
for scenario in ("function", "switch", "fanout"):
    for profile in ("rate-qos0", "max-qos0", "max-qos1"):
        fs, nr = by.get(("flowserver", scenario, profile), []), by.get(("node-red", scenario, profile), [])
        if not fs and not nr:
            continue
        lost_total += sum(int(r["lost"]) + int(r["dup"]) + int(r["bad"]) for r in fs)
        def m(rows, key):
            return median([r[key] for r in rows])
        rows = []
        if profile == "rate-qos0":
            rows.append(("p50 latency ms", m(fs, "p50_ms"), m(nr, "p50_ms"), False, None, 2))
            rows.append(("p99 latency ms", m(fs, "p99_ms"), m(nr, "p99_ms"), False, 1.0 if scenario != "fanout" else None, 2))
        else:
            target = None
            if scenario == "function":
                nr_rate = m(nr, "msgs_per_s")
                target = 2 * nr_rate if nr_rate else None
            rows.append(("out msgs/s", m(fs, "msgs_per_s"), m(nr, "msgs_per_s"), True, target, 0))
        rows.append(("engine CPU µs per input", m(fs, "engine_cpu_us_per_in_msg"), m(nr, "engine_cpu_us_per_in_msg"), False,
                     cpu_target[scenario] if profile == "max-qos0" else None, 1))
        rows.append(("peak RSS MiB", m(fs, "rss_peak_mb"), m(nr, "rss_peak_mb"), False, 150 if profile != "rate-qos0" else None, 0))
        for name, a, b, higher, target, digits in rows:
            met = "–"
            if target is not None and a is not None:
                met = "yes" if (a >= target if higher else a <= target) else "no"
            shown_target = "–" if target is None else (f"≥ {fmt(target)}" if higher else f"≤ {fmt(target, 1)}")
            print(f"| {scenario} | {profile} | {name} | {fmt(a, digits)} | {fmt(b, digits)} | {ratio(a, b, higher)} | {shown_target} | {met} |")

fs_runs = [r for r in runs if r["engine"] == "flowserver"]
nr_runs = [r for r in runs if r["engine"] == "node-red"]
fs_idle = [i for i in idle if i["engine"] == "flowserver"]
nr_idle = [i for i in idle if i["engine"] == "node-red"]
print()
print("| figure | FlowServer | Node-RED | FlowServer better by | target | met |")
print("|---|---|---|---|---|---|")
for name, key, rows_fs, rows_nr, target in (
        ("process start → first message through the flow, ms", "startup_ms", fs_runs, nr_runs, 500),
        ("RSS idle with a scenario flow, MiB", "rss_idle_mb", fs_runs, nr_runs, 70),
        ("RSS idle, empty flow, MiB", "rss_empty_mb", fs_idle, nr_idle, 70),
        ("full deploy of 1000 nodes via POST /flows until running, ms", "deploy_1000_ms", fs_idle, nr_idle, 100),
        ("RSS with the 1000-node flow, MiB", "rss_1000_mb", fs_idle, nr_idle, 100)):
    a, b = median([r[key] for r in rows_fs]), median([r[key] for r in rows_nr])
    met = "–" if a is None else ("yes" if a <= target else "no")
    print(f"| {name} | {fmt(a)} | {fmt(b)} | {ratio(a, b, False)} | ≤ {target} | {met} |")
print()
print(f"FlowServer runs with lost, duplicated or bad messages: {lost_total} messages in total")
