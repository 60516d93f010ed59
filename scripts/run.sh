#!/usr/bin/env bash
# The run command: installs missing system packages, builds and starts symxd on the embedded
# data directory ./symx-data (gRPC 127.0.0.1:50051, HTTP 127.0.0.1:8080). Extra arguments go
# to symxd (e.g. --config symx.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/symx/target}"
scripts/setup.sh
cargo build --release --workspace --bins --locked
exec "$CARGO_TARGET_DIR/release/symxd" "$@"
