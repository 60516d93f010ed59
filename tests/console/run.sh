#!/usr/bin/env bash
# The console end to end in a real browser: Debian's headless Chromium driven by playwright-core
# (tests/console/console.test.mjs) against the real symxd with fixtures uploaded by the symx
# CLI and API keys of two tenants (admin, read-only, another tenant's). Screenshots of every
# page go to $SCREENSHOTS (default: target/console-screenshots under CARGO_TARGET_DIR; not
# committed). Run by .ci/run after the cargo tests; needs the release binaries, node, npm,
# chromium and llvm-symbolizer (scripts/setup.sh installs them).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$HOME/.cache/symx/target}"
bin="$target/release"
shots="${SCREENSHOTS:-$target/console-screenshots}"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# Fixed ports below Linux's ephemeral range (see tests/elastic/run.sh).
grpc=127.0.0.1:29183
http=127.0.0.1:29184
fail() { echo "FAIL: $*" >&2; cat "$work/symxd.log" >&2; exit 1; }

# playwright-core from the npm registry, per the lockfile, cached between runs (its browser
# download is never used: the test runs Debian's Chromium).
modules="$HOME/.cache/symx/console"
stamp="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$modules/stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$modules"
  mkdir -p "$modules"
  cp "$here/package.json" "$here/package-lock.json" "$modules/"
  (cd "$modules" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts >/dev/null)
  echo "$stamp" > "$modules/stamp"
fi
chromium="${CHROMIUM:-$(command -v chromium || true)}"
[ -x "$chromium" ] || fail "no chromium on this machine (scripts/setup.sh installs Debian's)"

# Keys made offline: acme's admin and read-only keys, globex's read key.
data="$work/data"
key() { "$bin/symxd" --data-dir "$data" keys create --scope "$1" --tenant "$2" --name "$3" 2>/dev/null; }
admin=$(key admin acme ops)
reader=$(key read acme viewer)
other=$(key read globex viewer)
SYMX_SERVER_GRPC_ADDR=$grpc SYMX_SERVER_HTTP_ADDR=$http SYMX_LOG_LEVEL=warn \
  "$bin/symxd" --data-dir "$data" > "$work/symxd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/${http%:*}/${http#*:}") 2>/dev/null && break
  sleep 0.1
done

# Fixtures, uploaded as a release engineer would: the esbuild bundle at its CDN prefix, the
# ELF crash fixture's debug file.
symx() { "$bin/symx" --endpoint "http://$grpc" --api-key "$admin" "$@"; }
mkdir -p "$work/dist/js"
cp "$root/tests/fixtures/js/esbuild/app.min.js" "$root/tests/fixtures/js/esbuild/app.min.js.map" "$work/dist/js/"
symx upload js "$work/dist" --service shop --release-version 4.2.0 \
  --minified-path-prefix https://cdn.example.com/static >/dev/null || fail "js upload"
symx upload elf "$root/tests/fixtures/native/elf/crash.debug" >/dev/null || fail "elf upload"

# A tombstone of the crash fixture: shop::crash's first instruction (the crashing frame) and a
# return address into run(); its answers come from llvm-symbolizer on the debug file (the
# reference), a libc frame has no uploaded file (an explanation and a fix).
build_id=1e178778753aa68d811fb8191bedd7f3a71b25a3
debug="$root/tests/fixtures/native/elf/crash.debug"
addr() { nm "$debug" | awk -v s="$1" '$3 == s {print $1}'; }
crash_pc=$((16#$(addr _ZN4shop5crashEPKc) + 4))
run_pc=$((16#$(addr run) + 8))
tombstone=$(printf '%s\n' \
  '*** *** *** *** *** *** *** *** *** *** *** *** *** *** *** ***' \
  'signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x0' \
  'backtrace:' \
  "      #00 pc $(printf '%016x' $crash_pc)  /data/app/com.shop-1/lib/x86_64/libcrash.so (BuildId: $build_id)" \
  "      #01 pc $(printf '%016x' $run_pc)  /data/app/com.shop-1/lib/x86_64/libcrash.so (BuildId: $build_id)" \
  '      #02 pc 00000000000512c4  /apex/com.android.runtime/lib64/bionic/libc.so (BuildId: 0123456789abcdef0123456789abcdef)')
# llvm-symbolizer's function and line for the crashing frame (frame 1 is looked up one byte
# before its return address).
reference=$(llvm-symbolizer --obj="$debug" --functions=short --no-inlines "$(printf '0x%x' $crash_pc)")
expect_function=$(sed -n 1p <<<"$reference")
expect_line=$(sed -n 2p <<<"$reference" | awk -F: '{print $(NF-1)}')

mkdir -p "$shots"
cd "$here"
MODULES="$modules" SYMX_URL="http://$http" ADMIN_KEY="$admin" READ_KEY="$reader" \
  OTHER_KEY="$other" CHROMIUM="$chromium" SCREENSHOTS="$shots" \
  JS_STACK="$(cat "$root/tests/fixtures/js/esbuild/stack.txt")" TOMBSTONE="$tombstone" \
  EXPECT_FUNCTION="$expect_function" EXPECT_LINE="$expect_line" \
  node "$here/console.test.mjs" || fail "console tests"
echo "console: every page passed in Chromium; screenshots in $shots"
