#!/usr/bin/env bash
# Starling vs Cyclone DDS (ddsperf) vs raw UDP, side by side, inside one private network namespace.
#
#   benches/compare.sh                      # defaults: 3 rounds, 5 s latency runs, 4 s throughput runs
#   ROUNDS=5 LAT_SECS=10 TP_SECS=8 benches/compare.sh
#   SIZES="12 1k" benches/compare.sh        # throughput sizes (ddsperf syntax: 12, 1k, 64k, 1M)
#   STARLING_BIN=/tmp/starling benches/compare.sh   # measure that binary instead of building one
#   PROFILE=release benches/compare.sh      # build and measure the `release` profile instead of `release-lto`
#   IDLE_RUNS=9 benches/compare.sh          # idle-RSS runs per implementation (median; default 5)
#   SPIN_US=0 benches/compare.sh            # skip the polling-receive latency runs (default: 50 µs spin)
#
# Starling is built with the `release-lto` profile (fat LTO, one codegen unit: the build for deployment, see
# benches/README.md "Idle RSS"); ddsperf is Debian's optimised build.
#
# Per round, alternating: latency (12 B, reliable) Starling ping/pong, ddsperf ping/pong, UDP ping/pong, then
# Starling and UDP again with a polling receive (`--spin-us $SPIN_US`: poll before blocking; ddsperf has no such mode);
# then for every size, throughput (reliable, as fast as possible) Starling pub/sub, ddsperf pub/sub.
# Then the idle RSS of a participant with one reader and no peer, for both, IDLE_RUNS times alternating, each
# run mapping the binaries as loaded from disk (their page cache is dropped first, see the idle-RSS section).
# Writes benches/results/latest.{md,json,svg}; raw logs go to benches/results/raw/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-3}
LAT_SECS=${LAT_SECS:-5}
TP_SECS=${TP_SECS:-4}
SIZES=${SIZES:-"12 1k 64k 1M"}
PROFILE=${PROFILE:-release-lto}
IDLE_RUNS=${IDLE_RUNS:-5}
SPIN_US=${SPIN_US:-50}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RAW=$ROOT/benches/results/raw
STARLING=${STARLING_BIN:-$CARGO_TARGET_DIR/$PROFILE/starling}
UDP=$CARGO_TARGET_DIR/release/examples/udp_pingpong

if [ -z "${STARLING_BENCH_IN_NS:-}" ]; then
    if ! command -v ddsperf >/dev/null; then
        echo "== installing cyclonedds-tools (ddsperf)"
        apt-get install -y cyclonedds-tools >/dev/null
    fi
    command -v python3 >/dev/null || { echo "python3 is needed for the report" >&2; exit 1; }
    echo "== building (release)"
    if [ -n "${STARLING_BIN:-}" ]; then
        (cd "$ROOT" && cargo build --release --example udp_pingpong)
    else
        (cd "$ROOT" && cargo build --profile "$PROFILE" --bin starling && cargo build --release --example udp_pingpong)
    fi
    rm -rf "$RAW"
    mkdir -p "$RAW"
    {
        echo "date: $(date -u +%FT%TZ)"
        echo "commit: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown), starling: ${STARLING_BIN:-profile $PROFILE}"
        echo "host: $(uname -sr), $(nproc) cpus"
        echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "ddsperf: $(dpkg-query -W -f='${Version}' cyclonedds-tools 2>/dev/null || echo unknown)"
        echo "rounds: $ROUNDS, latency: $LAT_SECS s, throughput: $TP_SECS s, sizes: $SIZES, polling receive: $SPIN_US µs"
    } > "$RAW/meta.txt"
    echo "== running inside a private network namespace (loopback only)"
    export STARLING_BENCH_IN_NS=1
    unshare -n "$0" "$@"
    echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW/meta.txt"
    python3 "$ROOT/benches/compare_report.py" "$RAW" "$ROOT/benches/results"
    exit 0
fi

# ---- inside the namespace ---------------------------------------------------------------------------------
ip link set lo up
ip link set lo multicast on
ip route add 239.0.0.0/8 dev lo
export CYCLONEDDS_URI='<CycloneDDS><Domain><General><Interfaces><NetworkInterface name="lo"/></Interfaces></General></Domain></CycloneDDS>'
S="$STARLING --interface lo"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Starts a background peer, remembers its pid in BG.
bg() { "$@" & BG=$!; PIDS+=("$BG"); }
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

for r in $(seq 1 "$ROUNDS"); do
    echo "-- round $r/$ROUNDS: latency 12 B"
    bg $S perf pong --keyed 1 --duration $((LAT_SECS + 15)) --json > "$RAW/$r-lat-starling-pong.log" 2>&1
    $S perf ping --keyed 1 --size 12 --warmup 1 --duration "$LAT_SECS" --json \
        --histogram "$RAW/$r-lat-starling.svg" > "$RAW/$r-lat-starling.log" 2>&1 || echo "starling ping failed"
    stop "$BG"
    bg ddsperf -D $((LAT_SECS + 5)) pong > "$RAW/$r-lat-cyclone-pong.log" 2>&1
    ddsperf -D $((LAT_SECS + 1)) ping > "$RAW/$r-lat-cyclone.log" 2>&1 || echo "ddsperf ping failed"
    stop "$BG"
    bg "$UDP" pong --duration $((LAT_SECS + 5)) > "$RAW/$r-lat-udp-pong.log" 2>&1
    sleep 0.2
    "$UDP" ping --size 12 --warmup 1 --duration "$LAT_SECS" --json > "$RAW/$r-lat-udp.log" 2>&1 || echo "udp ping failed"
    stop "$BG"
    if [ "$SPIN_US" != 0 ]; then
        echo "-- round $r/$ROUNDS: latency 12 B, polling receive ($SPIN_US µs)"
        bg $S perf pong --keyed 1 --spin-us "$SPIN_US" --duration $((LAT_SECS + 15)) --json \
            > "$RAW/$r-lat-starling-poll-pong.log" 2>&1
        $S perf ping --keyed 1 --spin-us "$SPIN_US" --size 12 --warmup 1 --duration "$LAT_SECS" --json \
            > "$RAW/$r-lat-starling-poll.log" 2>&1 || echo "starling ping (polling) failed"
        stop "$BG"
        bg "$UDP" pong --spin-us "$SPIN_US" --duration $((LAT_SECS + 5)) > "$RAW/$r-lat-udp-poll-pong.log" 2>&1
        sleep 0.2
        "$UDP" ping --spin-us "$SPIN_US" --size 12 --warmup 1 --duration "$LAT_SECS" --json \
            > "$RAW/$r-lat-udp-poll.log" 2>&1 || echo "udp ping (polling) failed"
        stop "$BG"
    fi
    for size in $SIZES; do
        echo "-- round $r/$ROUNDS: throughput $size"
        bg $S perf sub --keyed 1 --duration $((TP_SECS + 3)) --json > "$RAW/$r-tp-starling-$size-sub.log" 2>&1
        $S perf pub --keyed 1 --size "$size" --duration "$TP_SECS" --json > "$RAW/$r-tp-starling-$size-pub.log" 2>&1 \
            || echo "starling pub failed"
        wait "$BG" 2>/dev/null || true
        bg ddsperf -D $((TP_SECS + 2)) -k all sub > "$RAW/$r-tp-cyclone-$size-sub.log" 2>&1
        ddsperf -D "$TP_SECS" -k all pub size "$size" > "$RAW/$r-tp-cyclone-$size-pub.log" 2>&1 || true
        wait "$BG" 2>/dev/null || true
    done
done

echo "-- idle RSS (one reader, no peer, after 3 s, $IDLE_RUNS runs each, alternating)"
# Drops the page cache of the given files (pages another process maps stay), so that each run maps the binary
# as loaded from disk: a file the linker has just written sits in the page cache in large folios and a fault
# then maps more of it (about 0.7 MB more for Starling here). Applied to ddsperf and its libraries alike.
evict() {
    python3 -c 'import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$@"
}
DDSPERF=$(command -v ddsperf)
mapfile -t DDS_FILES < <(echo "$DDSPERF"; ldd "$DDSPERF" | awk '$3 ~ /^\// {print $3}')
rm -f "$RAW"/idle-*.runs
for i in $(seq 1 "$IDLE_RUNS"); do
    for impl in starling cyclone; do
        if [ "$impl" = starling ]; then
            evict "$STARLING"
            bg $S perf sub --keyed 1 --duration 10 --wait 10
        else
            evict "${DDS_FILES[@]}"
            bg ddsperf -D 10 sub
        fi
        sleep 3
        awk '/^VmRSS:/ {print $2}' "/proc/$BG/status" >> "$RAW/idle-$impl.runs"
        stop "$BG"
    done
done > /dev/null 2>&1
for impl in starling cyclone; do
    sort -n "$RAW/idle-$impl.runs" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}' > "$RAW/idle-$impl.kib"
done
