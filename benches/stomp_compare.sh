#!/bin/bash
# STOMP /topic fan-out, Starling bridge vs RabbitMQ's STOMP plugin, side by side in one run, alternating.
#
#   sudo bash benches/stomp_compare.sh [ROUNDS]      (default 3 rounds)
#
# Needs: target/release/starling and the stomp_scale load generator
#   (cargo build --release -p starling --bin starling && cargo bench --bench stomp_scale --no-run),
#   the Debian rabbitmq-server package. Runs everything in a private network namespace (loopback only);
#   RabbitMQ gets its own node name, config, mnesia, log and plugin files under a temporary directory, so it
#   does not touch /etc/rabbitmq or another node on the machine. Writes the fan-out section of
#   benches/results/stomp_scale.md (everything above the marker line is kept) and prints the raw results.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
RATE=${RATE:-1000}
T=${CARGO_TARGET_DIR:-target}
BIN=${STARLING_BIN:-$T/release/starling}
GEN=${STOMP_SCALE_BIN:-$(ls -t "$T"/release/deps/stomp_scale-* | grep -v '\.d$' | head -1)}
OUT=${OUT:-benches/results/stomp_scale.md}
NS=stompcmp-$$
NODE=stompcmp$$@localhost
WORK=$(mktemp -d /tmp/stompcmp.XXXXXX)
chmod 755 "$WORK"
RAW=$WORK/results.txt
SPID=

ip netns add "$NS"
ip -n "$NS" link set lo up

rmq_env() {
    env RABBITMQ_NODENAME="$NODE" RABBITMQ_CONFIG_FILE="$WORK/rmq/rabbitmq.conf" \
        RABBITMQ_MNESIA_BASE="$WORK/rmq/mnesia" RABBITMQ_LOG_BASE="$WORK/rmq/log" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$WORK/rmq/enabled_plugins" RABBITMQ_CONF_ENV_FILE="$WORK/rmq/env.conf" \
        RABBITMQ_ADVANCED_CONFIG_FILE="$WORK/rmq/advanced.config" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        ERL_EPMD_ADDRESS=127.0.0.1 HOME=/var/lib/rabbitmq \
        ip netns exec "$NS" setpriv --reuid rabbitmq --regid rabbitmq --init-groups "$@"
}

cleanup() {
    set +e
    rmq_env /usr/lib/rabbitmq/bin/rabbitmqctl -n "$NODE" stop >/dev/null 2>&1
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null
    sleep 1
    # Whatever is left in the namespace (epmd) was started by this script.
    for p in $(ip netns pids "$NS" 2>/dev/null); do kill "$p" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() {
    ip netns exec "$NS" timeout 90 bash -c "until (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null; do sleep 0.2; done"
}

# Starling: STOMP on 61613 (MQTT on 1883, unused).
ip netns exec "$NS" "$BIN" bridge --mqtt 127.0.0.1:1883 --stomp 127.0.0.1:61613 >"$WORK/starling.log" 2>&1 &
SPID=$!
wait_port 61613

# RabbitMQ: STOMP plugin only, on 61614.
mkdir -p "$WORK/rmq/mnesia" "$WORK/rmq/log"
cat >"$WORK/rmq/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:5672
stomp.listeners.tcp.1 = 127.0.0.1:61614
loopback_users = none
CONF
echo '[rabbitmq_stomp].' >"$WORK/rmq/enabled_plugins"
echo '[].' >"$WORK/rmq/advanced.config"
: >"$WORK/rmq/env.conf"
chown -R rabbitmq:rabbitmq "$WORK/rmq"
rmq_env /usr/lib/rabbitmq/bin/rabbitmq-server >"$WORK/rmq/log/stdout" 2>&1 &
wait_port 61614
RPID=
for p in $(ip netns pids "$NS"); do
    if [ "$(cat /proc/"$p"/comm 2>/dev/null)" = beam.smp ]; then RPID=$p; fi
done
[ -n "$RPID" ] || { echo "no beam.smp in the namespace"; exit 1; }
sleep 2

run() { # label port pid args...
    local label=$1 port=$2 pid=$3
    shift 3
    ip netns exec "$NS" "$GEN" --mode fanout --addr "127.0.0.1:$port" --server-pid "$pid" --label "$label" \
        --seconds "$SECONDS_PER_RUN" "$@" | tee -a "$RAW" | grep -E '^RESULT|failed' || true
    sleep 1
}

CASES=(
    "--publishers 1 --subscribers 10 --window 100 --outstanding 5000"
    "--publishers 10 --subscribers 10 --window 50 --outstanding 800"
    "--publishers 1 --subscribers 10 --rate $RATE"
    "--publishers 10 --subscribers 10 --rate $RATE"
)
# Warm-up (not reported): one short closed-loop run per server, so that neither is measured cold.
SECONDS_SAVED=$SECONDS_PER_RUN
SECONDS_PER_RUN=3
run warmup 61613 "$SPID" --publishers 1 --subscribers 10 --window 100 --outstanding 5000
run warmup 61614 "$RPID" --publishers 1 --subscribers 10 --window 100 --outstanding 5000
SECONDS_PER_RUN=$SECONDS_SAVED
for r in $(seq 1 "$ROUNDS"); do
    for c in "${CASES[@]}"; do
        # shellcheck disable=SC2086
        if [ $((r % 2)) = 1 ]; then
            run starling 61613 "$SPID" $c
            run rabbitmq 61614 "$RPID" $c
        else
            run rabbitmq 61614 "$RPID" $c
            run starling 61613 "$SPID" $c
        fi
    done
done

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
RMQ_VERSION=$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo unknown)
python3 benches/stomp_compare_report.py "$RAW" "$OUT" "$ROUNDS" "$SECONDS_PER_RUN" "$RATE" "$RMQ_VERSION" "$LOAD"
cp "$RAW" "${OUT%.md}_raw.txt"
