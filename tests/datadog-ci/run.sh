#!/usr/bin/env bash
# The real client: a pinned @datadog/datadog-ci from npm runs its upload commands against a
# running symxd (DATADOG_SOURCEMAP_INTAKE_URL / DATADOG_DSYM_INTAKE_URL pointing at it), then
# every uploaded artifact is listed and resolves through `symx`. Run by .ci/run after the
# cargo tests (needs the release binaries, node and npm).
#
# Covered: sourcemaps upload, react-native upload (a JavaScript bundle, and a Hermes bytecode
# bundle with its composed map), flutter-symbols upload, pe-symbols upload,
# dsyms upload (with llvm-dwarfdump-14 / llvm-lipo-14 standing in for Xcode's dwarfdump and
# lipo, which datadog-ci shells out to), git-metadata upload (its srcmap part; its GitDB part
# talks to api.datadoghq.com and fails offline, as expected), unity-symbols upload --android
# (a symbols folder assembled from our fixtures). Not covered: elf-symbols (not a command of
# datadog-ci 5.25.0, the newest on npm).
# datadog-ci also tries to flush usage metrics to api.datadoghq.com; offline that fails at the
# DNS lookup and is only a warning.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$HOME/.cache/symx/target}/release"
version=5.25.0
cache="$HOME/.cache/symx/datadog-ci-$version"
if [ ! -x "$cache/node_modules/.bin/datadog-ci" ]; then
  mkdir -p "$cache"
  (cd "$cache" && npm install --no-audit --no-fund --silent "@datadog/datadog-ci@$version")
fi
ddci() { node "$cache/node_modules/@datadog/datadog-ci/dist/bundle.js" "$@"; }

work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# Fixed ports below Linux's ephemeral range (32768-60999): probing a port in that range
# while nothing listens can connect the probe to itself and take the port.
grpc=127.0.0.1:29081
http=127.0.0.1:29082
# Authentication on: datadog-ci sends a real symx key as DD-API-KEY.
key=$("$bin/symxd" --data-dir "$work/data" keys create --scope read,upload,delete \
  --tenant shop --name datadog-ci 2>/dev/null)
SYMX_SERVER_GRPC_ADDR=$grpc SYMX_SERVER_HTTP_ADDR=$http \
  "$bin/symxd" --data-dir "$work/data" > "$work/symxd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/${http%:*}/${http#*:}") 2>/dev/null && break
  sleep 0.1
done
symx() { "$bin/symx" --endpoint "http://$grpc" --api-key "$key" "$@"; }
export DATADOG_API_KEY=$key
export DATADOG_SOURCEMAP_INTAKE_URL="http://$http"
export DATADOG_DSYM_INTAKE_URL="http://$http"
fx="$root/tests/fixtures"
fail() { echo "FAIL: $*" >&2; cat "$work/symxd.log" >&2; exit 1; }
expect() { grep -q "$1" <<<"$2" || fail "expected '$1' in: $2"; }

cd "$work"
mkdir -p dist flutter pe dsyms shims repo
cp "$fx/js/esbuild/app.min.js" "$fx/js/esbuild/app.min.js.map" dist/
cp "$fx/native/android/app.android-arm64.symbols" flutter/
cp "$fx/native/pe/app.dll" "$fx/native/pe/app.pdb" pe/
(cd dsyms && unzip -q "$fx/native/macho/libapp.dylib.dSYM.zip")
ln -s "$(command -v llvm-dwarfdump-14)" shims/dwarfdump
ln -s "$(command -v llvm-lipo-14)" shims/lipo
printf 'name: shop\nversion: 1.4.0+7\n' > pubspec.yaml

echo "== datadog-ci sourcemaps upload"
out=$(ddci sourcemaps upload ./dist --service shop-web --release-version 1.0.0 \
  --minified-path-prefix https://cdn.shop.io/static/ --disable-git 2>&1)
expect "Uploaded 1 sourcemap" "$out"
res=$(echo '[{"abs_path":"https://cdn.shop.io/static/app.min.js","lineno":1,"colno":7}]' |
  symx --json symbolicate --service shop-web --version 1.0.0)
expect '"status":"resolved"' "$res"

echo "== datadog-ci react-native upload"
out=$(ddci react-native upload --platform android --service shop-rn --bundle dist/app.min.js \
  --sourcemap dist/app.min.js.map --release-version 1.0.0 --build-version 7 --disable-git 2>&1)
expect "Uploaded 1 sourcemap" "$out"
expect '"total_filtered_count": *1' "$(symx --json list --kind react --service shop-rn --version 1.0.0)"

echo "== datadog-ci react-native upload of a Hermes bytecode bundle"
# A Hermes build ships index.android.bundle as bytecode (hermesc's output) with the composed
# map; datadog-ci sends the bytecode as the minified file.
mkdir -p hermes
cp "$fx/react/index.android.hbc" hermes/index.android.bundle
cp "$fx/react/hermes.map" hermes/index.android.bundle.map
out=$(ddci react-native upload --platform android --service shop-hermes \
  --bundle hermes/index.android.bundle --sourcemap hermes/index.android.bundle.map \
  --release-version 1.0.0 --build-version 7 --disable-git 2>&1) || fail "hermes upload: $out"
expect "Uploaded 1 sourcemap" "$out"
# Bytecode offset 2286 is src/cart.js:12 in Cart.prototype.priceOf (metro-symbolicate's
# answer, tests/fixtures/react/expected.json).
printf 'Error: bad quantity 0\n    at priceOf (address at index.android.bundle:1:2286)\n' > hermes/trace.txt
res=$(symx symbolicate --service shop-hermes --version 1.0.0 hermes/trace.txt)
expect "at Cart.prototype.priceOf (src/cart.js:12:" "$res"

echo "== datadog-ci flutter-symbols upload"
out=$(ddci flutter-symbols upload --service-name shop-flutter --dart-symbols-location ./flutter \
  --disable-git 2>&1)
expect "Uploaded symbol 1 file" "$out"
build_id=$(awk '$1 == "flutter" {print $2}' "$fx/native/android/ids.txt")
res=$(echo "[{\"code_id\":\"$build_id\",\"image_addr\":\"0x0\",\"instruction_addr\":\"0x104d8\",\"exact\":true}]" |
  symx --json symbolicate)
expect '"status":"resolved"' "$res"

echo "== datadog-ci pe-symbols upload"
out=$(ddci pe-symbols upload ./pe --disable-git 2>&1)
expect "Uploaded symbol 1 file" "$out"
guid=$(awk '/GUID:/ {print $2}' "$fx/native/pe/pdb.txt" | tr -d '{}')
res=$(echo "[{\"debug_id\":\"$guid-1\",\"image_addr\":\"0x180000000\",\"instruction_addr\":\"0x180001050\",\"exact\":true}]" |
  symx --json symbolicate)
expect '"status":"resolved"' "$res"

echo "== datadog-ci dsyms upload"
out=$(PATH="$work/shims:$PATH" ddci dsyms upload ./dsyms 2>&1) || fail "dsyms upload: $out"
expect "Uploaded 2 dSYMs\|Uploaded 2 files\|2 dSYMs" "$out"
uuid=$(awk '/arm64/ {print $1}' "$fx/native/macho/uuids.txt")
res=$(echo "[{\"debug_id\":\"$uuid\",\"image_addr\":\"0x0\",\"instruction_addr\":\"0x560\",\"exact\":true}]" |
  symx --json symbolicate)
expect '"status":"resolved"' "$res"

echo "== datadog-ci git-metadata upload"
(cd repo && git init -q && git remote add origin git@github.com:shop/app.git &&
  mkdir -p src && echo x > src/app.js && git add . &&
  git -c user.email=ci@shop.io -c user.name=ci commit -qm init)
sha=$(git -C repo rev-parse HEAD)
(cd repo && ddci git-metadata upload > "$work/git.log" 2>&1) || true
expect "$sha" "$(symx --json list --kind repository)"
echo "== datadog-ci unity-symbols upload --android"
# A Unity Android build's symbols folder: Unity's build id, the IL2CPP line mappings and the
# .so files (here the g++ ELF fixture as libil2cpp.so, and its hand-written mapping).
mkdir -p unity/libs/x86_64
cp "$fx/native/elf/crash" unity/libs/x86_64/libil2cpp.so
cp "$fx/il2cpp/LineNumberMappings.json" unity/
printf '8d3f0c1e-5b7a-4c2e-9f61-2a4b6c8d0e1f' > unity/build_id
out=$(ddci unity-symbols upload --android --symbols-location ./unity --disable-git 2>&1) ||
  fail "unity-symbols upload: $out"
expect "8d3f0c1e-5b7a-4c2e-9f61-2a4b6c8d0e1f" "$(symx --json list --kind il2cpp --build-id 8d3f0c1e-5b7a-4c2e-9f61-2a4b6c8d0e1f)"
# main() at crash.cpp:52 -> the mapping's nearest line at or before it: Checkout.cs:16.
res=$(echo '[{"code_id":"1e178778753aa68d811fb8191bedd7f3a71b25a3","image_addr":"0x0","instruction_addr":"0x1070","exact":true}]' |
  symx --json symbolicate)
expect '"managed_source":"Assets/Scripts/Shop/Checkout.cs"' "$res"
expect '"managed_lineno":16' "$res"
echo "datadog-ci: all uploads accepted, listed and resolved"
