#!/usr/bin/env bash
# Throughput under random loss: Starling pub -> sub and Cyclone ddsperf pub -> sub, in the same run, across a
# veth pair between two private network namespaces, with nftables dropping LOSS % of the UDP datagrams that
# arrive on each side (both directions: data and acknowledgements).
#
#   benches/loss_throughput.sh [--secs 10] [--rate 1000] [--losses "0 2 10 20"] [--out benches/results/loss.md]
#
# Starling: `starling pub --reliable --rate R` writes a ShapeType sample (about 30 bytes of payload) R times a
# second for SECS seconds; `starling sub` prints every sample, and the lines are counted with arrival times.
# Cyclone: `ddsperf pub RHz size 32` (reliable, keyed KS topic, 32-byte payload) with `ddsperf sub`.
# "delivered/s" is samples received per second while data was flowing; "lost" is written minus received when
# the subscriber stops (5 s after the publisher) -- reliable streams should lose nothing, only slow down.
# Needs root, nftables, cyclonedds-tools (ddsperf) and target/release/starling (or $STARLING_BIN).
set -euo pipefail

SECS=10 RATE=1000 LOSSES="0 2 10 20"
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(dirname "$HERE")
OUT="$REPO/benches/results/loss.md"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --secs) SECS=$2; shift 2;; --rate) RATE=$2; shift 2;; --losses) LOSSES=$2; shift 2;; --out) OUT=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
BIN=${STARLING_BIN:-$REPO/target/release/starling}
[[ -x "$BIN" ]] || { echo "no starling binary at $BIN (cargo build --release or set STARLING_BIN)" >&2; exit 1; }
command -v ddsperf >/dev/null || { echo "ddsperf missing: apt-get install -y cyclonedds-tools" >&2; exit 1; }
command -v nft >/dev/null || { echo "nft missing: apt-get install -y nftables" >&2; exit 1; }

N1=lt1-$$ N2=lt2-$$
TMP=$(mktemp -d)
cleanup() {
  for ns in $N1 $N2; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

ip netns add $N1; ip netns add $N2
ip link add vt1 netns $N1 type veth peer name vt2 netns $N2
for x in "1 $N1 vt1" "2 $N2 vt2"; do
  set -- $x
  ip -n "$2" addr add 10.78.0.$1/24 dev "$3"; ip -n "$2" link set "$3" up; ip -n "$2" link set lo up
  ip -n "$2" route replace 239.0.0.0/8 dev "$3"
done
cdds() {  # Cyclone config pinned to the veth
  echo "<CycloneDDS><Domain id=\"any\"><General><Interfaces><NetworkInterface name=\"$1\"/></Interfaces></General></Domain></CycloneDDS>"
}

set_loss() {  # set_loss NS PERCENT: drop PERCENT % of the UDP datagrams arriving in NS
  ip netns exec "$1" nft delete table inet lossy 2>/dev/null || true
  [[ "$2" == 0 ]] && return 0
  ip netns exec "$1" nft add table inet lossy
  ip netns exec "$1" nft add chain inet lossy in '{ type filter hook prerouting priority -300; policy accept; }'
  ip netns exec "$1" nft add rule inet lossy in meta l4proto udp numgen random mod 100 '<' "$2" counter drop
}

# Counts JSON lines on stdin; prints "received first_ts last_ts".
COUNTER='
import sys, time
n, first, last = 0, None, None
for line in sys.stdin:
    if line.startswith("{\"color\""):
        now = time.monotonic(); n += 1
        first = first or now; last = now
print(n, first or 0, last or 0)
'

starling_run() {  # prints "delivered_per_s lost"
  local count=$((SECS * RATE))
  ip netns exec $N2 "$BIN" --interface vt2 sub Square --type ShapeType --reliable --timeout $((SECS + 25)) \
    | python3 -c "$COUNTER" > "$TMP/sub.out" &
  local sub=$!
  ip netns exec $N1 "$BIN" --interface vt1 pub Square --type ShapeType --reliable --rate "$RATE" --count "$count" \
    --wait-subscribers 1 --wait-timeout 20 --linger 5 '{"color":"BLUE","x":1,"y":2,"shapesize":30}' \
    2> "$TMP/pub.err" || true
  # The publisher lingered up to 5 s for acknowledgements; stop the subscriber now.
  for pid in $(ip netns pids $N2); do kill -TERM "$pid" 2>/dev/null || true; done
  wait $sub || true
  read -r n first last < "$TMP/sub.out"
  python3 -c "
n, f, l, c = $n, $first, $last, $count
span = max(l - f, 1e-9)
print(f'{n / span:.0f}' if n > 1 else '0', c - n)"
}

ddsperf_run() {  # prints "delivered_per_s lost"
  CYCLONEDDS_URI="$(cdds vt2)" ip netns exec $N2 ddsperf -D $((SECS + 8)) -1 sub > "$TMP/dsub.out" 2>&1 &
  local sub=$!
  CYCLONEDDS_URI="$(cdds vt1)" ip netns exec $N1 ddsperf -D "$SECS" pub "${RATE}Hz" size 32 > "$TMP/dpub.out" 2>&1 || true
  wait $sub || true
  # Lines: "... size 32 total N lost L delta N lost L rate X kS/s Y Mb/s"; average the rate over the lines
  # with data, take total and lost from the last line.
  python3 - "$TMP/dsub.out" <<'PY'
import re, sys
rates, total, lost = [], 0, 0
for line in open(sys.argv[1]):
    m = re.search(r"total (\d+) lost (\d+) delta (\d+) lost \d+ rate ([\d.]+) kS/s", line)
    if m:
        total, lost = int(m.group(1)), int(m.group(2))
        if int(m.group(3)) > 0:
            rates.append(float(m.group(4)) * 1000)
print(f"{sum(rates) / len(rates):.0f}" if rates else "0", lost, total)
PY
}

{
  echo "# Throughput under random loss"
  echo
  echo "Generated by \`benches/loss_throughput.sh --secs $SECS --rate $RATE --losses \"$LOSSES\"\` on $(date -u +%Y-%m-%d), $(nproc) cores,"
  echo "$(uname -r). Two namespaces joined by a veth pair; nftables drops LOSS % of UDP datagrams arriving on each side"
  echo "(both directions). Reliable, KEEP_ALL, publisher paced at $RATE samples/s for $SECS s."
  echo
  echo "| loss | Starling delivered/s | Starling lost | ddsperf delivered/s | ddsperf lost (of received total) |"
  echo "|-----:|---------------------:|--------------:|--------------------:|---------------------------------:|"
} > "$TMP/table.md"

for loss in $LOSSES; do
  set_loss $N1 "$loss"; set_loss $N2 "$loss"
  read -r s_rate s_lost <<< "$(starling_run)"
  read -r d_rate d_lost d_total <<< "$(ddsperf_run)"
  echo "| ${loss}% | $s_rate | $s_lost | $d_rate | $d_lost (of $d_total) |" | tee -a "$TMP/table.md"
done
mkdir -p "$(dirname "$OUT")"
cp "$TMP/table.md" "$OUT"
echo "wrote $OUT"
