#!/usr/bin/env bash
# Runs every test of caddy-stepup: static checks; Go unit and whole-server
# tests (real redis-server processes, the real built caddy, the real Prelude
# SDK in Node, real PHP, Rack, Go and Node request parsers behind the
# gateway); then the quick start driven in Chromium. Needs Go, redis-server,
# Node.js 20 with npm, and Debian's chromium, prometheus, php-cli, ruby-rack
# and ruby-webrick; .ci/run installs them on a clean machine. Ports 8080,
# 8443, 9080 and 2019 must be free for the browser test (it runs the quick
# start as is).
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$(go env GOPATH)/bin:$PATH"
export STEPUP_REQUIRE_REDIS=1 STEPUP_REQUIRE_NODE=1 STEPUP_SDK_STEPUP=1 STEPUP_REQUIRE_PROMETHEUS=1 STEPUP_REQUIRE_PARSERS=1

echo "== gofmt, go vet, staticcheck"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './tests/*/node_modules/*'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; exit 1; fi
go vet ./...
if ! command -v staticcheck >/dev/null; then go install honnef.co/go/tools/cmd/staticcheck@v0.8.2; fi
staticcheck ./...

echo "== npm ci (the real Prelude SDK, the OpenID provider and OAuth client, the MCP SDK, express and multer, and playwright-core for Chromium)"
(cd tests/sdk && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
(cd tests/oidc && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
(cd tests/mcp && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
(cd tests/parsers && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
(cd tests/browser && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

echo "== go test -race (unit, whole-server with real caddy and Redis, the SDK in Node)"
go test -race -count=1 -timeout 20m ./...

echo "== the quick start in Chromium"
tests/browser/run.sh
