#!/usr/bin/env python3
"""Summarises the raw logs of benches/compare.sh into latest.md, latest.json and latest.svg.

Aggregation, identical for every implementation: each run prints one line per second; a run's figure is
the median over its per-second lines (ddsperf's first latency line, which includes discovery, is dropped;
for throughput only seconds that received data count). The figure reported for an implementation is
the median over rounds. ddsperf prints half the round trip; it is doubled here so that every latency
below is a full round trip (RTT).
"""
import glob
import json
import os
import re
import statistics
import sys

raw, out = sys.argv[1], sys.argv[2]
med = statistics.median


def per_second_json(path, mode):
    lines = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                v = json.loads(line)
                if v.get("mode") == mode and not v.get("summary"):
                    lines.append(v)
    except OSError:
        pass
    return lines


def starling_latency(path):
    secs = per_second_json(path, "ping")
    secs = [s for s in secs if s["count"] > 0]
    if not secs:
        return None
    return {
        "median": med(s["rtt_us"]["median"] for s in secs),
        "p90": med(s["rtt_us"]["p90"] for s in secs),
        "p99": med(s["rtt_us"]["p99"] for s in secs),
        "max": max(s["rtt_us"]["max"] for s in secs),
        "rate": med(s["count"] for s in secs),
        "cpu": med(s["cpu_pct"] for s in secs) if all("cpu_pct" in s for s in secs) else None,
    }


CYC_PING = re.compile(r"size (\d+) mean ([\d.]+)us min ([\d.]+)us 50% ([\d.]+)us 90% ([\d.]+)us 99% ([\d.]+)us max ([\d.]+)us cnt (\d+)")


def cyclone_latency(path):
    secs = []
    try:
        with open(path) as f:
            for line in f:
                m = CYC_PING.search(line)
                if m:
                    secs.append([float(x) for x in m.groups()])
    except OSError:
        return None
    secs = secs[1:]  # the first interval includes discovery
    if not secs:
        return None
    return {
        "median": 2 * med(s[3] for s in secs),
        "p90": 2 * med(s[4] for s in secs),
        "p99": 2 * med(s[5] for s in secs),
        "max": 2 * max(s[6] for s in secs),
        "rate": med(s[7] for s in secs),
    }


def starling_tp(sub_path):
    secs = [s for s in per_second_json(sub_path, "sub") if s["samples_per_s"] > 0]
    if not secs:
        return None
    allsecs = per_second_json(sub_path, "sub")
    return {
        "samples_per_s": med(s["samples_per_s"] for s in secs),
        "mb_per_s": med(s["mb_per_s"] for s in secs),
        "lost": allsecs[-1]["lost"] if allsecs else 0,
        "received": allsecs[-1]["received"] if allsecs else 0,
    }


CYC_SUB = re.compile(r"size (\d+) total (\d+) lost (\d+) delta (\d+) lost (\d+) rate ([\d.]+) kS/s ([\d.]+) Mb/s")


def cyclone_tp(sub_path):
    secs = []
    try:
        with open(sub_path) as f:
            for line in f:
                m = CYC_SUB.search(line)
                if m:
                    secs.append([float(x) for x in m.groups()])
    except OSError:
        return None
    live = [s for s in secs if s[5] > 0]
    if not live:
        return None
    return {
        "samples_per_s": med(s[5] * 1000 for s in live),
        "mb_per_s": med(s[6] / 8 for s in live),
        "lost": int(secs[-1][2]),
        "received": int(secs[-1][1]),
    }


rounds = sorted({int(os.path.basename(p).split("-")[0]) for p in glob.glob(os.path.join(raw, "[0-9]*-lat-*.log"))})
sizes = []
for p in sorted(glob.glob(os.path.join(raw, "1-tp-starling-*-sub.log"))):
    sizes.append(os.path.basename(p)[len("1-tp-starling-"):-len("-sub.log")])
order = {"12": 0, "1k": 1, "64k": 2, "1M": 3}
sizes.sort(key=lambda s: order.get(s, 9))


def agg(runs, keys):
    runs = [r for r in runs if r]
    if not runs:
        return None
    res = {k: med(r[k] for r in runs) for k in keys}
    res["runs"] = len(runs)
    return res


per_round = {}
lat = {}
for impl, fn in [("starling", starling_latency), ("cyclone", cyclone_latency), ("udp", starling_latency),
                 ("starling-poll", starling_latency), ("udp-poll", starling_latency)]:
    runs = [fn(os.path.join(raw, f"{r}-lat-{impl}.log")) for r in rounds]
    if impl.endswith("-poll") and not any(runs):
        lat[impl] = None
        continue
    per_round[("latency median", impl)] = [r["median"] if r else None for r in runs]
    per_round[("latency p99", impl)] = [r["p99"] if r else None for r in runs]
    lat[impl] = agg(runs, ["median", "p90", "p99", "max", "rate"])
    if lat[impl] is not None:
        lat[impl]["max"] = max(r["max"] for r in runs if r)
        cpus = [r["cpu"] for r in runs if r and r.get("cpu") is not None]
        lat[impl]["cpu"] = med(cpus) if cpus else None

tp = {}
for size in sizes:
    tp[size] = {}
    for impl, fn in [("starling", starling_tp), ("cyclone", cyclone_tp)]:
        runs = [fn(os.path.join(raw, f"{r}-tp-{impl}-{size}-sub.log")) for r in rounds]
        per_round[(f"{size} samples/s", impl)] = [r["samples_per_s"] if r else None for r in runs]
        a = agg(runs, ["samples_per_s", "mb_per_s"])
        if a is not None:
            a["lost"] = sum(r["lost"] for r in runs if r)
        tp[size][impl] = a


def read_idle(impl):
    try:
        with open(os.path.join(raw, f"idle-{impl}.kib")) as f:
            return int(f.read().strip()) * 1024 / 1e6
    except (OSError, ValueError):
        return None


idle = {"starling": read_idle("starling"), "cyclone": read_idle("cyclone")}
meta = open(os.path.join(raw, "meta.txt")).read() if os.path.exists(os.path.join(raw, "meta.txt")) else ""


def ratio(a, b):
    return a / b if a is not None and b else None


def f(v, nd=1):
    return "–" if v is None else f"{v:,.{nd}f}"


def mark(ok):
    return "–" if ok is None else ("met" if ok else "not met")


S, C, U = lat["starling"], lat["cyclone"], lat["udp"]
SP, UP = lat.get("starling-poll"), lat.get("udp-poll")
g = lambda d, k: d.get(k) if d else None
lat_ratio_c = ratio(g(S, "median"), g(C, "median"))
lat_ratio_u = ratio(g(S, "median"), g(U, "median"))
p99_ratio = ratio(g(S, "p99"), g(C, "p99"))
spin = re.search(r"polling receive: (\d+)", meta)
spin = spin.group(1) if spin else "?"

md = ["# Starling vs Cyclone DDS (ddsperf) vs raw UDP", "", "```", meta.strip(), "```", ""]
md += ["## Latency, 12-byte samples, reliable (full round trip, µs)", ""]
md += ["| | median | p90 | p99 | max | round trips/s | ping CPU % |", "|---|---:|---:|---:|---:|---:|---:|"]
rows = [("Starling `perf ping` (blocking receive, the default)", S), ("Cyclone `ddsperf ping` (2× printed)", C),
        ("raw UDP `udp_pingpong` (blocking)", U)]
if SP or UP:
    rows += [(f"Starling `perf ping --spin-us {spin}` (polling receive)", SP),
             (f"raw UDP `udp_pingpong --spin-us {spin}` (polling)", UP)]
for name, d in rows:
    md.append(f"| {name} | {f(g(d,'median'))} | {f(g(d,'p90'))} | {f(g(d,'p99'))} | {f(g(d,'max'))} | {f(g(d,'rate'),0)} "
              f"| {f(g(d,'cpu'),0)} |")
md += ["", "| ratio | value | target | |", "|---|---:|---:|---|"]
md.append(f"| Starling / Cyclone, median | {f(lat_ratio_c,2)} | ≤ 0.9 | {mark(None if lat_ratio_c is None else lat_ratio_c <= 0.9)} |")
md.append(f"| Starling / raw UDP, median | {f(lat_ratio_u,2)} | ≤ 1.5 | {mark(None if lat_ratio_u is None else lat_ratio_u <= 1.5)} |")
md.append(f"| Starling / Cyclone, p99 | {f(p99_ratio,2)} | ≤ 1.0 | {mark(None if p99_ratio is None else p99_ratio <= 1.0)} |")
if SP:
    pc, pu, pp = ratio(g(SP, "median"), g(C, "median")), ratio(g(SP, "median"), g(UP, "median")), ratio(g(SP, "p99"), g(C, "p99"))
    md.append(f"| Starling polling / Cyclone, median | {f(pc,2)} | ≤ 0.9 | {mark(None if pc is None else pc <= 0.9)} |")
    md.append(f"| Starling polling / raw UDP polling, median | {f(pu,2)} | ≤ 1.5 | {mark(None if pu is None else pu <= 1.5)} |")
    md.append(f"| Starling polling / Cyclone, p99 | {f(pp,2)} | ≤ 1.0 | {mark(None if pp is None else pp <= 1.0)} |")
md += ["", "## Throughput, reliable, as fast as possible", ""]
md += ["| size | Starling samples/s | Cyclone samples/s | ratio | Starling MB/s | Cyclone MB/s | ratio | lost S / C | target | |",
       "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
ratios_tp = {}
for size in sizes:
    s, c = tp[size]["starling"], tp[size]["cyclone"]
    rs, rm = ratio(g(s, "samples_per_s"), g(c, "samples_per_s")), ratio(g(s, "mb_per_s"), g(c, "mb_per_s"))
    ratios_tp[size] = (rs, rm)
    if size == "1k":
        target, ok = "≥ 1.1× samples/s, 0 lost", None if rs is None else (rs >= 1.1 and g(s, "lost") == 0)
    elif size in ("64k", "1M"):
        target, ok = "≥ 1.2× MB/s", None if rm is None else rm >= 1.2
    else:
        target, ok = "–", None
    md.append(f"| {size} | {f(g(s,'samples_per_s'),0)} | {f(g(c,'samples_per_s'),0)} | {f(rs,2)} | {f(g(s,'mb_per_s'))} | "
              f"{f(g(c,'mb_per_s'))} | {f(rm,2)} | {f(g(s,'lost'),0)} / {f(g(c,'lost'),0)} | {target} | {mark(ok)} |")
rr = ratio(idle["starling"], idle["cyclone"])
idle_runs = {}
for impl in ("starling", "cyclone"):
    try:
        with open(os.path.join(raw, f"idle-{impl}.runs")) as fh:
            idle_runs[impl] = " ".join(f"{int(x) * 1024 / 1e6:.2f}" for x in fh.read().split())
    except (OSError, ValueError):
        idle_runs[impl] = "–"
md += ["", "## Idle RSS (one reader, no peer, after 3 s; median of the runs, binaries loaded from disk)", "",
       "| Starling MB | Cyclone MB | ratio | target | |", "|---:|---:|---:|---|---|",
       f"| {f(idle['starling'])} | {f(idle['cyclone'])} | {f(rr,2)} | ≤ 1.0 | {mark(None if rr is None else rr <= 1.0)} |", "",
       f"Runs (MB), Starling: {idle_runs['starling']}; Cyclone: {idle_runs['cyclone']}.", ""]
md += ["## Per round (to judge the noise)", "", "| metric | implementation | " + " | ".join(f"round {r}" for r in rounds) + " |",
       "|---|---|" + "---:|" * len(rounds)]
for (metric, impl), vals in per_round.items():
    nd = 1 if metric.startswith("latency") else 0
    md.append(f"| {metric} | {impl} | " + " | ".join(f(v, nd) for v in vals) + " |")
md += [""]
md += ["Each figure is the median over rounds of a run's median over its per-second lines; max is the largest seen. "
       "MB = 10^6 bytes of serialized sample (ddsperf's Mb/s ÷ 8). See benches/README.md.", ""]

os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "latest.md"), "w") as fh:
    fh.write("\n".join(md))
with open(os.path.join(out, "latest.json"), "w") as fh:
    json.dump({"latency_rtt_us": lat, "throughput": tp, "idle_rss_mb": idle, "meta": meta}, fh, indent=1)

# ---- SVG: latency bars (left), throughput ratios (right) ---------------------------------------------------
W, H = 900, 380
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       '<text x="225" y="24" font-size="15" text-anchor="middle">12 B round trip (µs): median and p99</text>',
       '<text x="675" y="24" font-size="15" text-anchor="middle">Throughput, Starling / Cyclone</text>']
colors = {"starling": "#4878a8", "cyclone": "#e08040", "udp": "#70a070"}
vals = [v for d in (S, C, U) if d for v in (d["median"], d["p99"])]
top = max(vals) * 1.15 if vals else 1
x0, y0, ph = 60, 330, 270
svg.append(f'<line x1="{x0}" y1="{y0}" x2="410" y2="{y0}" stroke="black"/>')
for gi, (metric, label) in enumerate([("median", "median"), ("p99", "p99")]):
    for bi, impl in enumerate(["starling", "cyclone", "udp"]):
        d = lat[impl]
        if not d:
            continue
        h = d[metric] / top * ph
        x = x0 + 20 + gi * 175 + bi * 50
        svg.append(f'<rect x="{x}" y="{y0-h:.1f}" width="40" height="{h:.1f}" fill="{colors[impl]}"/>')
        svg.append(f'<text x="{x+20}" y="{y0-h-4:.1f}" text-anchor="middle">{d[metric]:.0f}</text>')
    svg.append(f'<text x="{x0+20+gi*175+70}" y="{y0+18}" text-anchor="middle">{label}</text>')
for i, impl in enumerate(["starling", "cyclone", "udp"]):
    svg.append(f'<rect x="{x0+10+i*110}" y="{H-22}" width="12" height="12" fill="{colors[impl]}"/>'
               f'<text x="{x0+26+i*110}" y="{H-12}">{"raw UDP" if impl=="udp" else impl.capitalize()}</text>')
rvals = [v for pair in ratios_tp.values() for v in pair if v]
rtop = max(rvals + [1.3]) * 1.15
x1 = 490
svg.append(f'<line x1="{x1}" y1="{y0}" x2="{W-20}" y2="{y0}" stroke="black"/>')
y1 = y0 - 1.0 / rtop * ph
svg.append(f'<line x1="{x1}" y1="{y1:.1f}" x2="{W-20}" y2="{y1:.1f}" stroke="#888" stroke-dasharray="4 3"/>'
           f'<text x="{W-22}" y="{y1-4:.1f}" text-anchor="end" fill="#888">parity</text>')
slot = (W - 20 - x1) / max(len(sizes), 1)
for i, size in enumerate(sizes):
    for j, (v, col, lab) in enumerate(zip(ratios_tp[size], ["#4878a8", "#a8487a"], ["samples/s", "MB/s"])):
        if v is None:
            continue
        h = v / rtop * ph
        x = x1 + i * slot + 12 + j * 38
        svg.append(f'<rect x="{x:.1f}" y="{y0-h:.1f}" width="32" height="{h:.1f}" fill="{col}"/>')
        svg.append(f'<text x="{x+16:.1f}" y="{y0-h-4:.1f}" text-anchor="middle">{v:.2f}</text>')
    svg.append(f'<text x="{x1+i*slot+50:.1f}" y="{y0+18}" text-anchor="middle">{size}</text>')
svg.append(f'<rect x="{x1+10}" y="{H-22}" width="12" height="12" fill="#4878a8"/><text x="{x1+26}" y="{H-12}">samples/s</text>')
svg.append(f'<rect x="{x1+110}" y="{H-22}" width="12" height="12" fill="#a8487a"/><text x="{x1+126}" y="{H-12}">MB/s</text>')
svg.append("</svg>")
with open(os.path.join(out, "latest.svg"), "w") as fh:
    fh.write("\n".join(svg) + "\n")
print("\n".join(md))
