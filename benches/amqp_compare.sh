#!/usr/bin/env bash
# AMQP 0-9-1 publish -> consume: Starling's bridge (--amqp) against Debian's rabbitmq-server, side by side in one
# run, alternating, in a private network namespace (loopback only).
#
#   benches/amqp_compare.sh [--rounds 3] [--secs 5] [--rate 10000] [--window 500] [--out benches/results/amqp.md]
#
# Both servers run for the whole script (Starling on 127.0.0.1:5673, RabbitMQ on 127.0.0.1:5672, each idle while
# the other is measured); for every case and round the load generator (benches/amqp_load.rs) runs once against
# each, the first server alternating from round to round. Cases: closed-loop throughput with 1 and 10
# connections, without and with publisher confirms; latency at a fixed offered rate (--rate msg/s in total) with
# 1 and 10 connections. 100-byte bodies. The table reports medians over the rounds, the ratio Starling/RabbitMQ,
# the server's CPU use during the measured interval (utime+stime from /proc/PID/stat; 200% = both cores) and its
# RSS, and the messages lost over all rounds.
#
# RabbitMQ runs as root from /usr/lib/rabbitmq/bin/rabbitmq-server with a private node name, config, mnesia, log
# and HOME (Erlang cookie) in a temporary directory, so it does not touch /etc/rabbitmq or /var/lib/rabbitmq and
# can run next to another RabbitMQ in another namespace.
# KEEP_LOGS=DIR keeps the servers' logs and the raw results there.
# Needs root, rabbitmq-server, target/release/starling ($STARLING_BIN) and the load generator
# (cargo bench --bench amqp_load --no-run; $AMQP_LOAD or the newest target/release/deps/amqp_load-*).
set -euo pipefail

ROUNDS=3 SECS=5 RATE=10000 WINDOW=500
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(dirname "$HERE")
OUT="$REPO/benches/results/amqp.md"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2;; --secs) SECS=$2; shift 2;; --rate) RATE=$2; shift 2;; --window) WINDOW=$2; shift 2;; --out) OUT=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
BIN=${STARLING_BIN:-$TARGET/release/starling}
LOAD=${AMQP_LOAD:-$(ls -t "$TARGET"/release/deps/amqp_load-* 2>/dev/null | grep -v '\.d$' | head -1 || true)}
[[ -x "$BIN" ]] || { echo "no starling binary at $BIN (cargo build --release or set STARLING_BIN)" >&2; exit 1; }
[[ -n "$LOAD" && -x "$LOAD" ]] || { echo "no load generator (cargo bench --bench amqp_load --no-run)" >&2; exit 1; }
[[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || { echo "rabbitmq-server missing (apt-get install rabbitmq-server)" >&2; exit 1; }

NS=amqpbench-$$
TMP=$(mktemp -d)
chmod 755 "$TMP"
cleanup() {
  if [[ -n "${KEEP_LOGS:-}" ]]; then mkdir -p "$KEEP_LOGS" && cp -r "$TMP"/. "$KEEP_LOGS"/ 2>/dev/null || true; fi
  for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
inns() { ip netns exec "$NS" "$@"; }
wait_port() {  # wait_port PORT SECONDS
  local deadline=$((SECONDS + $2))
  until inns bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; do
    (( SECONDS < deadline )) || { echo "port $1 did not open" >&2; return 1; }
    sleep 0.2
  done
}

# Starling.
inns "$BIN" bridge --mqtt 127.0.0.1:1883 --amqp 127.0.0.1:5673 >"$TMP/starling.log" 2>&1 &
wait_port 5673 20
STARLING_PID=""
for pid in $(ip netns pids "$NS"); do
  [[ "$(readlink /proc/"$pid"/exe 2>/dev/null)" == "$(readlink -f "$BIN")" ]] && STARLING_PID=$pid
done
[[ -n "$STARLING_PID" ]] || { echo "no starling process found" >&2; exit 1; }

# RabbitMQ with private everything.
R=$TMP/rabbit
mkdir -p "$R/home" "$R/mnesia" "$R/log"
printf 'listeners.tcp.default = 127.0.0.1:5672\nloopback_users = none\n' >"$R/rabbitmq.conf"
echo '[].' >"$R/enabled_plugins"
: >"$R/rabbitmq-env.conf"
inns env HOME="$R/home" RABBITMQ_NODENAME="amqpbench$$@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
  RABBITMQ_NODE_PORT=5672 RABBITMQ_DIST_PORT=25799 RABBITMQ_CONFIG_FILE="$R/rabbitmq.conf" \
  RABBITMQ_CONF_ENV_FILE="$R/rabbitmq-env.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$R/advanced.config" \
  RABBITMQ_ENABLED_PLUGINS_FILE="$R/enabled_plugins" RABBITMQ_MNESIA_BASE="$R/mnesia" RABBITMQ_LOG_BASE="$R/log" \
  RABBITMQ_PID_FILE="$R/pid" ERL_EPMD_ADDRESS=127.0.0.1 \
  setsid /usr/lib/rabbitmq/bin/rabbitmq-server >"$R/server.log" 2>&1 &
wait_port 5672 120 || { tail -30 "$R/server.log" >&2; exit 1; }
RABBIT_PID=""
for pid in $(ip netns pids "$NS"); do
  [[ "$(cat /proc/"$pid"/comm 2>/dev/null)" == beam.smp ]] && RABBIT_PID=$pid
done
[[ -n "$RABBIT_PID" ]] || { echo "no beam.smp process found" >&2; exit 1; }
RABBIT_VERSION=$(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null || echo unknown)

RESULTS=$TMP/results.jsonl
run_one() {  # run_one SERVER CASE-ARGS...
  local server=$1; shift
  local port=5673 pid=$STARLING_PID
  if [[ $server == rabbitmq ]]; then port=5672 pid=$RABBIT_PID; fi
  inns "$LOAD" --addr 127.0.0.1:$port --label "$server" --server-pid "$pid" --seconds "$SECS" --window "$WINDOW" "$@" >>"$RESULTS"
}
CASES=(
  "--mode throughput --conns 1"
  "--mode throughput --conns 1 --confirms"
  "--mode throughput --conns 10"
  "--mode throughput --conns 10 --confirms"
  "--mode latency --conns 1 --rate $RATE"
  "--mode latency --conns 10 --rate $RATE"
)
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
for ((round = 1; round <= ROUNDS; round++)); do
  for c in "${CASES[@]}"; do
    if (( round % 2 )); then order="starling rabbitmq"; else order="rabbitmq starling"; fi
    for s in $order; do
      # shellcheck disable=SC2086
      run_one "$s" $c
      tail -1 "$RESULTS" >&2
    done
  done
done
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$RESULTS" "$OUT" "$ROUNDS" "$SECS" "$RATE" "$RABBIT_VERSION" "$LOADAVG_START" "$LOADAVG_END" "$WINDOW" <<'PY'
import json, statistics, sys, datetime, platform
path, out, rounds, secs, rate, rversion, la0, la1, window = sys.argv[1:]
rows = [json.loads(l) for l in open(path) if l.strip()]
def key(r):
    return (r["mode"], r["conns"], r["confirms"])
cases = []
for r in rows:
    if key(r) not in cases:
        cases.append(key(r))
def pick(k, server):
    return [r for r in rows if key(r) == k and r["server"] == server]
def med(rs, f):
    v = [f(r) for r in rs if f(r) is not None]
    return statistics.median(v) if v else None
def fmt(x, unit=""):
    return "–" if x is None else f"{x:,.0f}{unit}"
lines = []
lines.append("# AMQP 0-9-1: Starling bridge vs RabbitMQ\n")
lines.append(f"Generated by `benches/amqp_compare.sh --rounds {rounds} --secs {secs} --rate {rate} --window {window}` on "
             f"{datetime.date.today()}, kernel {platform.release()}, 2 cores shared with other jobs (load average "
             f"{la0} at the start, {la1} at the end). RabbitMQ {rversion} (Debian package, no plugins). "
             "Load generator: `benches/amqp_load.rs`; each connection publishes 100-byte bodies to its own queue "
             "through the default exchange and consumes it (no-ack) on a second channel. Medians over "
             f"{rounds} alternating rounds of {secs} s (after 1 s of warm-up). CPU: server utime+stime during "
             "the measured interval (200% = both cores); RSS at its end. Lost: published − delivered, summed "
             "over all rounds, after waiting for every message to come back. Neither server had the two cores "
             "to itself (other jobs, and the load generator on the same cores), so absolute figures are lower "
             "than on an idle machine; the CPU columns show the share each server got, and messages per "
             "CPU-second compare the servers independently of that share.\n")
lines.append(f"## Closed-loop throughput (delivered messages/s; at most {window} in flight per connection)\n")
lines.append("| connections | confirms | Starling msg/s | RabbitMQ msg/s | ratio | Starling CPU | RabbitMQ CPU | "
             "msg per CPU-second (S/R) | Starling RSS | RabbitMQ RSS | lost (S/R) |")
lines.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for k in cases:
    if k[0] != "throughput":
        continue
    s, r = pick(k, "starling"), pick(k, "rabbitmq")
    sr, rr = med(s, lambda x: x.get("delivered_per_s")), med(r, lambda x: x.get("delivered_per_s"))
    ratio = f"**{sr / rr:.2f}×**" if sr and rr else "–"
    lost = f"{sum(x.get('lost', 0) for x in s)}/{sum(x.get('lost', 0) for x in r)}"
    def per_cpu(x):
        c = x.get("server_cpu_pct")
        return x["delivered_per_s"] / (c / 100) if c else None
    lines.append(f"| {k[1]} | {'yes' if k[2] else 'no'} | {fmt(sr)} | {fmt(rr)} | {ratio} | "
                 f"{fmt(med(s, lambda x: x.get('server_cpu_pct')), '%')} | "
                 f"{fmt(med(r, lambda x: x.get('server_cpu_pct')), '%')} | "
                 f"{fmt(med(s, per_cpu))} / {fmt(med(r, per_cpu))} | "
                 f"{med(s, lambda x: x.get('server_rss_mb'))} MB | {med(r, lambda x: x.get('server_rss_mb'))} MB | "
                 f"{lost} |")
lines.append("")
lines.append(f"## Latency at {int(rate):,} msg/s offered in total (publish → delivery, µs)\n")
lines.append("| connections | server | delivered msg/s | p50 | p90 | p99 | p99.9 | max | CPU | lost |")
lines.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for k in cases:
    if k[0] != "latency":
        continue
    for name in ["starling", "rabbitmq"]:
        rs = pick(k, name)
        def lat(q):
            return med(rs, lambda x: (x.get("latency_us") or {}).get(q))
        lines.append(f"| {k[1]} | {'Starling' if name == 'starling' else 'RabbitMQ'} | "
                     f"{fmt(med(rs, lambda x: x.get('delivered_per_s')))} | {fmt(lat('p50'))} | {fmt(lat('p90'))} | "
                     f"{fmt(lat('p99'))} | {fmt(lat('p999'))} | {fmt(lat('max'))} | "
                     f"{fmt(med(rs, lambda x: x.get('server_cpu_pct')), '%')} | {sum(x.get('lost', 0) for x in rs)} |")
errors = [e for r in rows for e in r.get("errors", [])]
if errors:
    lines.append("")
    lines.append("Errors: " + "; ".join(sorted(set(errors))[:10]))
lines.append("")
lines.append("Raw results (one JSON object per run):\n")
lines.append("```")
lines += [json.dumps(r, separators=(",", ":")) for r in rows]
lines.append("```")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines[:30]))
PY
