#!/usr/bin/env bash
# The symbol server's download rate against a static file server, in one run (BENCHMARKS.md,
# "Symbol server"). A debug file of SIZE_MB (default 256) MB (the ELF fixture's debug file with
# a section of incompressible bytes) is uploaded to a fresh symxd, then fetched ROUNDS
# (default 5) times through debuginfod's path with curl, and the same file as many times from
# `python3 -m http.server` (reads the file from disk: no decompression, no hashing): the
# baseline. Prints each run's seconds and MB/s, the medians, and symxd's peak RSS growth
# while serving (VmHWM reset before the downloads).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$HOME/.cache/symx/target}/release"
work="$(mktemp -d /tmp/symx-symbols-bench.XXXXXX)"
size_mb="${SIZE_MB:-256}"
rounds="${ROUNDS:-5}"
grpc=127.0.0.1:50391
http=127.0.0.1:50392
static=50393
cleanup() {
  [ -f "$work/symxd.pid" ] && kill "$(cat "$work/symxd.pid")" 2>/dev/null || true
  [ -f "$work/static.pid" ] && kill "$(cat "$work/static.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

python3 -c "import os,sys; sys.stdout.buffer.write(os.urandom($size_mb << 20))" >"$work/junk"
llvm-objcopy-14 --add-section=.debug_junk="$work/junk" \
  "$root/tests/fixtures/native/elf/crash.debug" "$work/big.debug"
rm "$work/junk"
build_id=1e178778753aa68d811fb8191bedd7f3a71b25a3
bytes=$(stat -c %s "$work/big.debug")

SYMX_SERVER_GRPC_ADDR=$grpc SYMX_SERVER_HTTP_ADDR=$http SYMX_LOG_LEVEL=warn \
  "$target/symxd" --data-dir "$work/data" >"$work/symxd.log" 2>&1 &
echo $! >"$work/symxd.pid"
(cd "$work" && python3 -m http.server "$static" --bind 127.0.0.1 >/dev/null 2>&1) &
echo $! >"$work/static.pid"
sleep 2
"$target/symx" --endpoint "http://$grpc" upload elf "$work/big.debug" >/dev/null
echo 5 >"/proc/$(cat "$work/symxd.pid")/clear_refs"
hwm() { awk '/VmHWM/ {print $2}' "/proc/$(cat "$work/symxd.pid")/status"; }
before=$(hwm)

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() {
  local url=$1
  for _ in $(seq "$rounds"); do
    curl -s -o /dev/null -w '%{time_total}\n' "$url"
  done
}
echo "file: $((bytes >> 20)) MB, $rounds downloads each"
symx_times=$(measure "http://$http/buildid/$build_id/debuginfo")
static_times=$(measure "http://127.0.0.1:$static/big.debug")
after=$(hwm)
for name in symx static; do
  times=${name}_times
  med=$(echo "${!times}" | median)
  echo "$name: runs $(echo "${!times}" | tr '\n' ' ')s; median $med s, $(python3 -c "print(round($bytes / 1048576 / $med))") MB/s"
done
echo "symxd peak RSS grew by $(((after - before) / 1024)) MB while serving (from $((before / 1024)) MB)"
