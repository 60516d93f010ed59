#!/usr/bin/env bash
# Peak memory of symxd while it receives and indexes a large native upload.
#
# The upload is bench-data/native.bin (the 39.5 MB Rust debug binary of make-native.sh) with a
# 440 MB non-loaded section of random bytes added (llvm-objcopy): a ~480 MB ELF, close to the
# 500 MB limit, that still indexes like the original. symxd runs as its own process; its peak
# resident set (VmHWM in /proc) is read after the upload, next to its resident set before it.
# PADDING_MB (default 440) sets the added section's size; PADDING_MB=0 uploads native.bin as
# it is, which tells the memory of indexing from the memory of receiving.
# Needs: make-native.sh run first, llvm-objcopy-14, the release binaries.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$HOME/.cache/symx/target}/release"
src="$root/bench-data/native.bin"
[ -f "$src" ] || { echo "missing $src: run benches/data/make-native.sh" >&2; exit 1; }
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
padding="${PADDING_MB:-440}"
if [ "$padding" -gt 0 ]; then
  head -c "${padding}M" /dev/urandom > "$work/blob"
  llvm-objcopy-14 --add-section ".symx_padding=$work/blob" \
    --set-section-flags .symx_padding=noload,readonly "$src" "$work/big.elf"
  rm "$work/blob"
else
  cp "$src" "$work/big.elf"
fi
ls -l "$work/big.elf"
SYMX_SERVER_GRPC_ADDR=127.0.0.1:50991 SYMX_SERVER_HTTP_ADDR=127.0.0.1:50992 \
  "$bin/symxd" --data-dir "$work/data" > "$work/symxd.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/50991) 2>/dev/null && break
  sleep 0.2
done
kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
echo "before: VmRSS $(kb VmRSS) kB, VmHWM $(kb VmHWM) kB"
start=$(date +%s.%N)
"$bin/symx" --endpoint http://127.0.0.1:50991 upload elf "$work/big.elf"
end=$(date +%s.%N)
echo "upload + index + commit: $(echo "$end - $start" | bc) s"
echo "after:  VmRSS $(kb VmRSS) kB, VmHWM (peak) $(kb VmHWM) kB"
