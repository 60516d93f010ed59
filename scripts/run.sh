#!/usr/bin/env bash
# The run command: installs missing system packages, builds and starts symxd on the embedded
# data directory ./symx-data (gRPC 127.0.0.1:50051, HTTP 127.0.0.1:8080). Extra arguments go
# to symxd (e.g. --config symx.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/symx/target}"
scripts/setup.sh
# The same targets (and so the same feature unification) as scripts/test.sh: building
# `--bins` alone would recompile part of the workspace, and the tests would again after it.
cargo build --release --workspace --all-targets --locked
exec "$CARGO_TARGET_DIR/release/symxd" "$@"
