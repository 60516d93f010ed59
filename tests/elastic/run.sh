#!/usr/bin/env bash
# The Elastic APM RUM source map document's curl examples (shared/seeds/
# elastic-apm-rum-sourcemap-api.md), run verbatim against a running symxd with only the host
# (localhost:5601 -> symxd's HTTP address) and ${YOUR_API_KEY} substituted. Run by .ci/run
# after the cargo tests (needs the release binaries and curl).
#
# The document's POST example sends a placeholder map (`"mappings":"mapping"`, which is not
# valid VLQ): symx validates maps at upload, so that exact request gets a 400 naming the
# field, and the same command with a real map (the document's `-F sourcemap=@file` form)
# gets the document's response. GET and DELETE (with the document's shortened id) follow.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$HOME/.cache/symx/target}/release"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# Fixed ports below Linux's ephemeral range (32768-60999): probing a port in that range
# while nothing listens can connect the probe to itself and take the port.
grpc=127.0.0.1:29083
http=127.0.0.1:29084
fail() { echo "FAIL: $*" >&2; cat "$work/symxd.log" >&2; exit 1; }
expect() { grep -q -- "$1" <<<"$2" || fail "expected '$1' in: $2"; }

# An admin key made offline, then a key with every artifact scope for the examples.
"$bin/symxd" --data-dir "$work/data" keys create --scope admin --tenant default --name ci \
  > "$work/admin.key" 2>/dev/null
SYMX_SERVER_GRPC_ADDR=$grpc SYMX_SERVER_HTTP_ADDR=$http \
  "$bin/symxd" --data-dir "$work/data" > "$work/symxd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/${http%:*}/${http#*:}") 2>/dev/null && break
  sleep 0.1
done
key=$("$bin/symx" --endpoint "http://$grpc" --api-key "$(cat "$work/admin.key")" keys create \
  --scope read,upload,delete --name elastic | tail -1)
id=${key#symx_}; id=${id%%_*}
secret=${key##*_}
YOUR_API_KEY=$(printf '%s:%s' "$id" "$secret" | base64 -w0)
host="http://$http"

echo "== POST /api/apm/sourcemaps (the document's example, verbatim)"
out=$(curl -sS -X POST "$host/api/apm/sourcemaps" \
-H 'Content-Type: multipart/form-data' \
-H 'kbn-xsrf: true' \
-H "Authorization: ApiKey ${YOUR_API_KEY}" \
-F 'service_name="foo"' \
-F 'service_version="1.0.0"' \
-F 'bundle_filepath="/test/e2e/general-usecase/bundle.js"' \
-F 'sourcemap="{\"version\":3,\"file\":\"static/js/main.chunk.js\",\"sources\":[\"fleet-source-map-client/src/index.css\",\"fleet-source-map-client/src/App.js\",\"webpack:///./src/index.css?bb0a\",\"fleet-source-map-client/src/index.js\",\"fleet-source-map-client/src/reportWebVitals.js\"],\"sourcesContent\":[\"content\"],\"mappings\":\"mapping\",\"sourceRoot\":\"\"}"' \
-w ' %{http_code}')
expect '"statusCode":400' "$out"
expect 'sourcemap' "$out"
expect 'mappings' "$out"
expect ' 400$' "$out"

echo "== POST with the file form (-F sourcemap=@file)"
cp "$root/tests/fixtures/js/esbuild/app.min.js.map" "$work/bundle.js.map"
out=$(curl -sS -X POST "$host/api/apm/sourcemaps" \
-H 'Content-Type: multipart/form-data' \
-H 'kbn-xsrf: true' \
-H "Authorization: ApiKey ${YOUR_API_KEY}" \
-F 'service_name="foo"' \
-F 'service_version="1.0.0"' \
-F 'bundle_filepath="/test/e2e/general-usecase/bundle.js"' \
-F "sourcemap=@$work/bundle.js.map" \
-w ' %{http_code}')
expect ' 200$' "$out"
for field in '"type":"sourcemap"' '"identifier":"foo-1.0.0"' '"relative_url":"/api/fleet/artifacts/foo-1.0.0/' \
  '"compressionAlgorithm":"zlib"' '"encryptionAlgorithm":"none"' '"packageName":"apm"' '"id":"apm:foo-1.0.0-'; do
  expect "$field" "$out"
done
sha=$(sed 's/.*"decodedSha256":"\([0-9a-f]*\)".*/\1/' <<<"$out")
[ ${#sha} -eq 64 ] || fail "decodedSha256: $out"

echo "== the upload resolves frames and lists in the Datadog API"
res=$(echo '[{"abs_path":"/test/e2e/general-usecase/bundle.js","lineno":1,"colno":7}]' |
  "$bin/symx" --endpoint "http://$grpc" --api-key "$key" symbolicate --service foo --version 1.0.0 --json -)
expect '"status":"resolved"' "$res"
out=$(curl -sS "$host/api/v2/sourcemaps/list?filter%5Bservice%5D=foo&filter%5Bversion%5D=1.0.0" \
  -H "DD-API-KEY: $key" -H "DD-APPLICATION-KEY: $key")
expect '"total_filtered_count":1' "$out"

echo "== GET /api/apm/sourcemaps (verbatim)"
out=$(curl -sS -X GET "$host/api/apm/sourcemaps" \
-H 'Content-Type: application/json' \
-H 'kbn-xsrf: true' \
-H "Authorization: ApiKey ${YOUR_API_KEY}")
expect '"artifacts":\[' "$out"
expect '"serviceName":"foo"' "$out"
expect '"bundleFilepath":"/test/e2e/general-usecase/bundle.js"' "$out"
expect "\"decodedSha256\":\"$sha\"" "$out"

echo "== DELETE /api/apm/sourcemaps/:id (verbatim, with this upload's shortened id)"
short="apm:foo-1.0.0-${sha:0:8}"
out=$(curl -sS -X DELETE "$host/api/apm/sourcemaps/$short" \
-H 'Content-Type: application/json' \
-H 'kbn-xsrf: true' \
-H "Authorization: ApiKey ${YOUR_API_KEY}" \
-w ' %{http_code}')
[ "$out" = "{} 200" ] || fail "delete: $out"
out=$(curl -sS -X GET "$host/api/apm/sourcemaps" -H "Authorization: ApiKey ${YOUR_API_KEY}")
[ "$out" = '{"artifacts":[]}' ] || fail "after delete: $out"

echo "== basic auth (-u id:secret), and refusals"
out=$(curl -sS -u "$id:$secret" "$host/api/apm/sourcemaps" -w ' %{http_code}')
expect ' 200$' "$out"
out=$(curl -sS "$host/api/apm/sourcemaps" -w ' %{http_code}')
expect '"statusCode":401' "$out"
out=$(curl -sS -X DELETE "$host/api/apm/sourcemaps/apm:foo-1.0.0-${sha:0:8}" \
  -H "Authorization: ApiKey ${YOUR_API_KEY}" -w ' %{http_code}')
expect 'kbn-xsrf' "$out"
expect ' 400$' "$out"
echo "== over the 1 MB payload limit: 413"
head -c 1200000 /dev/zero | tr '\0' 'a' > "$work/big.map"
out=$(curl -sS -X POST "$host/api/apm/sourcemaps" -H 'kbn-xsrf: true' \
  -H "Authorization: ApiKey ${YOUR_API_KEY}" -F 'service_name=foo' -F 'service_version=2' \
  -F 'bundle_filepath=/b.js' -F "sourcemap=@$work/big.map" -w ' %{http_code}')
expect '"statusCode":413' "$out"
expect ' 413$' "$out"
echo "elastic curl examples: all passed"
