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
source "$(dirname "$0")/native-common.sh"
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
start_symxd 50991 50992
kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
echo "before: VmRSS $(kb VmRSS) kB, VmHWM $(kb VmHWM) kB"
start=$(date +%s.%N)
"$bin/symx" --endpoint http://127.0.0.1:50991 upload elf "$work/big.elf"
end=$(date +%s.%N)
echo "upload + index + commit: $(echo "$end - $start" | bc) s"
echo "after:  VmRSS $(kb VmRSS) kB, VmHWM (peak) $(kb VmHWM) kB"
