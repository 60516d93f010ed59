#!/usr/bin/env bash
# Runs every cargo-fuzz target for a short, fixed budget (FUZZ_SECONDS each, default 20) with
# the nightly toolchain these machines carry, seeded from the test fixtures, the corpus cached
# between runs under $HOME/.cache/symx/fuzz-corpus. Fails on the first crash, leak or timeout
# (libFuzzer writes the input under fuzz/artifacts/<target>/; turn it into a regression test
# on stable). Run by .ci/run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cache="$HOME/.cache/symx"
seconds="${FUZZ_SECONDS:-20}"
export PATH="$cache/tools/bin:$PATH"
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: no nightly toolchain on this machine (rustup toolchain list)" >&2
  exit 1
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked --quiet --root "$cache/tools" cargo-fuzz@0.13.2
fi
# Its own target directory: sanitizer flags would otherwise rebuild the workspace's.
export CARGO_TARGET_DIR="$cache/fuzz-target"

fx="$root/tests/fixtures"
seed() { # target files...
  local dir="$cache/fuzz-corpus/$1"
  shift
  mkdir -p "$dir"
  for f in "$@"; do
    # Small inputs only: libFuzzer mutates best below a few hundred KiB.
    [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 262144 ] && cp -n "$f" "$dir/" || true
  done
}
seed js_build "$fx"/js/*/*.map "$fx"/react/*.map
seed js_index
seed js_scopes "$fx"/js/*/*.js "$fx"/react/index.android.bundle
seed jvm_build "$fx"/jvm/proguard/mapping.txt
seed il2cpp_build "$fx"/il2cpp/*.json
seed native_build "$fx"/native/edges/edges "$fx"/native/edges/edges-symtab "$fx"/native/pe/app.pdb \
  "$fx"/native/pe/app.dll "$fx"/native/go/app "$fx"/native/android/libnative.so
seed dsym_archive "$fx"/native/macho/*.zip
seed symbol_files "$fx"/native/sources/app.src.zip "$fx"/native/sources/app.debug "$fx"/native/macho/libapp.dylib
seed stacktrace_text "$fx"/stacktraces/*
seed upload_metadata "$fx"/datadog/events/*

cd "$here"
cargo +nightly fuzz build -O
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for target in $(cargo +nightly fuzz list); do
  if ! cargo +nightly fuzz run -O "$target" "$cache/fuzz-corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 > "$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $target failed; the input is under fuzz/artifacts/$target/" >&2
    exit 1
  fi
  echo "fuzz $target: $(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n1)"
done
echo "fuzz: every target ran ${seconds} s without a crash"
