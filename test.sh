#!/usr/bin/env bash
# Runs every test of caddy-stepup: static checks, Go unit and whole-server
# tests (real redis-server, the real built caddy). Needs Go, redis-server.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$(go env GOPATH)/bin:$PATH"
export STEPUP_REQUIRE_REDIS=1

echo "== gofmt, go vet, staticcheck"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './tests/*/node_modules/*'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; exit 1; fi
go vet ./...
if ! command -v staticcheck >/dev/null; then go install honnef.co/go/tools/cmd/staticcheck@v0.8.2; fi
staticcheck ./...

echo "== go test -race"
go test -race -count=1 -timeout 15m ./...
