#!/usr/bin/env bash
# Runs the browser test of the quick start: installs the locked
# playwright-core (no browser download: it drives Debian's chromium), then
# node's test runner on flow.test.mjs. Needs Go (the quick start builds
# caddy), Node.js 20 with npm, and /usr/bin/chromium (apt-get install chromium).
# Ports 8080, 8443, 9080 and 2019 must be free: it runs the quick start as is.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x "${STEPUP_CHROMIUM:-/usr/bin/chromium}" ]; then
	echo "tests/browser: no ${STEPUP_CHROMIUM:-/usr/bin/chromium}: apt-get install chromium" >&2
	exit 1
fi
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
exec node --test --test-reporter=spec flow.test.mjs
