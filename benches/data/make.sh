#!/usr/bin/env bash
# Builds the benchmark input into bench-data/ (git-ignored): TypeScript's compiler
# (typescript@5.6.3, lib/typescript.js, 9 MB) minified by esbuild with a source map that embeds
# the sources: bench-data/ts.min.js (3.5 MB) and bench-data/ts.min.js.map (14 MB, 4.9 MB of it
# `mappings`). Needs node and npm (the npm registry).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../../bench-data"
mkdir -p "$out"
cd "$here"
[ -d node_modules ] || npm ci --no-audit --no-fund >/dev/null 2>&1 || npm install --no-audit --no-fund >/dev/null
node_modules/.bin/esbuild node_modules/typescript/lib/typescript.js --minify --sourcemap \
  --sources-content=true --charset=utf8 --outfile="$out/ts.min.js" --log-level=warning
ls -l "$out"/ts.min.js*
