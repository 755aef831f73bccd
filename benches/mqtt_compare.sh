#!/usr/bin/env bash
# Starling's MQTT endpoint (`starling bridge`, no DDS routes) next to Debian's mosquitto, in one run,
# alternating, inside a private network namespace (loopback only). Writes benches/results/mqtt.md
# (table, ratios, targets) and benches/results/raw/mqtt.jsonl (one JSON object per run).
#
#   benches/mqtt_compare.sh                       # defaults below
#   ROUNDS=5 SECS=10 benches/mqtt_compare.sh
#   SCENARIOS=idle ROUNDS=3 benches/mqtt_compare.sh   # only some scenarios (space-separated); the report
#                                                     # then goes to benches/results/raw/mqtt-partial.md
#                                                     # (REPORT=FILE to choose), mqtt.md is left alone
#
# Scenarios (100-byte payloads; load generator benches/mqtt_load.rs):
#   fanout    QoS 0, 1 publisher -> 10 subscribers, closed loop (window 1000), max rate
#   p2p       QoS 1, 10 publishers -> 10 subscribers, one topic each, closed loop (window 100), max rate
#   fanout@R  as fanout at a fixed offered rate (FAN_RATE msg/s published), for latency
#   p2p@R     as p2p at a fixed offered rate (P2P_RATE msg/s per publisher), for latency
#   idle      IDLE_CONNS connections from 8 source addresses (127.0.0.1-8): server RSS growth per connection
# Mosquitto's settings: benches/mqtt/mosquitto.conf.
# Pinning (default): each server runs on CPU SERVER_CPU (0) and the load generator on LOADGEN_CPU (1), so that
# both servers get one core (mosquitto is single-threaded; Starling's runtime threads share that core) and the
# generator does not take the server's core. PIN=0 lets the scheduler place everything.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-8}
FAN_RATE=${FAN_RATE:-5000}
P2P_RATE=${P2P_RATE:-1000}
IDLE_CONNS=${IDLE_CONNS:-10000}
ALL_SCENARIOS="fanout p2p fanout@R p2p@R idle"
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}
if [ "$SCENARIOS" = "$ALL_SCENARIOS" ]; then
    REPORT=${REPORT:-$ROOT/benches/results/mqtt.md}
else
    REPORT=${REPORT:-$ROOT/benches/results/raw/mqtt-partial.md}
fi
PIN=${PIN:-1}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RAW=${RAW:-$ROOT/benches/results/raw/mqtt.jsonl}

if [ -z "${MQTT_COMPARE_IN_NETNS:-}" ]; then
    command -v mosquitto >/dev/null || apt-get install -y mosquitto
    cargo build --release -p starling --bin starling
    LOADGEN=$(cargo bench --bench mqtt_load --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*mqtt_load-[0-9a-f]*\)).*/\1/p' | tail -1)
    [ -x "$LOADGEN" ] || { echo "cannot find the mqtt_load binary" >&2; exit 1; }
    mkdir -p "$(dirname "$RAW")"
    : >"$RAW"
    export MQTT_COMPARE_IN_NETNS=1 LOADGEN ROUNDS SECS FAN_RATE P2P_RATE IDLE_CONNS SCENARIOS TARGET RAW PIN SERVER_CPU LOADGEN_CPU
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    unshare -n "$0" "$@"
    LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
    python3 "$ROOT/benches/mqtt/report.py" "$RAW" "$REPORT" \
        "scenarios=$SCENARIOS rounds=$ROUNDS secs=$SECS fan_rate=$FAN_RATE p2p_rate=$P2P_RATE idle_conns=$IDLE_CONNS pin=$PIN" \
        "$LOAD_BEFORE" "$LOAD_AFTER" "$(mosquitto -h 2>&1 | head -1)" "$(nproc)"
    exit 0
fi

# ---- inside the namespace -----------------------------------------------------------------------
ip link set lo up
ulimit -n "$(ulimit -Hn)"
STARLING=$TARGET/release/starling
PID=
if [ "$PIN" = 1 ]; then
    ON_SERVER="taskset -c $SERVER_CPU"
    ON_LOADGEN="taskset -c $LOADGEN_CPU"
else
    ON_SERVER=
    ON_LOADGEN=
fi

wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    return 1
}

start() {
    case $1 in
    starling)
        $ON_SERVER "$STARLING" bridge --mqtt 127.0.0.1:1883 2>/tmp/mqtt-compare-starling.log &
        PID=$!
        PORT=1883
        ;;
    mosquitto)
        $ON_SERVER mosquitto -c "$ROOT/benches/mqtt/mosquitto.conf" 2>/tmp/mqtt-compare-mosquitto.log &
        PID=$!
        PORT=1884
        ;;
    esac
    wait_port $PORT
}

stop() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
}
trap 'stop' EXIT

run() { # impl scenario args...
    local impl=$1 scen=$2
    shift 2
    start "$impl"
    echo "== $impl $scen" >&2
    timeout 120 $ON_LOADGEN "$LOADGEN" --addr "127.0.0.1:$PORT" --server-pid "$PID" --label "$impl $scen" "$@" | tee -a "$RAW" >&2 ||
        echo "{\"label\":\"$impl $scen\",\"failed\":true}" >>"$RAW"
    stop
}

for round in $(seq "$ROUNDS"); do
    # Alternate which server goes first.
    if [ $((round % 2)) = 1 ]; then order="starling mosquitto"; else order="mosquitto starling"; fi
    for scen in $SCENARIOS; do
        for impl in $order; do
            case $scen in
            fanout) run "$impl" "$scen" --mode fanout --qos 0 --pubs 1 --subs 10 --window 1000 --seconds "$SECS" ;;
            p2p) run "$impl" "$scen" --mode p2p --qos 1 --pubs 10 --window 100 --seconds "$SECS" ;;
            fanout@R) run "$impl" "$scen" --mode fanout --qos 0 --pubs 1 --subs 10 --window 1000 --rate "$FAN_RATE" --seconds "$SECS" ;;
            p2p@R) run "$impl" "$scen" --mode p2p --qos 1 --pubs 10 --window 100 --rate "$P2P_RATE" --seconds "$SECS" ;;
            idle) run "$impl" "$scen" --mode idle --conns "$IDLE_CONNS" --sources 8 ;;
            esac
        done
    done
done
