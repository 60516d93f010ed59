#!/usr/bin/env bash
# Builds the Hermes benchmark input into bench-data/ (git-ignored): TypeScript's compiler
# (typescript@5.6.3) bundled by Metro 0.87.1 (not minified, as React Native does for Hermes),
# compiled by hermes-compiler's hermesc with -output-source-map, and the two maps composed as
# React Native's build does (tests/fixtures/react/compose.js): bench-data/hermes.map.
# Needs node and npm (the npm registry).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../../bench-data"
mkdir -p "$out"
cd "$here"
[ -d node_modules ] || npm ci --no-audit --no-fund >/dev/null 2>&1 || npm install --no-audit --no-fund >/dev/null
node - "$out" <<'JS'
const path = require('path');
const Metro = require('metro');
(async () => {
  const out = path.join(process.argv[2], 'hermes-bundle');
  const config = await Metro.loadConfig({cwd: __dirname, config: path.join(process.cwd(), 'hermes-app/metro.config.js')}, {});
  await Metro.runBuild(config, {entry: './hermes-app/index.js', out, platform: 'android', dev: false, minify: false, sourceMap: true});
})().catch(e => { console.error(e); process.exit(1); });
JS
mv "$out/hermes-bundle.js" "$out/hermes-bundle"
node_modules/hermes-compiler/hermesc/linux64-bin/hermesc -O -emit-binary -output-source-map \
  -out "$out/hermes.hbc" "$out/hermes-bundle"
NODE_PATH="$here/node_modules" node ../../tests/fixtures/react/compose.js "$here" "$out/hermes.map" "$out/hermes-bundle.map" "$out/hermes.hbc.map"
ls -l "$out"/hermes*
