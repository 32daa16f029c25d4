#!/usr/bin/env python3
"""Splits the latency of an MQTT flow into its legs, from a tcpdump capture on loopback.

    tcpdump -i lo -s 0 -w cap.pcap 'tcp port BROKER_PORT' &   # during a fixed-rate run.sh profile
    python3 bench/wire_latency.py cap.pcap BROKER_PORT [IN_TOPIC OUT_TOPIC]

Every PUBLISH is matched by the "seq" of its JSON payload on four legs: the load generator's
publish reaching the broker, the broker's delivery to the engine, the engine's publish reaching
the broker, the broker's delivery to the load generator. The times are the kernel's, so the legs
hold no load-generator or engine wake-up beyond the engine's own residence (kernel in -> kernel
out): what the load generator measures on top of "total" is its own send and receive overhead.
"""
import collections, re, struct, sys

SEQ = re.compile(rb'"seq":(\d+)')


def publishes(path, broker_port):
    """Yields (topic, towards_broker, seq, time) for every PUBLISH with a "seq" in the capture."""
    with open(path, 'rb') as f:
        header = f.read(24)
        nano = struct.unpack('<I', header[:4])[0] == 0xa1b23c4d
        link = struct.unpack('<I', header[20:24])[0]
        streams = collections.defaultdict(bytearray)
        while True:
            record = f.read(16)
            if len(record) < 16:
                return
            sec, frac, kept, length = struct.unpack('<IIII', record)
            frame = f.read(kept)
            if kept < length:  # cut short: the stream is unusable from here (capture with -s 0)
                continue
            t = sec + frac / (1e9 if nano else 1e6)
            if link == 1:  # Ethernet framing on lo
                if frame[12:14] != b'\x08\x00':
                    continue
                frame = frame[14:]
            if frame[9] != 6:
                continue
            tcp = frame[(frame[0] & 15) * 4:]
            src, dst = struct.unpack('>HH', tcp[:4])
            payload = tcp[(tcp[12] >> 4) * 4:]
            if not payload:
                continue
            key = (frame[12:16], src, frame[16:20], dst)
            buf = streams[key]
            buf.extend(payload)
            while True:
                packet = take_packet(buf)
                if packet is None:
                    break
                kind, body = packet
                if kind != 3 or len(body) < 2:
                    continue
                topic_length = struct.unpack('>H', body[:2])[0]
                match = SEQ.search(body, 2 + topic_length)
                if match:
                    yield body[2:2 + topic_length].decode(errors='replace'), dst == broker_port, int(match.group(1)), t


def take_packet(buf):
    """Removes one whole MQTT packet from the front of buf: (type, body), or None when incomplete."""
    length, multiplier, i = 0, 1, 1
    while True:
        if i >= len(buf):
            return None
        byte = buf[i]
        length += (byte & 127) * multiplier
        multiplier *= 128
        i += 1
        if not byte & 128:
            break
    if len(buf) < i + length:
        return None
    kind, body = buf[0] >> 4, bytes(buf[i:i + length])
    del buf[:i + length]
    return kind, body


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    topic_in, topic_out = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else ('bench/in', 'bench/out')
    legs = [(topic_in, True), (topic_in, False), (topic_out, True), (topic_out, False)]
    seen = {leg: {} for leg in legs}
    for topic, up, seq, t in publishes(path, port):
        if (topic, up) in seen:
            seen[(topic, up)].setdefault(seq, t)
    common = set.intersection(*(set(seen[leg]) for leg in legs))
    if not common:
        sys.exit('no message seen on all four legs')
    names = ['broker, in (load generator -> broker -> engine)', 'engine residence (kernel in -> kernel out)',
             'broker, out (engine -> broker -> load generator)', 'total, kernel to kernel']
    columns = [[], [], [], []]
    for seq in common:
        t = [seen[leg][seq] for leg in legs]
        for k, (a, b) in enumerate([(0, 1), (1, 2), (2, 3), (0, 3)]):
            columns[k].append((t[b] - t[a]) * 1e3)
    print(f'{len(common)} messages seen on all four legs')
    for name, values in zip(names, columns):
        values.sort()
        p = lambda q: values[min(len(values) - 1, int(q * len(values)))]
        print(f'{name:50s} p50 {p(.5):6.3f}  p90 {p(.9):6.3f}  p99 {p(.99):6.3f}  max {values[-1]:7.3f} ms')


if __name__ == '__main__':
    main()
