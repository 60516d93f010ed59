#!/usr/bin/env bash
# Peak memory (VmHWM) of a fresh symxd per hostile upload of issue 11, with the build-memory
# limit at its default (refused before decoding) and, as the baseline, raised out of the way
# (SYMX_LIMITS_MAX_BUILD_MEMORY=64 GiB: what every build did before the limit existed).
# Each input is posted to the Datadog intake with curl; the answer's status and the peak are
# printed. Needs the release binaries and python3.
set -euo pipefail
bin="${CARGO_TARGET_DIR:-$HOME/.cache/symx/target}/release"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
def tiny(field, n):
    other = "sources" if field == "names" else "names"
    with open(f"{w}/{field}.map", "w") as f:
        f.write('{"version":3,"mappings":"AAAA","%s":["x"],"%s":[' % (other, field))
        f.write(",".join(['"a"'] * n))
        f.write("]}")
tiny("names", 25_000_000)    # 100 MB
tiny("sources", 25_000_000)  # 100 MB
with open(f"{w}/far.map", "w") as f:
    f.write('{"version":3,"sections":[{"offset":{"line":9999999,"column":0},"map":{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA"}}]}')
with open(f"{w}/lines.js", "w") as f:
    f.write("\n" * 9_999_999)
with open(f"{w}/mapping.txt", "w") as f:
    for c in range(500_000):   # 20 MB of one-member classes
        f.write(f"com.example.C{c} -> a{c}:\n    1:1:void m():1:1 -> a\n")
with open(f"{w}/small.map", "w") as f:
    f.write('{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA"}')
with open(f"{w}/small.js", "w") as f:
    f.write("f()")
PY

run() { # label limit event-type map-part-file [minified-file]
  local label="$1" limit="$2" type="$3" file="$4" minified="${5:-}"
  local grpc=$((40000 + RANDOM % 10000)) http=$((50000 + RANDOM % 10000))
  rm -rf "$work/data"
  SYMX_SERVER_GRPC_ADDR="127.0.0.1:$grpc" SYMX_SERVER_HTTP_ADDR="127.0.0.1:$http" \
    SYMX_LIMITS_MAX_BUILD_MEMORY="$limit" SYMX_LOG_LEVEL=error \
    "$bin/symxd" --data-dir "$work/data" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$http) 2>/dev/null && break; sleep 0.1; done
  local args=(-s -o "$work/answer" -w '%{http_code}' -X POST "http://127.0.0.1:$http/api/v2/srcmap")
  if [ "$type" = jvm_mapping_file ]; then
    args+=(-F "event={\"type\":\"jvm_mapping_file\",\"service\":\"h\",\"version\":\"1\"};type=application/json"
      -F "jvm_mapping_file=@$file")
  else
    args+=(-F "event={\"type\":\"js_sourcemap\",\"service\":\"h\",\"version\":\"1\",\"minified_url\":\"/a.js\"};type=application/json"
      -F "source_map=@$file" -F "minified_file=@${minified:-$work/small.js}")
  fi
  local code
  code=$(curl "${args[@]}")
  local hwm
  hwm=$(awk '$1 == "VmHWM:" {print $2}' "/proc/$pid/status")
  printf '%-34s %-8s HTTP %s  peak RSS %6d MiB  %s\n' "$label" "$( [ "$limit" = 68719476736 ] && echo before || echo after )" \
    "$code" $((hwm / 1024)) "$(head -c 150 "$work/answer")"
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

for limit in 68719476736 2147483648; do
  run "names: 25M tiny strings (100 MB)" "$limit" js "$work/names.map"
  run "sources: 25M tiny strings (100 MB)" "$limit" js "$work/sources.map"
  run "index map section at line 10^7" "$limit" js "$work/far.map"
  run "minified file of 10^7 empty lines" "$limit" js "$work/small.map" "$work/lines.js"
  run "ProGuard: 500k one-member classes" "$limit" jvm_mapping_file "$work/mapping.txt"
done
