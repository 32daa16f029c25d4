#!/usr/bin/env python3
"""Writes the benchmark flows (Node-RED flow JSON, the same file for both engines).

generate.py OUTDIR BROKER_PORT
  OUTDIR/function.qos0.json ... fanout.qos1.json   the three MQTT scenarios per QoS
  OUTDIR/idle-1000.json                             1000 idle nodes on 5 tabs
  OUTDIR/slow.qos0.json, slow.qos1.json             overload: a function that burns ~0.5 ms per message;
                                                    at QoS 0 its inbox (1,000) drops the oldest, counted
  OUTDIR/slow-separate.qos0.json, ...qos1.json      the same with mqtt out on a broker node (connection) of its own
"""
import json
import sys

out, port = sys.argv[1], sys.argv[2]


def broker(node_id="bench-broker", name="bench"):
    # (A name equal to a config node's id reads to Node-RED as a reference to it: keep them apart.)
    return {"id": node_id, "type": "mqtt-broker", "name": name, "broker": "127.0.0.1", "port": port,
            "clientid": "", "autoConnect": True, "usetls": False, "protocolVersion": "4", "keepalive": "60",
            "cleansession": True, "autoUnsubscribe": True}


def mqtt_in(qos, datatype, wires):
    return {"id": "bench-in", "type": "mqtt in", "z": "bench-tab", "name": "in", "topic": "bench/in", "qos": str(qos),
            "datatype": datatype, "broker": "bench-broker", "nl": False, "rap": True, "rh": 0, "inputs": 0,
            "x": 100, "y": 100, "wires": [wires]}


def mqtt_out(qos, broker_id="bench-broker"):
    return {"id": "bench-out", "type": "mqtt out", "z": "bench-tab", "name": "out", "topic": "bench/out", "qos": str(qos),
            "retain": "false", "broker": broker_id, "x": 700, "y": 100, "wires": []}


def function(node_id, code, y=100, **extra):
    return {**extra, "id": node_id, "type": "function", "z": "bench-tab", "name": node_id, "func": code, "outputs": 1,
            "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [], "x": 400, "y": y, "wires": [["bench-out"]]}


def change(node_id, level, y):
    return {"id": node_id, "type": "change", "z": "bench-tab", "name": level,
            "rules": [{"t": "set", "p": "payload.level", "pt": "msg", "to": level, "tot": "str"}],
            "x": 500, "y": y, "wires": [["bench-out"]]}


def scenario(name, qos):
    nodes = [{"id": "bench-tab", "type": "tab", "label": "bench", "disabled": False, "info": ""}, broker()]
    if name == "function":
        code = "const p = JSON.parse(msg.payload);\np.scaled = p.value * 1.8 + 32;\nmsg.payload = p;\nreturn msg;"
        nodes += [mqtt_in(qos, "utf8", ["bench-fn"]), function("bench-fn", code), mqtt_out(qos)]
    elif name == "switch":
        nodes += [mqtt_in(qos, "json", ["bench-switch"]),
                  {"id": "bench-switch", "type": "switch", "z": "bench-tab", "name": "level", "property": "payload.value",
                   "propertyType": "msg", "rules": [{"t": "gt", "v": "50", "vt": "num"}, {"t": "else"}], "checkall": "false",
                   "repair": False, "outputs": 2, "x": 300, "y": 100, "wires": [["bench-high"], ["bench-low"]]},
                  change("bench-high", "high", 80), change("bench-low", "low", 120), mqtt_out(qos)]
    elif name in ("slow", "slow-separate"):
        # Spins for 0.5 ms of wall time per message: the flow's capacity is ~2,000 msg/s whatever
        # the engine, so a faster publisher overloads it.
        code = ("const until = Date.now() + 0.5; let spin = 0;\nwhile (Date.now() < until) spin++;\n"
                "const p = JSON.parse(msg.payload);\np.scaled = p.value * 1.8 + 32;\nmsg.payload = p;\nreturn msg;")
        overflow = {"queueSize": 1000, "queueOverflow": "drop-oldest"} if qos == 0 else {}
        if name == "slow":
            nodes += [mqtt_in(qos, "utf8", ["bench-fn"]), function("bench-fn", code, **overflow), mqtt_out(qos)]
        else:
            # mqtt out on a connection of its own: the subscribing one may then pause reading at
            # its receive limit (on a shared one it keeps reading while mqtt out awaits PUBACKs).
            nodes += [broker("bench-broker-out", "bench out"), mqtt_in(qos, "utf8", ["bench-fn"]), function("bench-fn", code, **overflow),
                      mqtt_out(qos, "bench-broker-out")]
    else:
        branches = [f"bench-fn{k}" for k in range(10)]
        nodes += [mqtt_in(qos, "json", branches)]
        for k, node_id in enumerate(branches):
            nodes.append(function(node_id, f"msg.payload.scaled = msg.payload.value * 1.8 + 32;\nmsg.payload.branch = {k};\nreturn msg;", 40 + k * 40))
        nodes.append(mqtt_out(qos))
    return nodes


def idle_1000():
    nodes = []
    for t in range(5):
        tab = f"idle-tab{t}"
        nodes.append({"id": tab, "type": "tab", "label": f"idle {t}", "disabled": False, "info": ""})
        for c in range(50):
            base = f"idle-{t}-{c}"
            y = 40 + c * 40
            nodes += [
                {"id": base + "-inject", "type": "inject", "z": tab, "name": "", "props": [{"p": "payload"}], "repeat": "",
                 "crontab": "", "once": False, "onceDelay": 0.1, "topic": "", "payload": "", "payloadType": "date",
                 "x": 100, "y": y, "wires": [[base + "-change"]]},
                {"id": base + "-change", "type": "change", "z": tab, "name": "",
                 "rules": [{"t": "set", "p": "chain", "pt": "msg", "to": str(c), "tot": "num"}], "x": 250, "y": y,
                 "wires": [[base + "-fn"]]},
                {"id": base + "-fn", "type": "function", "z": tab, "name": "", "func": "msg.seen = true;\nreturn msg;",
                 "outputs": 1, "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [], "x": 400, "y": y,
                 "wires": [[base + "-debug"]]},
                {"id": base + "-debug", "type": "debug", "z": tab, "name": "", "active": False, "tosidebar": True,
                 "console": False, "tostatus": False, "complete": "payload", "targetType": "msg", "x": 550, "y": y, "wires": []},
            ]
    return nodes


for name in ("function", "switch", "fanout", "slow", "slow-separate"):
    for qos in (0, 1):
        with open(f"{out}/{name}.qos{qos}.json", "w") as f:
            json.dump(scenario(name, qos), f)
with open(f"{out}/idle-1000.json", "w") as f:
    json.dump(idle_1000(), f)
with open(f"{out}/empty.json", "w") as f:
    f.write("[]")
