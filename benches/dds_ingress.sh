#!/bin/sh
# STOMP -> bridge -> DDS ingress (issue 9), in a private network namespace. As root, from the repository root:
#   benches/dds_ingress.sh [STARLING_BIN [LABEL [RATE [PUBLISHERS [SECONDS]]]]]
# Needs `cargo bench --bench stomp_scale --no-run` (BENCH=path overrides the stomp_scale binary).
# ARGS adds stomp_scale options, e.g. ARGS="--receiver sub --gen-tasks 100 --tick-ms 1 --receipt-ms 0"
# for the set-up of the first runs (a `starling sub` child, one task and one write per publisher per ms).
BIN=${1:-target/release/starling}; LABEL=${2:-starling}; RATE=${3:-100000}; PUBS=${4:-100}; SECS=${5:-10}
BENCH=${BENCH:-$(ls -t ${CARGO_TARGET_DIR:-target}/release/deps/stomp_scale-* | grep -v '\.d$' | head -1)}
exec unshare -n sh -c "ip link set lo up; ip link set lo multicast on; ip route add 239.0.0.0/8 dev lo
  for i in 2 3 4 5 6 7 8; do ip addr add 127.0.0.\$i/8 dev lo 2>/dev/null; done
  $BIN bridge --config benches/dds_ingress/bridge.xml --interface lo >/tmp/dds_ingress_bridge.log 2>&1 & B=\$!
  sleep 1
  timeout $((SECS + 120)) $BENCH --mode dds --server-pid \$B --starling $BIN --publishers $PUBS --sources 8 \
    --rate $RATE --seconds $SECS --label $LABEL ${ARGS:-}
  kill \$B; wait \$B 2>/dev/null; grep -c 'dropped' /tmp/dds_ingress_bridge.log | sed 's/^/bridge log lines with dropped: /'"
