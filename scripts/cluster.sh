#!/usr/bin/env bash
# symx as replicas on loopback: a 3-node Garage cluster (scripts/garage-cluster.sh) and two
# symxd replicas sharing its bucket, each on its own Garage node (README, "Replicas").
#
#   scripts/cluster.sh start [DIR]   builds if needed; replica A: gRPC 127.0.0.1:50061,
#                                    HTTP 127.0.0.1:8091; replica B: 50062 and 8092
#   scripts/cluster.sh stop [DIR]    stops both replicas and the Garage nodes
#
# DIR (default /tmp/symx-cluster) holds Garage's nodes, each replica's data directory,
# configuration (DIR/a.toml, DIR/b.toml) and log. Per replica X (A or B), SYMX_X_TOML is
# placed before its [storage.s3] table (other tables: `[cache]\nmax_bytes = ...`) and
# SYMX_X_S3 inside it (`local_max_bytes = ...`). CLUSTER_PORT_BASE (default 50000) moves
# the replicas' ports by its difference to 50000; GARAGE_PORT_BASE moves Garage's.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${2:-/tmp/symx-cluster}"
target="${CARGO_TARGET_DIR:-$HOME/.cache/symx/target}/release"

grpc_port() { echo $((${CLUSTER_PORT_BASE:-50000} + 60 + $1)); }
http_port() { echo $((${CLUSTER_PORT_BASE:-50000} - 41910 + $1)); }

start_replica() {
  local name=$1 n=$2 upper toml s3 endpoint
  upper="$(echo "$name" | tr a-z A-Z)"
  toml="SYMX_${upper}_TOML"
  s3="SYMX_${upper}_S3"
  endpoint="$(echo "$GARAGE_ENDPOINTS" | cut -d' ' -f"$n")"
  printf '%b\n[storage.s3]\nendpoint = "%s"\nregion = "%s"\nbucket = "%s"\npath_style = true\nallow_http = true\nnode = "%s"\n%b\n' \
    "${!toml:-}" "$endpoint" "$GARAGE_REGION" "$GARAGE_BUCKET" "$name" "${!s3:-}" >"$dir/$name.toml"
  SYMX_SERVER_GRPC_ADDR="127.0.0.1:$(grpc_port "$n")" \
    SYMX_SERVER_HTTP_ADDR="127.0.0.1:$(http_port "$n")" \
    nohup "$target/symxd" --data-dir "$dir/$name" --config "$dir/$name.toml" \
    </dev/null >"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

wait_ready() {
  local name=$1 n=$2
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$(http_port "$n")/readyz" >/dev/null 2>&1; then
      echo "replica $name: gRPC 127.0.0.1:$(grpc_port "$n"), HTTP 127.0.0.1:$(http_port "$n")"
      return 0
    fi
    sleep 0.1
  done
  echo "replica $name did not become ready:" >&2
  tail -n 20 "$dir/$name.log" >&2
  return 1
}

stop() {
  for name in a b; do
    if [ -f "$dir/$name.pid" ]; then
      kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
      rm -f "$dir/$name.pid"
    fi
  done
  bash "$root/scripts/garage-cluster.sh" stop "$dir/garage" 2>/dev/null || true
}

case "${1:-}" in
  start)
    if [ ! -x "$target/symxd" ]; then
      (cd "$root" && cargo build --release --workspace --all-targets --locked)
    fi
    stop
    rm -rf "$dir"
    mkdir -p "$dir"
    bash "$root/scripts/garage-cluster.sh" start "$dir/garage"
    # shellcheck disable=SC1091
    source "$dir/garage/env"
    # The replicas read their credentials from the AWS variables the cluster's env sets.
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    start_replica a 1
    start_replica b 2
    wait_ready a 1
    wait_ready b 2
    ;;
  stop) stop ;;
  *)
    echo "usage: $0 start|stop [DIR]" >&2
    exit 2
    ;;
esac
