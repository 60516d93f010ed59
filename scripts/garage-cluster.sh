#!/usr/bin/env bash
# A real 3-node Garage cluster (S3-compatible object storage) on loopback, replication factor
# 3, for the shared-storage tests (issue 14) and .ci/run.
#
#   scripts/garage-cluster.sh install          build garage once into $HOME/.cache/symx/garage
#   scripts/garage-cluster.sh start [DIR]      start 3 nodes, lay them out, create bucket + key
#   scripts/garage-cluster.sh stop [DIR]       stop every node
#   scripts/garage-cluster.sh kill N [DIR]     kill -9 node N (1-3)
#   scripts/garage-cluster.sh revive N [DIR]   start node N again on its data
#
# DIR (default $GARAGE_DIR or /tmp/symx-garage) holds each node's data and `env`: the S3
# endpoint, region, bucket and key for clients (source it). Node N listens on S3 port
# 3900+10*N, RPC 3901+10*N, admin 3903+10*N (GARAGE_PORT_BASE moves them).
set -euo pipefail
cache="$HOME/.cache/symx"
garage="$cache/garage/bin/garage"
version=2.5.0
dir="${GARAGE_DIR:-/tmp/symx-garage}"
base="${GARAGE_PORT_BASE:-3900}"

install() {
  if [ -x "$garage" ] && "$garage" --version 2>/dev/null | grep -q "$version"; then
    return
  fi
  # Only the LMDB metadata engine (no bundled SQLite, no metrics, no K2V): the smallest build.
  # Its own target directory, so the workspace's is not disturbed.
  CARGO_TARGET_DIR="$cache/garage-target" cargo install "garage@$version" --locked \
    --root "$cache/garage" --no-default-features --features bundled-libs,lmdb
  rm -rf "$cache/garage-target"
}

port() { echo $((base + 10 * $1 + $2)); }
g() { local n=$1; shift; "$garage" -c "$dir/node$n/garage.toml" "$@"; }

start_node() {
  local n=$1
  # Detached from the caller's output (a test reading this script's output would otherwise
  # wait for the nodes to exit); the pid is the server's own.
  nohup "$garage" -c "$dir/node$n/garage.toml" server </dev/null >"$dir/node$n/log" 2>&1 &
  echo $! >"$dir/node$n/pid"
}

wait_rpc() {
  local n=$1
  for _ in $(seq 1 100); do
    if g "$n" status >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "garage node $n did not start:" >&2
  tail -n 20 "$dir/node$n/log" >&2
  return 1
}

start() {
  install
  stop_all 2>/dev/null || true
  rm -rf "$dir"
  mkdir -p "$dir"
  local secret
  secret="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  for n in 1 2 3; do
    mkdir -p "$dir/node$n/meta" "$dir/node$n/data"
    cat >"$dir/node$n/garage.toml" <<EOF
metadata_dir = "$dir/node$n/meta"
data_dir = "$dir/node$n/data"
db_engine = "lmdb"
replication_factor = 3
rpc_bind_addr = "127.0.0.1:$(port "$n" 1)"
rpc_public_addr = "127.0.0.1:$(port "$n" 1)"
rpc_secret = "$secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$(port "$n" 0)"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$(port "$n" 3)"
EOF
    start_node "$n"
  done
  for n in 1 2 3; do
    wait_rpc "$n"
    g "$n" node id -q 2>/dev/null | tail -n1 >"$dir/node$n/id"
  done
  for n in 2 3; do g 1 node connect "$(cat "$dir/node$n/id")" >/dev/null; done
  for n in 1 2 3; do
    local id
    id="$(g "$n" node id -q 2>/dev/null | tail -n1 | cut -d@ -f1)"
    g 1 layout assign -z "dc$n" -c 1G "$id" >/dev/null
  done
  g 1 layout apply --version 1 >/dev/null
  # The layout reaches every node; the bucket can be made once it has.
  for _ in $(seq 1 100); do
    if g 1 bucket create symx >/dev/null 2>&1; then break; fi
    sleep 0.2
  done
  local info key secret_key
  info="$(g 1 key create symx-key)"
  key="$(echo "$info" | awk '/Key ID/ {print $NF; exit}')"
  secret_key="$(echo "$info" | awk '/Secret key/ {print $NF; exit}')"
  g 1 bucket allow --read --write --owner symx --key symx-key >/dev/null
  cat >"$dir/env" <<EOF
export GARAGE_ENDPOINT=http://127.0.0.1:$(port 1 0)
export GARAGE_ENDPOINTS="http://127.0.0.1:$(port 1 0) http://127.0.0.1:$(port 2 0) http://127.0.0.1:$(port 3 0)"
export GARAGE_REGION=garage
export GARAGE_BUCKET=symx
export AWS_ACCESS_KEY_ID=$key
export AWS_SECRET_ACCESS_KEY=$secret_key
export GARAGE_DIR=$dir
EOF
  echo "garage: 3 nodes up, bucket symx; source $dir/env"
}

stop_all() {
  for n in 1 2 3; do
    if [ -f "$dir/node$n/pid" ]; then
      kill "$(cat "$dir/node$n/pid")" 2>/dev/null || true
      rm -f "$dir/node$n/pid"
    fi
  done
}

cmd="${1:-}"
case "$cmd" in
  install) install ;;
  start) dir="${2:-$dir}"; start ;;
  stop) dir="${2:-$dir}"; stop_all ;;
  kill)
    dir="${3:-$dir}"
    kill -9 "$(cat "$dir/node$2/pid")"
    rm -f "$dir/node$2/pid"
    ;;
  revive)
    dir="${3:-$dir}"
    start_node "$2"
    wait_rpc "$2"
    # A node killed soon after the cluster formed may not have saved its peers: connect it
    # to every node that runs.
    for m in 1 2 3; do
      if [ "$m" != "$2" ] && [ -f "$dir/node$m/pid" ]; then
        g "$2" node connect "$(cat "$dir/node$m/id")" >/dev/null 2>&1 || true
      fi
    done
    ;;
  *) echo "usage: $0 install|start|stop|kill N|revive N [DIR]" >&2; exit 2 ;;
esac
