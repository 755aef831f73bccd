#!/usr/bin/env bash
# Idle RSS of `starling perf sub` (one participant, one reader, no peer) vs `ddsperf sub`, side by side inside
# a private network namespace on loopback, alternating, with the breakdown of where the resident pages are.
#
#   benches/idle_rss.sh                              # 5 rounds, target/release-lto/starling
#   RUNS=9 benches/idle_rss.sh BIN [BIN...]          # compare several starling binaries (e.g. two profiles)
#   WARM=1 benches/idle_rss.sh BIN                   # don't evict the binaries' page cache first (see below)
#
# Per run: VmRSS 3 s after start (as compare.sh), the part of it that is the starling binary's own file pages
# (or, for ddsperf, libddsc's), RssAnon and the thread count; then the median VmRSS per implementation.
#
# Page cache: before each run the starling binary's and ddsperf's (and its libraries') cached pages are
# dropped with posix_fadvise(DONTNEED) (pages another process has mapped stay), so every run maps them as
# loaded from disk. A binary the linker has just written sits in the page cache in large folios, and the
# kernel's fault-around then maps more of it around each fault (about 1.3 MB more for the release binary on
# the 6.18 kernel here); that is an artefact of having just built it, not of the program. WARM=1 skips this.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-5}
if [ -z "${STARLING_BENCH_IN_NS:-}" ]; then
    command -v ddsperf >/dev/null || apt-get install -y cyclonedds-tools >/dev/null
    [ $# -gt 0 ] || set -- "${CARGO_TARGET_DIR:-$ROOT/target}/release-lto/starling"
    for b in "$@"; do [ -x "$b" ] || { echo "no such binary: $b (cargo build --profile release-lto --bin starling)" >&2; exit 1; }; done
    export STARLING_BENCH_IN_NS=1
    exec unshare -n "$0" "$@"
fi

ip link set lo up
ip link set lo multicast on
ip route add 239.0.0.0/8 dev lo
export CYCLONEDDS_URI='<CycloneDDS><Domain><General><Interfaces><NetworkInterface name="lo"/></Interfaces></General></Domain></CycloneDDS>'

DDSPERF=$(command -v ddsperf)
mapfile -t DDS_FILES < <(echo "$DDSPERF"; ldd "$DDSPERF" | awk '$3 ~ /^\// {print $3}')
evict() {
    [ -n "${WARM:-}" ] && return 0
    python3 -c 'import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$@"
}
# Rss of the mappings of file $2 in process $1, in KiB.
file_rss() { awk -v f="$(readlink -f "$2")" '/^[0-9a-f]+-[0-9a-f]+ / {cur = ($6 == f)} /^Rss:/ {if (cur) s += $2} END {print s + 0}' "/proc/$1/smaps"; }

declare -A ALL
for r in $(seq 1 "$RUNS"); do
    for b in "$@" ddsperf; do
        if [ "$b" = ddsperf ]; then
            evict "${DDS_FILES[@]}"
            ddsperf -D 10 sub > /dev/null 2>&1 &
            own=$(ldd "$DDSPERF" | awk '/libddsc/ {print $3}')
        else
            evict "$b"
            "$b" --interface lo perf sub --keyed 1 --duration 10 --wait 10 > /dev/null 2>&1 &
            own=$b
        fi
        P=$!
        sleep 3
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$P/status")
        anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$P/status")
        echo "run $r $b: VmRSS $rss KiB, $(basename "$own") $(file_rss "$P" "$own") KiB, RssAnon $anon KiB, threads $(ls "/proc/$P/task" | wc -l)"
        ALL[$b]+="$rss "
        kill "$P"
        wait "$P" 2> /dev/null || true
    done
done
for b in "$@" ddsperf; do
    # shellcheck disable=SC2086
    echo "median $b: $(printf '%s\n' ${ALL[$b]} | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}') KiB (${ALL[$b]% })"
done
