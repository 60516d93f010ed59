#!/usr/bin/env bash
# The test command: installs missing system packages, builds every target (the e2e tests run
# the `symxd` and `symx` binaries), then runs every test against real servers on 127.0.0.1.
# The replica tests (tests/e2e/replicas.rs) start their own Garage cluster on loopback.
# One cargo profile (release) for everything, so RocksDB's C++ compiles once per machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/symx/target}"
scripts/setup.sh
# Garage, the object store the replica tests run as a 3-node cluster (built once, cached).
scripts/garage-cluster.sh install
cargo build --release --workspace --all-targets --locked
cargo test --release --workspace --locked "$@"
