#!/usr/bin/env bash
# Replicas on a local 3-node Garage cluster against the embedded store, in one run
# (BENCHMARKS.md, "Replicas"). Needs benches/data/make.sh (the 14 MB map) and
# benches/data/make-native.sh (bench-data/native.bin) run first, and the release binaries.
#
# - A: a replica (scripts/cluster.sh), local copy unbounded; E: symxd on its embedded store.
#   Cached frames: symx-loadgen against A and E in turn (same workload, same machine).
#   The upload of the workload is timed by each run.
# - B: a replica with room for one payload (local_max_bytes = 1): it takes uploads it did not
#   receive as catalog entries alone, and `--cold-miss` asks it once for each of N such
#   uploads, so each frame fetches files and index from the bucket (nothing is built: the
#   index is stored there) and loads the index.
# - `--visibility`: when B first resolves an upload made through A, with and without a
#   "none" cached on B before the upload (B polls every 5 s, the default).
# ROUNDS (default 2) runs of each hot-path measurement; SECONDS_EACH (default 10).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$HOME/.cache/symx/target}/release"
work="$(mktemp -d /tmp/symx-replicas-bench.XXXXXX)"
rounds="${ROUNDS:-2}"
secs="${SECONDS_EACH:-10}"
export CLUSTER_PORT_BASE="${CLUSTER_PORT_BASE:-50200}"
export GARAGE_PORT_BASE="${GARAGE_PORT_BASE:-24900}"
a="http://127.0.0.1:$((CLUSTER_PORT_BASE + 61))"
b="http://127.0.0.1:$((CLUSTER_PORT_BASE + 62))"
e_grpc="127.0.0.1:$((CLUSTER_PORT_BASE + 71))"
e="http://$e_grpc"
cleanup() {
  [ -f "$work/e.pid" ] && kill "$(cat "$work/e.pid")" 2>/dev/null || true
  bash "$root/scripts/cluster.sh" stop "$work/cluster" || true
}
trap cleanup EXIT

SYMX_B_S3='local_max_bytes = 1' \
  bash "$root/scripts/cluster.sh" start "$work/cluster"
SYMX_SERVER_GRPC_ADDR="$e_grpc" SYMX_SERVER_HTTP_ADDR="127.0.0.1:$((CLUSTER_PORT_BASE + 72 - 41910))" \
  SYMX_LOG_LEVEL=warn "$target/symxd" --data-dir "$work/embedded" >"$work/e.log" 2>&1 &
echo $! >"$work/e.pid"
sleep 2

lg="$target/symx-loadgen"
echo "== cached frames, js (14 MB map), replica A vs embedded E, $rounds rounds of ${secs}s"
for r in $(seq 1 "$rounds"); do
  echo "-- round $r: replica A"
  "$lg" --endpoint "$a" --upload --platform js --seconds "$secs"
  echo "-- round $r: embedded E"
  "$lg" --endpoint "$e" --upload --platform js --seconds "$secs"
done
echo "== cached frames, native (bench-data/native.bin), replica A vs embedded E"
"$lg" --endpoint "$a" --upload --platform native --seconds "$secs"
"$lg" --endpoint "$e" --upload --platform native --seconds "$secs"

echo "== cold misses on B (payload fetched from the bucket, index loaded)"
"$lg" --endpoint "$a" --probe "$b" --platform js --cold-miss "${COLD_JS:-20}"
"$lg" --endpoint "$a" --probe "$b" --platform native --cold-miss "${COLD_NATIVE:-10}"

echo "== an upload through A seen on B"
"$lg" --endpoint "$a" --probe "$b" --platform js --visibility "${VISIBILITY:-10}"
