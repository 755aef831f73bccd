#!/usr/bin/env bash
# Reliable throughput under random loss: Starling `perf pub` -> `perf sub` beside Cyclone `ddsperf pub` ->
# `ddsperf sub`, in the same run, alternating, between two private network namespaces on a Linux bridge (a hub
# namespace holds br0; each peer namespace has its own veth pair to it). nftables drops LOSS % of the UDP
# datagrams (IP fragments count one by one) arriving in each peer namespace, so data and acknowledgements both
# suffer.
#
#   benches/loss_throughput.sh [--secs 10] [--runs 2] [--size 1k] [--losses "0 2 10 20"] [--paced 1000]
#                              [--out benches/results/loss.md]
#
# Starling runs with --keyed 1, since ddsperf's KS topic is keyed (as in compare.sh).
# For each loss and each run, alternating Starling then Cyclone (Cyclone first on even runs):
#   max:   the publisher writes as fast as its reliable KEEP_ALL writer lets it (the writer blocks on a full
#          history: Starling's --window, Cyclone's WHC) for SECS seconds;
#   paced: with --paced R (0 = skip), one more pair of runs offering R samples/s.
# "samples/s" is the mean of the subscriber's per-second rates over the seconds with data, without the first and
# the last of them (partial seconds); the median over the runs is reported. "lost" is what the subscriber saw
# missing in the sequence numbers (reliable: must be 0), "recv/written" compares what arrived with what was
# written (Starling; ddsperf's pub does not print a count).
# Needs root, nftables, cyclonedds-tools (ddsperf) and target/release/starling (or $STARLING_BIN).
set -euo pipefail

SECS=10 RUNS=2 SIZE=1k LOSSES="0 2 10 20" PACED=1000
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(dirname "$HERE")
OUT="$REPO/benches/results/loss.md"
ARGS="$*"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --secs) SECS=$2; shift 2;; --runs) RUNS=$2; shift 2;; --size) SIZE=$2; shift 2;;
    --losses) LOSSES=$2; shift 2;; --paced) PACED=$2; shift 2;; --out) OUT=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
BIN=${STARLING_BIN:-$REPO/target/release/starling}
[[ -x "$BIN" ]] || { echo "no starling binary at $BIN (cargo build --release or set STARLING_BIN)" >&2; exit 1; }
command -v ddsperf >/dev/null || { echo "ddsperf missing: apt-get install -y cyclonedds-tools" >&2; exit 1; }
command -v nft >/dev/null || { echo "nft missing: apt-get install -y nftables" >&2; exit 1; }

H=lth-$$ N1=lt1-$$ N2=lt2-$$
TMP=$(mktemp -d)
cleanup() {
  for ns in $N1 $N2 $H; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

# Topology: br0 in the hub namespace H, snooping off (SPDP multicast is flooded to both ports), no STP.
for ns in $H $N1 $N2; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n $H link add br0 type bridge mcast_snooping 0 stp_state 0
ip -n $H link set br0 up
for i in 1 2; do
  ns=lt$i-$$
  ip link add vt$i netns "$ns" type veth peer name bp$i netns $H
  ip -n $H link set bp$i master br0; ip -n $H link set bp$i up
  ip -n "$ns" addr add 10.78.0.$i/24 dev vt$i; ip -n "$ns" link set vt$i up
  ip -n "$ns" route replace 239.0.0.0/8 dev vt$i
done
MTU=$(ip -n $N1 -o link show vt1 | sed -n 's/.* mtu \([0-9]*\).*/\1/p')
cdds() {  # Cyclone config pinned to the veth (never the host's interface)
  echo "<CycloneDDS><Domain id=\"any\"><General><Interfaces><NetworkInterface name=\"$1\"/></Interfaces></General></Domain></CycloneDDS>"
}

set_loss() {  # set_loss NS PERCENT: drop PERCENT % of the UDP datagrams arriving in NS
  ip netns exec "$1" nft delete table inet lossy 2>/dev/null || true
  [[ "$2" == 0 ]] && return 0
  ip netns exec "$1" nft add table inet lossy
  ip netns exec "$1" nft add chain inet lossy in '{ type filter hook prerouting priority -300; policy accept; }'
  ip netns exec "$1" nft add rule inet lossy in meta l4proto udp numgen random mod 100 '<' "$2" counter drop
}

# Steady rate from per-second rates: drop the first and last seconds that carried data, average the rest.
steady() {
  python3 -c '
import sys
r = [float(x) for x in sys.argv[1:] if float(x) > 0]
r = r[1:-1] if len(r) > 2 else r
print(f"{sum(r) / len(r):.0f}" if r else "0")' "$@"
}

starling_run() {  # starling_run RATE|max -> prints "samples_per_s lost received written"
  local rate=()
  [[ "$1" != max ]] && rate=(--rate "$1")
  ip netns exec $N2 "$BIN" --interface vt2 perf sub --size "$SIZE" --keyed 1 --reliable --json --wait 20 \
    --duration $((SECS + 6)) > "$TMP/ssub.out" 2> "$TMP/ssub.err" &
  local sub=$!
  ip netns exec $N1 "$BIN" --interface vt1 perf pub --size "$SIZE" --keyed 1 --reliable --json --wait 20 \
    --duration "$SECS" "${rate[@]}" > "$TMP/spub.out" 2> "$TMP/spub.err" || true
  wait $sub || true
  python3 - "$TMP/ssub.out" "$TMP/spub.out" <<'PY'
import json, sys
def lines(p):
    out = []
    for l in open(p):
        try:
            out.append(json.loads(l))
        except ValueError:
            pass
    return out
sub, pub = lines(sys.argv[1]), lines(sys.argv[2])
rates = [str(l["samples_per_s"]) for l in sub if not l.get("summary")]
s = [l for l in sub if l.get("summary")] or [{"lost": "?", "received": 0}]
p = [l for l in pub if l.get("summary")] or [{"written": "?"}]
print(" ".join(rates) or "0", "|", s[0]["lost"], s[0]["received"], p[0]["written"])
PY
}

ddsperf_run() {  # ddsperf_run RATE|max -> prints "per-second rates | lost received"
  local pub=(pub size "$SIZE")
  [[ "$1" != max ]] && pub=(pub "${1}Hz" size "$SIZE")
  CYCLONEDDS_URI="$(cdds vt2)" ip netns exec $N2 ddsperf -D $((SECS + 6)) -1 sub > "$TMP/dsub.out" 2>&1 &
  local sub=$!
  CYCLONEDDS_URI="$(cdds vt1)" ip netns exec $N1 ddsperf -D "$SECS" "${pub[@]}" > "$TMP/dpub.out" 2>&1 || true
  wait $sub || true
  # Lines: "... size 1024 total N lost L delta D lost L rate X kS/s Y Mb/s"
  python3 - "$TMP/dsub.out" <<'PY'
import re, sys
rates, total, lost = [], 0, 0
for line in open(sys.argv[1]):
    m = re.search(r"total (\d+) lost (\d+) delta (\d+) lost \d+ rate ([\d.]+) kS/s", line)
    if m:
        total, lost = int(m.group(1)), int(m.group(2))
        rates.append(str(float(m.group(4)) * 1000))
print(" ".join(rates) or "0", "|", lost, total, "-")
PY
}

median() { python3 -c 'import statistics, sys; print(f"{statistics.median(map(float, sys.argv[1:])):.0f}")' "$@"; }

# measure KIND LOSS RATE -> one table cell pair "rate (runs) | lost, recv/written"
declare -A RES
measure() {
  local rate=$1 loss=$2 runs=$3
  local s_rates=() d_rates=() s_info="" d_info=""
  for ((r = 1; r <= runs; r++)); do
    local order="starling ddsperf"
    ((r % 2 == 0)) && order="ddsperf starling"
    for who in $order; do
      local out rates lost recv written one
      out=$(${who}_run "$rate")
      rates=${out%%|*}; read -r lost recv written <<< "${out#*|}"
      one=$(steady $rates)
      echo "  loss $loss% $who $rate run $r: $one samples/s, lost $lost, received $recv, written $written" >&2
      if [[ $who == starling ]]; then s_rates+=("$one"); s_info+="${s_info:+; }$lost, $recv/$written"
      else d_rates+=("$one"); d_info+="${d_info:+; }$lost, $recv"; fi
    done
  done
  RES[s]="$(median "${s_rates[@]}") (${s_rates[*]}) | $s_info"
  RES[d]="$(median "${d_rates[@]}") (${d_rates[*]}) | $d_info"
}

rows_max=() rows_paced=()
for loss in $LOSSES; do
  set_loss $N1 "$loss"; set_loss $N2 "$loss"
  measure max "$loss" "$RUNS"
  rows_max+=("| ${loss}% | ${RES[s]} | ${RES[d]} |")
  echo "${rows_max[-1]}"
  if [[ "$PACED" != 0 ]]; then
    measure "$PACED" "$loss" 1
    rows_paced+=("| ${loss}% | ${RES[s]} | ${RES[d]} |")
    echo "${rows_paced[-1]}"
  fi
done

mkdir -p "$(dirname "$OUT")"
{
  echo "# Reliable throughput under random loss"
  echo
  echo "Generated by \`benches/loss_throughput.sh${ARGS:+ $ARGS}\` on $(date -u +%Y-%m-%d), $(nproc) cores,"
  echo "$(uname -r). Two namespaces on a Linux bridge (veth MTU $MTU); nftables drops LOSS % of the UDP datagrams"
  echo "(each IP fragment separately) arriving in each peer namespace, so both directions. Reliable, KEEP_ALL, samples of"
  echo "$SIZE, $SECS s per run, $RUNS runs per cell alternating Starling and Cyclone."
  echo
  echo "Starling: \`starling --interface vt2 perf sub --size $SIZE --keyed 1 --reliable --json --duration $((SECS + 6))\` and"
  echo "\`starling --interface vt1 perf pub --size $SIZE --keyed 1 --reliable --json --duration $SECS\`."
  echo "Cyclone (ddsperf $(dpkg-query -W -f '${Version}' cyclonedds-tools 2>/dev/null || echo '?')): \`ddsperf -D $((SECS + 6)) -1 sub\` and"
  echo "\`ddsperf -D $SECS pub size $SIZE\` (paced: \`pub ${PACED}Hz size $SIZE\`, Starling \`--rate $PACED\`), each with a"
  echo "CYCLONEDDS_URI naming its veth."
  echo
  echo "samples/s: median over the runs of the subscriber's mean per-second rate (first and last second with"
  echo "data left out), each run's figure in parentheses. lost: sequence numbers the subscriber never got (must be"
  echo "0 for reliable); Starling also shows received/written."
  echo
  echo "## Maximum (publisher unpaced)"
  echo
  echo "| loss | Starling samples/s | Starling lost, recv/written | ddsperf samples/s | ddsperf lost, received |"
  echo "|-----:|-------------------:|----------------------------:|------------------:|-----------------------:|"
  printf '%s\n' "${rows_max[@]}"
  if [[ "$PACED" != 0 ]]; then
    echo
    echo "## Paced at $PACED samples/s"
    echo
    echo "| loss | Starling samples/s | Starling lost, recv/written | ddsperf samples/s | ddsperf lost, received |"
    echo "|-----:|-------------------:|----------------------------:|------------------:|-----------------------:|"
    printf '%s\n' "${rows_paced[@]}"
  fi
} > "$OUT"
echo "wrote $OUT"
