#!/usr/bin/env bash
# Benchmarks the cached-token path of the `stepup` handler with and without
# a large revocation list, side by side with plain Caddy in one run, on
# loopback. Every request carries the same valid token (sub, sid and jti
# set, none of them revoked), so the list is searched by all three on every
# request, and misses.
#   (a) plain reverse_proxy, Caddy without this module
#   (b) stepup + reverse_proxy (cache on), memory store, no revocation
#   (c) as (b), with REVOKED revocations of the token's issuer in the list
#       (sessions, subjects and token IDs in turn), made through the admin
#       API before the rounds
#   (d) as (c) on the Redis store (a redis-server of its own): the list is
#       kept in Redis, and each request reads the gateway's copy in memory
# (c) − (b) and (d) − (b) are what the list costs a request.
#
# Both Caddy binaries are built here with `go build` from this checkout's
# go.mod (bench/plaincaddy and tests/caddy). Load comes from wrk (Debian's
# package, installed when missing), one window per case and round, the
# order rotated each round; the report gives medians over rounds
# (bench/report).
#
# Usage: bench/run-revocation.sh   (about 5 minutes on 2 cores)
# Knobs (environment): ROUNDS=5 DURATION=10 CONNS=32 THREADS=2 WARMUP=3
#   REVOKED=100000
# Output: bench/results/revocation-<UTC time>/ (ignored by git): report.md,
#   the raw wrk outputs and runs.tsv, caddy and redis logs.
set -euo pipefail

knobs=""
for v in ROUNDS DURATION CONNS THREADS WARMUP REVOKED; do
	if [ -n "${!v:-}" ]; then knobs+="$v=${!v} "; fi
done
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-32}"
THREADS="${THREADS:-2}"
WARMUP="${WARMUP:-3}"
REVOKED="${REVOKED:-100000}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
command_line="${knobs}bench/run-revocation.sh"

command -v redis-server >/dev/null || { echo "run-revocation.sh: needs redis-server" >&2; exit 1; }

# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
bench_need_wrk
bench_setup "revocation-"
time_start="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
load_start="$(uptime | sed 's/.*load average: //')"
commit="$(git rev-parse --short HEAD)"

echo "== building (binaries in $tmp)" >&2
go build -o "$tmp/caddy-plain" ./bench/plaincaddy
go build -o "$tmp/caddy-stepup" ./tests/caddy
for tool in upstream tokens freeport report revoke; do
	go build -o "$tmp/$tool" "./bench/$tool"
done

"$tmp/tokens" -out "$tmp" -issuer https://idp.bench -scope payments:write >/dev/null
token="$(cat "$tmp/session.txt")"

mapfile -t ports < <("$tmp/freeport" -n 10)
p_up="${ports[0]}"
p_redis="${ports[9]}"
declare -A listen=([plain]="${ports[1]}" [empty]="${ports[2]}" [full]="${ports[3]}" [redis]="${ports[4]}")
declare -A admin=([plain]="${ports[5]}" [empty]="${ports[6]}" [full]="${ports[7]}" [redis]="${ports[8]}")
declare -A gw=([a]=plain [b]=empty [c]=full [d]=redis)

"$tmp/upstream" -addr "127.0.0.1:$p_up" -jwks "$tmp/jwks.json" >"$results/upstream.log" 2>&1 &
pids+=($!)
redis-server --bind 127.0.0.1 --port "$p_redis" --save "" --appendonly no --dir "$tmp" >"$results/redis.log" 2>&1 &
pids+=($!)

gateway() { # gateway NAME STORE_LINE
	local options=""
	if [ "$1" != plain ]; then
		options="	stepup {
		trust https://idp.bench {
			jwks_url http://127.0.0.1:$p_up/.well-known/jwks.json
		}
		$2
	}"
	fi
	local handler=""
	[ "$1" != plain ] && handler="		stepup payments:write"
	cat >"$tmp/$1.caddyfile" <<CADDYFILE
{
	admin 127.0.0.1:${admin[$1]}
	auto_https off
	persist_config off
	storage file_system $tmp/storage-$1
$options
}

http://127.0.0.1:${listen[$1]} {
	bind 127.0.0.1
	route {
$handler
		reverse_proxy 127.0.0.1:$p_up
	}
}
CADDYFILE
}
gateway plain ""
gateway empty "store memory"
gateway full "store memory"
gateway redis "store redis redis://127.0.0.1:$p_redis/0"

for _ in $(seq 100); do
	redis-cli -p "$p_redis" ping >/dev/null 2>&1 && break
	sleep 0.1
done
declare -A gwpid
for name in plain empty full redis; do
	bin="$tmp/caddy-stepup"
	[ "$name" = plain ] && bin="$tmp/caddy-plain"
	"$bin" run --config "$tmp/$name.caddyfile" --adapter caddyfile >"$results/caddy-$name.log" 2>&1 &
	gwpid[$name]=$!
	pids+=($!)
done

status() { # status GATEWAY TOKEN
	curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" "http://127.0.0.1:${listen[$1]}/pay" || true
}
expect() { # expect GATEWAY TOKEN STATUS
	local got=""
	for _ in $(seq 100); do
		got="$(status "$1" "$2")"
		[ "$got" = "$3" ] && return 0
		sleep 0.1
	done
	echo "run-revocation.sh: $1 answers $got, expected $3; see $results/caddy-$1.log" >&2
	exit 1
}
for name in plain empty full redis; do expect "$name" "$token" 200; done

echo "== $REVOKED revocations into (c) and (d)" >&2
for name in full redis; do
	"$tmp/revoke" -admin "http://127.0.0.1:${admin[$name]}" -issuer https://idp.bench -n "$REVOKED"
done
# The lists do refuse: another token of the issuer, revoked by its jti on
# (c) and (d), is refused there and passes (b); the benchmark's token
# still passes everywhere.
lowacr="$(cat "$tmp/lowacr.txt")"
for name in full redis; do
	"$tmp/revoke" -admin "http://127.0.0.1:${admin[$name]}" -issuer https://idp.bench -token "$tmp/lowacr.txt"
	curl -s -D - -o /dev/null -H "Authorization: Bearer $lowacr" "http://127.0.0.1:${listen[$name]}/pay" |
		grep -qi '^www-authenticate: Bearer error="invalid_token", error_description="The access token has been revoked"' ||
		{ echo "run-revocation.sh: $name does not refuse a revoked token" >&2; exit 1; }
	expect "$name" "$token" 200
done
expect empty "$lowacr" 200
redis_keys="$(redis-cli -p "$p_redis" zcard 'stepup:{revocations}:ends')"
echo "  Redis holds $redis_keys revocations" >&2

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
clk_tck="$(getconf CLK_TCK)"

load() { # load CASE SECONDS [wrk options]
	local c="$1" seconds="$2"
	shift 2
	wrk -t "$THREADS" -c "$CONNS" -d "${seconds}s" "$@" -H "Authorization: Bearer $token" "http://127.0.0.1:${listen[${gw[$c]}]}/pay"
}

window() { # window ROUND POSITION CASE
	local r="$1" pos="$2" c="$3" pid="${gwpid[${gw[$3]}]}"
	local out="$results/wrk-r$r-$c.txt" before after
	before="$(cpu_ticks "$pid")"
	load "$c" "$DURATION" --latency >"$out"
	after="$(cpu_ticks "$pid")"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$pos" "$c" "$((after - before))" "$clk_tck" "$out" >>"$results/runs.tsv"
	printf '  (%s) %s req/s\n' "$c" "$(awk '/Requests\/sec/ {print $2}' "$out")" >&2
}

echo "== warm-up, ${WARMUP}s per case" >&2
cases=(a b c d)
for c in "${cases[@]}"; do load "$c" "$WARMUP" >/dev/null; done

bench_rounds "$ROUNDS" "${cases[@]}"

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
printf '%s\t%s\n' \
	a 'plain `reverse_proxy` (caddy without the module)' \
	b '`stepup`, valid token (sub, sid, jti), cache on, memory store, no revocation' \
	c "as (b), $REVOKED revocations in the list (memory store)" \
	d "as (c), Redis store (the list kept in Redis, read from the gateway's copy)" >"$tmp/cases.tsv"
{
	echo "### Run of $time_start"
	echo
	echo "- command: \`$command_line\` at $commit (rounds $ROUNDS × ${DURATION} s per case, wrk -t $THREADS -c $CONNS --latency, warm-up ${WARMUP} s per case)"
	echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr); load average at the start $load_start, at the end $(uptime | sed 's/.*load average: //')"
	echo "- $(go version | sed 's/^go version //'); Caddy $("$tmp/caddy-plain" version | awk '{print $1}'); wrk $(wrk -v 2>&1 | awk 'NR==1 {print $2}'); $(redis-server --version | awk '{print $1, $2, $3}')"
	echo "- wrk, the gateways, the upstream and redis-server share the same cores: nothing is pinned."
	echo "- the lists: (c) and (d) each hold $((REVOKED + 1)) revocations (Redis: $redis_keys); VmRSS after the rounds: (b) $(rss "${gwpid[empty]}") KiB, (c) $(rss "${gwpid[full]}") KiB, (d) $(rss "${gwpid[redis]}") KiB"
	echo
	"$tmp/report" -runs "$results/runs.tsv" -cases "$tmp/cases.tsv"
} >"$results/report.md"
cat "$results/report.md"
echo >&2
echo "results in $results" >&2
