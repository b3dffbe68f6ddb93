#!/usr/bin/env bash
# Soak: complete step-up flows at a steady rate on two gateways sharing one
# redis-server (started here on a free loopback port, stopped by pid), for
# DURATION, reporting every INTERVAL: flows done and failed, flow latency
# percentiles, each gateway's RSS and goroutines, Redis keys and memory;
# at the end, that every key in Redis has a TTL. See bench/soak/main.go.
#
# Usage: bench/soak.sh                 (30 minutes)
# Knobs (environment): DURATION=30m INTERVAL=1m RATE=5 USERS=1000
# Output: bench/results/soak-<UTC time>/ (ignored by git): report.md,
#   caddy and redis logs.
set -euo pipefail
DURATION="${DURATION:-30m}"
INTERVAL="${INTERVAL:-1m}"
RATE="${RATE:-5}"
USERS="${USERS:-1000}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
out="bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "== building (binaries in $tmp)" >&2
go build -o "$tmp/caddy-stepup" ./tests/caddy
go build -o "$tmp/soak" ./bench/soak
echo "== soak: $DURATION at $RATE flows/s over $USERS users; report every $INTERVAL" >&2
"$tmp/soak" -caddy "$tmp/caddy-stepup" -out "$out" -duration "$DURATION" -interval "$INTERVAL" -rate "$RATE" -users "$USERS"
echo "== report: $out/report.md" >&2
