#!/usr/bin/env bash
# Builds the quick start's demo page into demo/dist/ (served at / by
# Caddyfile.example): installs the locked npm packages, bundles src/ with
# esbuild, and puts the SDK's core-worker.js next to the bundle, where the
# SDK's `new URL("./core-worker.js", import.meta.url)` looks for it.
# Needs Node.js 20 and npm.
set -euo pipefail
cd "$(dirname "$0")"

# --ignore-scripts: nothing here needs an install script (esbuild's binary
# comes as an optional dependency).
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

rm -rf dist
mkdir -p dist
node_modules/.bin/esbuild src/main.jsx \
	--bundle --format=esm --target=es2022 --minify \
	--jsx=automatic \
	--define:process.env.NODE_ENV='"production"' \
	--outfile=dist/bundle.js --log-level=warning
cp node_modules/@prelude.so/js-sdk/dist/inline/core-worker.js dist/core-worker.js
cp index.html dist/index.html
echo "built $(pwd)/dist" >&2
