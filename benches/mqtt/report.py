"""Turns benches/mqtt_compare.sh's raw JSON lines into benches/results/mqtt.md (medians over rounds)."""
import json
import statistics
import sys
import time

raw, out, params, load_before, load_after, mosq_version, ncpu = sys.argv[1:8]
runs = {}
for line in open(raw):
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    impl, scen = r["label"].split(" ", 1)
    runs.setdefault((scen, impl), []).append(r)


def med(scen, impl, key, sub=None):
    vals = []
    for r in runs.get((scen, impl), []):
        if r.get("failed"):
            continue
        v = r.get(key)
        if sub is not None:
            v = (v or {}).get(sub)
        if v is not None:
            vals.append(v)
    return statistics.median(vals) if vals else None


def total(scen, impl, key):
    return sum(r.get(key) or 0 for r in runs.get((scen, impl), []) if not r.get("failed"))


def fmt(v, nd=0):
    if v is None:
        return "–"
    return f"{v:,.{nd}f}"


def ratio(a, b):
    return None if a is None or not b else a / b


def cpu_per_msg(scen, impl):
    """Median over runs of server CPU time per delivered message, in µs."""
    vals = [r["server_cpu_pct"] * 1e4 / r["delivered_per_s"] for r in runs.get((scen, impl), [])
            if not r.get("failed") and r.get("server_cpu_pct") is not None and r.get("delivered_per_s")]
    return statistics.median(vals) if vals else None


IMPLS = ["starling", "mosquitto"]
lines = [
    "# MQTT: Starling bridge vs mosquitto",
    "",
    f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {ncpu} cores by `benches/mqtt_compare.sh` ({params}); "
    f"{mosq_version} with `benches/mqtt/mosquitto.conf`; Starling as `starling bridge --mqtt 127.0.0.1:1883` "
    f"(defaults). Load average before {load_before}, after {load_after}. Medians over rounds; "
    "lost and failed runs are totals. 100-byte payloads; one loopback namespace; the load generator "
    "(benches/mqtt_load.rs) shares the machine with the server.",
    "",
    "## Throughput (closed loop, as fast as possible)",
    "",
    "| scenario | server | delivered msg/s | published msg/s | lost | dup | server CPU % | CPU µs/msg | server RSS MB |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
]
names = {"fanout": "QoS 0 fan-out 1→10", "p2p": "QoS 1 point-to-point 10→10"}
for scen in ["fanout", "p2p"]:
    for impl in IMPLS:
        rss = med(scen, impl, "server_rss_kb")
        lines.append(
            f"| {names[scen]} | {impl} | {fmt(med(scen, impl, 'delivered_per_s'))} | "
            f"{fmt(med(scen, impl, 'published_per_s'))} | {total(scen, impl, 'lost')} | "
            f"{total(scen, impl, 'duplicates')} | {fmt(med(scen, impl, 'server_cpu_pct'))} | "
            f"{fmt(cpu_per_msg(scen, impl), 2)} | {fmt(rss / 1024 if rss else None, 1)} |"
        )
lines += [
    "",
    "## Latency at a fixed offered rate (publish → receive, µs)",
    "",
    "| scenario | server | offered msg/s | delivered msg/s | p50 | p90 | p99 | max | lost | server CPU % | CPU µs/msg |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for scen, name in [("fanout@R", "QoS 0 fan-out 1→10"), ("p2p@R", "QoS 1 point-to-point 10→10")]:
    for impl in IMPLS:
        lines.append(
            f"| {name} | {impl} | {fmt(med(scen, impl, 'rate_offered'))} | {fmt(med(scen, impl, 'delivered_per_s'))} | "
            f"{fmt(med(scen, impl, 'lat_us', 'p50'))} | {fmt(med(scen, impl, 'lat_us', 'p90'))} | "
            f"{fmt(med(scen, impl, 'lat_us', 'p99'))} | {fmt(med(scen, impl, 'lat_us', 'max'))} | "
            f"{total(scen, impl, 'lost')} | {fmt(med(scen, impl, 'server_cpu_pct'))} | {fmt(cpu_per_msg(scen, impl), 2)} |"
        )
lines += [
    "",
    "## Idle connections",
    "",
    "| server | connections | RSS before MB | RSS after MB | bytes per connection |",
    "|---|---:|---:|---:|---:|",
]
for impl in IMPLS:
    b, a = med("idle", impl, "server_rss_before_kb"), med("idle", impl, "server_rss_after_kb")
    lines.append(
        f"| {impl} | {fmt(med('idle', impl, 'connections'))} | {fmt(b / 1024 if b else None, 1)} | "
        f"{fmt(a / 1024 if a else None, 1)} | {fmt(med('idle', impl, 'bytes_per_conn'))} |"
    )

fan = ratio(med("fanout", "starling", "delivered_per_s"), med("fanout", "mosquitto", "delivered_per_s"))
p2p = ratio(med("p2p", "starling", "delivered_per_s"), med("p2p", "mosquitto", "delivered_per_s"))
idle = ratio(med("idle", "starling", "bytes_per_conn"), med("idle", "mosquitto", "bytes_per_conn"))
lost = sum(total(s, "starling", "lost") for s in ["fanout", "p2p", "fanout@R", "p2p@R"])
failed = sum(1 for (s, i), rs in runs.items() for r in rs if r.get("failed"))


def met(ok):
    return "**met**" if ok else "**not met**"


lines += [
    "",
    "## Ratios and targets",
    "",
    "| what | Starling / mosquitto | target | |",
    "|---|---:|---|---|",
    f"| QoS 0 fan-out delivered msg/s | {fmt(fan, 2)} | ≥ 2 | {met(fan is not None and fan >= 2)} |",
    f"| QoS 1 point-to-point delivered msg/s | {fmt(p2p, 2)} | ≥ 1.5 | {met(p2p is not None and p2p >= 1.5)} |",
    f"| idle memory per connection | {fmt(idle, 2)} | ≤ 2 | {met(idle is not None and idle <= 2)} |",
    f"| Starling lost messages (all runs) | {lost} | 0 | {met(lost == 0)} |",
    "",
    "Server CPU per delivered message (µs, mosquitto / Starling): "
    + ", ".join(f"{s} {fmt(ratio(cpu_per_msg(s, 'mosquitto'), cpu_per_msg(s, 'starling')), 2)}"
                for s in ["fanout", "p2p", "fanout@R", "p2p@R"])
    + ". If mosquitto's CPU % is well below 100 in the throughput runs, its rate there was bounded by the "
    "load generator (one core, one TCP segment per message from mosquitto) rather than by mosquitto itself, and "
    "the CPU-per-message ratios are the fairer comparison.",
]
if failed:
    lines += ["", f"{failed} run(s) failed (see benches/results/raw/mqtt.jsonl)."]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
