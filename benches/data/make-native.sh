#!/usr/bin/env bash
# Builds the native benchmark input: a real Rust program (regex, serde_json, toml) in the dev
# profile, so it carries full DWARF with inlined functions: bench-data/native.bin.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../../bench-data"
mkdir -p "$out"
CARGO_TARGET_DIR="$out/native-target" cargo build --quiet --manifest-path "$here/native-app/Cargo.toml"
cp "$out/native-target/debug/native-app" "$out/native.bin"
ls -l "$out/native.bin"
llvm-dwarfdump-14 --statistics "$out/native.bin" 2>/dev/null | grep -E '"#bytes within functions with location"|"size of debug_info"' || true
