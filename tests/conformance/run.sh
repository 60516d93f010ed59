#!/usr/bin/env bash
# The conformance suite: third-party artifacts built or downloaded from the package
# registries, the answers of two independent reference tools where they agree, and a running
# symxd asked the same through the `symx` CLI. Prints the agreement rate per set; fails when
# symx disagrees anywhere known-differences.txt does not list. Run by .ci/run after the
# cargo tests (needs the release binaries). Everything downloaded or built is cached under
# $HOME/.cache/symx/conformance (keyed by the pinned versions and the compilers).
#
# Sets (README.md says more):
#   native/zlib-*, native/bzip2-*   C libraries from crates.io `-sys` crates (libz-sys 1.1.21:
#       zlib 1.3.1; bzip2-sys 0.1.11: bzip2 1.0.8) built as shared libraries with gcc 12 and
#       clang 14 at -O2 -g, DWARF 5 and 4, and one stripped to its symbol table;
#       references: llvm-symbolizer and binutils addr2line (../fixtures/native/references.py).
#   native/hexyl                    a Rust program (crates.io `hexyl`, `cargo install` with
#       debug information); same references.
#   js/*                            npm packages with their published minified files and maps
#       (preact, axios, rxjs, jquery, moment); references: Mozilla source-map 0.6.1 and
#       @jridgewell/trace-mapping 0.3.25 (js-references.js).
#   jvm/commons-lang3               Debian's Apache Commons Lang 3.12 jar obfuscated by Debian's
#       ProGuard 6.2.2 (line numbers kept, no optimisation: ProGuard 6 cannot read JDK 17's
#       classes to optimise against); references: ProGuard's retrace and a derivation from the
#       mapping's text (jvm-references.py).
#   hermes/moment, hermes/axios     those packages' unminified builds compiled by hermesc
#       (npm hermes-compiler 260318099.0.6) to bytecode with its map; same references, asked
#       by bytecode offset.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$HOME/.cache/symx/target}/release"
cache="$HOME/.cache/symx/conformance"
mkdir -p "$cache"

# --- npm: the packages and the two JavaScript references.
npm_dir="$cache/npm-2"
if [ ! -f "$npm_dir/done" ]; then
  rm -rf "$npm_dir" && mkdir -p "$npm_dir"
  (cd "$npm_dir" && npm init -y >/dev/null &&
    npm install --no-audit --no-fund --silent preact@10.25.4 axios@1.7.9 rxjs@7.8.1 \
      jquery@3.7.1 moment@2.30.1 source-map@0.6.1 @jridgewell/trace-mapping@0.3.25 \
      hermes-compiler@260318099.0.6)
  touch "$npm_dir/done"
fi
nm_="$npm_dir/node_modules"
# Hermes: two of those packages' unminified builds compiled to bytecode by hermesc, with its map.
hbc="$cache/hermes-1"
if [ ! -f "$hbc/done" ]; then
  rm -rf "$hbc" && mkdir -p "$hbc"
  for js in moment:"$nm_/moment/moment.js" axios:"$nm_/axios/dist/axios.js"; do
    "$nm_/hermes-compiler/hermesc/linux64-bin/hermesc" -O -emit-binary -output-source-map -w \
      -out "$hbc/${js%%:*}.hbc" "${js#*:}"
  done
  touch "$hbc/done"
fi
node "$here/js-references.js" "$nm_" "$cache/js.json" \
  "hermes:moment=$hbc/moment.hbc:$hbc/moment.hbc.map" \
  "hermes:axios=$hbc/axios.hbc:$hbc/axios.hbc.map" \
  "preact=$nm_/preact/dist/preact.min.js:$nm_/preact/dist/preact.min.js.map" \
  "axios=$nm_/axios/dist/axios.min.js:$nm_/axios/dist/axios.min.js.map" \
  "rxjs=$nm_/rxjs/dist/bundles/rxjs.umd.min.js:$nm_/rxjs/dist/bundles/rxjs.umd.min.js.map" \
  "jquery=$nm_/jquery/dist/jquery.min.js:$nm_/jquery/dist/jquery.min.map" \
  "moment=$nm_/moment/min/moment.min.js:$nm_/moment/min/moment.min.js.map"

# --- native: C sources from crates.io, built with two compilers and two DWARF versions.
cargo fetch --locked --manifest-path "$here/sources/Cargo.toml" >/dev/null 2>&1
src_of() {
  cargo metadata --format-version 1 --locked --manifest-path "$here/sources/Cargo.toml" |
    python3 -c "import json,os,sys; m=json.load(sys.stdin); print(next(os.path.dirname(p['manifest_path']) for p in m['packages'] if p['name']=='$1'))"
}
zlib="$(src_of libz-sys)/src/zlib"
bzip2="$(src_of bzip2-sys)/bzip2-1.0.8"
key="$( (gcc --version; clang --version; llvm-symbolizer-14 --version; addr2line --version; cat "$here/sources/Cargo.lock" "$root/tests/fixtures/native/references.py") | sha256sum | cut -c1-16)"
native="$cache/native-$key"
if [ ! -f "$native/done" ]; then
  rm -rf "$native" && mkdir -p "$native"
  build() { # name compiler dwarf sources...
    local name=$1 cc=$2 dwarf=$3; shift 3
    "$cc" -O2 -g "-gdwarf-$dwarf" -fPIC -shared -Wl,--build-id=sha1 -DHAVE_UNISTD_H -w \
      -fdebug-prefix-map="$(dirname "$1")"=/src -o "$native/$name.so" "$@"
  }
  zsrc=("$zlib"/{adler32,compress,crc32,deflate,gzclose,gzlib,gzread,gzwrite,infback,inffast,inflate,inftrees,trees,uncompr,zutil}.c)
  bsrc=("$bzip2"/{blocksort,huffman,crctable,randtable,compress,decompress,bzlib}.c)
  build zlib-gcc-dwarf5 gcc 5 "${zsrc[@]}"
  build zlib-gcc-dwarf4 gcc 4 "${zsrc[@]}"
  build zlib-clang-dwarf5 clang 5 "${zsrc[@]}"
  build bzip2-gcc-dwarf5 gcc 5 "${bsrc[@]}"
  build bzip2-clang-dwarf4 clang 4 "${bsrc[@]}"
  objcopy --strip-debug "$native/zlib-gcc-dwarf5.so" "$native/zlib-symtab.so"
  for so in "$native"/*.so; do
    python3 "$root/tests/fixtures/native/references.py" "$so" > "${so%.so}.json" 2>"${so%.so}.disagree"
  done
  touch "$native/done"
fi

# --- a Java library through ProGuard (Debian's packages, installed by scripts/setup.sh).
jvm="$cache/jvm-$( (dpkg-query -W proguard-cli libcommons-lang3-java; cat "$here/jvm-references.py") | sha256sum | cut -c1-16)"
if [ ! -f "$jvm/done" ]; then
  rm -rf "$jvm" && mkdir -p "$jvm"
  cat > "$jvm/lang3.pro" <<PRO
-injars /usr/share/java/commons-lang3.jar
-outjars $jvm/lang3-obf.jar
-printmapping $jvm/mapping.txt
-dontshrink
-dontoptimize
-dontpreverify
-keepattributes SourceFile,LineNumberTable
-renamesourcefileattribute SourceFile
-dontwarn **
-ignorewarnings
PRO
  proguard @"$jvm/lang3.pro" > "$jvm/proguard.log" 2>&1
  python3 "$here/jvm-references.py" "$jvm/mapping.txt" /usr/share/java/retrace.jar "$jvm/commons-lang3.json" \
    2> "$jvm/commons-lang3.disagree"
  touch "$jvm/done"
fi

# --- a Rust program from crates.io, with debug information.
rust="$cache/rust-hexyl-0.17.0"
if [ ! -f "$rust/done" ]; then
  rm -rf "$rust" && mkdir -p "$rust"
  CARGO_PROFILE_RELEASE_DEBUG=2 CARGO_PROFILE_RELEASE_STRIP=none \
    CARGO_PROFILE_RELEASE_SPLIT_DEBUGINFO=off CARGO_TARGET_DIR="$rust/target" \
    cargo install --locked --quiet --root "$rust" hexyl@0.17.0
  rm -rf "$rust/target"
  python3 "$root/tests/fixtures/native/references.py" "$rust/bin/hexyl" > "$rust/hexyl.json" 2>"$rust/hexyl.disagree"
  touch "$rust/done"
fi

# --- symxd with its default settings, on a fresh data directory per set: two builds of one
# module share a build id, and symx answers a frame from the best file of its module (the
# DWARF build over the stripped one), which is not what a set asks.
work="$(mktemp -d)"
pid=""
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; pid=""; }
cleanup() { stop; rm -rf "$work"; }
trap cleanup EXIT
grpc=127.0.0.1:29091
serve() {
  stop
  rm -rf "$work/data"
  SYMX_SERVER_GRPC_ADDR=$grpc SYMX_SERVER_HTTP_ADDR=127.0.0.1:29092 \
    "$bin/symxd" --data-dir "$work/data" > "$work/symxd.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/${grpc%:*}/${grpc#*:}") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "symxd did not start:" >&2
  cat "$work/symxd.log" >&2
  return 1
}

passed=0
failed=0
check() {
  serve
  if python3 "$here/compare.py" "$bin/symx" "http://$grpc" "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
}
check js "$cache/js.json"
for json in "$native"/*.json; do
  name="native/$(basename "${json%.json}")"
  echo "  ($name: $(tail -n1 "${json%.json}.disagree"))"
  check native "$name" "${json%.json}.so" "$json"
done
echo "  (native/hexyl: $(tail -n1 "$rust/hexyl.disagree"))"
check native native/hexyl "$rust/bin/hexyl" "$rust/hexyl.json"
echo "  (jvm/commons-lang3: $(tail -n1 "$jvm/commons-lang3.disagree"))"
check jvm jvm/commons-lang3 "$jvm/mapping.txt" "$jvm/commons-lang3.json"
stop
echo "conformance: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
