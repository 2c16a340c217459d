#!/usr/bin/env bash
# Data-path benchmark of the bare stacked filesystem (no cache yet): the same fio jobs on
#   disk        the local directory itself (the limit)
#   bindfs      a C FUSE passthrough over the same directory (libfuse, no kernel passthrough)
#   cachefs     this project, FUSE passthrough on (root only)
#   cachefs-d   this project with -o nopassthrough (every read and write through the daemon)
# "cold" drops the page cache before each run; "warm" reads the file once first.
# Each figure is the median of --repeat runs (default 3), the systems interleaved in each round so
# that a slow moment of the machine does not fall on one system only.
# Usage: ./dev bench [--size-mb N] [--repeat N] [--out DIR]   (root; drops caches machine-wide)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SIZE_MB=1024
REPEAT=3
OUT="$HERE/out/$(date +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
    case "$1" in
        --size-mb) SIZE_MB="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --repeat) REPEAT="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (it drops the page cache and uses FUSE passthrough)" >&2; exit 2; }
mkdir -p "$OUT"
WORK="$(mktemp -d /var/tmp/cachefs-bench.XXXXXX)"
DATA="$WORK/data"; MB="$WORK/bindfs"; MC="$WORK/cachefs"; MD="$WORK/cachefs-d"
mkdir -p "$DATA" "$MB" "$MC" "$MD"
cleanup() {
    for m in "$MB" "$MC" "$MD"; do
        if grep -q " $m " /proc/self/mountinfo; then
            fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "bench: writing a ${SIZE_MB} MiB test file in $DATA" >&2
dd if=/dev/urandom of="$DATA/file" bs=1M count="$SIZE_MB" status=none
sync

bindfs "$DATA" "$MB"
"$ROOT/cachefs" mount "$DATA" "$MC" --cache "$WORK/cache-c" >/dev/null
"$ROOT/cachefs" mount "$DATA" "$MD" --cache "$WORK/cache-d" -o nopassthrough >/dev/null

# warm-up of the JVM's data path, so that the first measured run does not pay for the JIT
cat "$MD/file" >/dev/null; cat "$MC/file" >/dev/null

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# run NAME DIR JOB MODE -> prints "NAME JOB MODE value unit"
run() {
    local name="$1" dir="$2" job="$3" mode="$4" json="$OUT/$1-$3-$4-$5.json"
    if [ "$job" = seqwrite ]; then
        rm -f "$dir/wfile"
    fi
    if [ "$mode" = cold ]; then drop; else cat "$dir/file" >/dev/null; fi
    local fname=file size="${SIZE_MB}M"
    [ "$job" = seqwrite ] && fname=wfile
    fio --output-format=json --output="$json" --filename="$dir/$fname" --size="$size" "$HERE/fio/$job.fio" >/dev/null
    python3 - "$json" "$name" "$job" "$mode" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
side = j["write"] if sys.argv[3] == "seqwrite" else j["read"]
if sys.argv[3] == "randread":
    print(sys.argv[2], sys.argv[3], sys.argv[4], round(side["iops"]), "IOPS")
else:
    print(sys.argv[2], sys.argv[3], sys.argv[4], round(side["bw_bytes"] / 1e6), "MB/s")
PY
    [ "$job" = seqwrite ] && rm -f "$dir/wfile"
    return 0
}

RESULTS="$OUT/results.txt"
: > "$RESULTS"
SYSTEMS=(disk:"$DATA" bindfs:"$MB" cachefs:"$MC" cachefs-d:"$MD")
for round in $(seq 1 "$REPEAT"); do
    # rotate the order each round
    n=${#SYSTEMS[@]}; order=()
    for i in $(seq 0 $((n - 1))); do order+=("${SYSTEMS[$(( (i + round) % n ))]}"); done
    for job in seqread randread; do
        for mode in cold warm; do
            for sys in "${order[@]}"; do
                run "${sys%%:*}" "${sys#*:}" "$job" "$mode" "$round" | tee -a "$RESULTS" >&2
            done
        done
    done
    for sys in "${order[@]}"; do
        run "${sys%%:*}" "${sys#*:}" seqwrite cold "$round" | tee -a "$RESULTS" >&2
    done
done

python3 - "$RESULTS" "$SIZE_MB" > "$OUT/report.md" <<'PY'
import sys, collections, statistics
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    name, job, mode, val, unit = line.split()
    rows.setdefault((job, mode, unit), {}).setdefault(name, []).append(float(val))
rows = {k: {n: statistics.median(v) for n, v in d.items()} for k, d in rows.items()}
print(f"# Bare stacked passthrough: data path ({sys.argv[2]} MiB file, fio, medians of the rounds of one run)\n")
print("| workload | disk | bindfs | cachefs (passthrough) | cachefs (daemon) | cachefs/bindfs | cachefs/disk | daemon/bindfs |")
print("|---|---|---|---|---|---|---|---|")
for (job, mode, unit), v in rows.items():
    d, b, c, cd = (v.get(k, 0) for k in ("disk", "bindfs", "cachefs", "cachefs-d"))
    r = lambda x, y: f"{x / y:.2f}x" if y else "-"
    print(f"| {job} {mode} ({unit}) | {d:.0f} | {b:.0f} | {c:.0f} | {cd:.0f} | {r(c, b)} | {r(c, d)} | {r(cd, b)} |")
PY
cat "$OUT/report.md"
echo "bench: raw fio JSON and the report are in $OUT" >&2
