# Sourced by the native bench scripts (peak-memory.sh, cli-native.sh): the paths, a work
# directory removed on exit (with the symxd it started), and start_symxd.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$HOME/.cache/symx/target}/release"
src="$root/bench-data/native.bin"
[ -f "$src" ] || { echo "missing $src: run benches/data/make-native.sh" >&2; exit 1; }
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# start_symxd GRPC_PORT HTTP_PORT: symxd on a fresh data directory in $work, on loopback;
# returns once its gRPC port accepts connections (sets $pid).
start_symxd() {
  SYMX_SERVER_GRPC_ADDR="127.0.0.1:$1" SYMX_SERVER_HTTP_ADDR="127.0.0.1:$2" \
    "$bin/symxd" --data-dir "$work/data" > "$work/symxd.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "symxd did not start: $(tail -3 "$work/symxd.log")" >&2
  exit 1
}
