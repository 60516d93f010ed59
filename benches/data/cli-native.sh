#!/usr/bin/env bash
# The CLI on the native path: `symx --json symbolicate` of 10,000 native frames in one request
# (addresses inside the functions of bench-data/native.bin, from `nm -S`, spread evenly) against
# a separate symxd, three runs with /usr/bin/time, output to /dev/null; next to the server's own
# time for the same requests (`symx_symbolicate_seconds_sum` before and after, from /metrics).
# Needs: make-native.sh run first, the release binaries.
set -euo pipefail
source "$(dirname "$0")/native-common.sh"
start_symxd 50993 50994
export SYMX_ENDPOINT=http://127.0.0.1:50993
"$bin/symx" upload elf "$src" > /dev/null
python3 - "$src" "$work/frames.json" <<'PY'
import json, subprocess, sys
src, out = sys.argv[1], sys.argv[2]
syms = []
for line in subprocess.run(["nm", "-S", "--defined-only", src], capture_output=True, text=True).stdout.splitlines():
    p = line.split()
    if len(p) >= 4 and p[2] in "tTwW" and int(p[1], 16) > 0:
        syms.append((int(p[0], 16), int(p[1], 16)))
syms.sort()
step = max(1, len(syms) // 10000)
addrs = [a + s // 2 for a, s in syms[::step]][:10000]
build_id = subprocess.run(["readelf", "-n", src], capture_output=True, text=True).stdout
build_id = [l.split()[-1] for l in build_id.splitlines() if "Build ID" in l][0]
frames = [{"code_id": build_id, "image_addr": "0x0", "instruction_addr": hex(a), "exact": True} for a in addrs]
json.dump({"stacktraces": [{"frames": frames}]}, open(out, "w"))
print(f"{len(frames)} frames")
PY
metric() { curl -s http://127.0.0.1:50994/metrics | awk '$1 ~ /^symx_symbolicate_seconds_sum/ {s += $2} END {print s + 0}'; }
"$bin/symx" --json symbolicate "$work/frames.json" > "$work/warm.json"
echo "$(grep -o "\"status\": *\"[a-z_]*\"" "$work/warm.json" | sort | uniq -c | tr -s " " | tr "\n" ";") in the answer"
for run in 1 2 3; do
  before=$(metric)
  /usr/bin/time -f "run $run: wall %e s, user %U s, sys %S s, peak RSS %M kB" \
    "$bin/symx" --json symbolicate "$work/frames.json" > /dev/null
  after=$(metric)
  echo "  server: $(python3 -c "print(round(($after - $before) * 1000, 1))") ms"
done
