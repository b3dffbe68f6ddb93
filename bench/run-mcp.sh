#!/usr/bin/env bash
# Benchmarks the MCP tool check of the `stepup` handler against plain
# Caddy, side by side in one run, on loopback. Every request is what an MCP
# client POSTs: one JSON-RPC tools/call, `application/json`.
#   (a) plain reverse_proxy, Caddy without this module, a 150-byte tools/call
#   (b) `stepup mcp:tools`, no mcp block: the token checked (cache on), the
#       JSON body streamed unread
#   (c) `stepup mcp:tools` with an mcp block of 20 tools: the body read
#       whole, parsed by the strict reader, its tool looked up; get_balance
#       is not declared (the route's scope is enough)
#   (d) as (c), calling transfer_funds, declared with payments:write, which
#       the token has
#   (e) plain reverse_proxy, a 16 KiB tools/call (long arguments)
#   (f) as (c), with the 16 KiB tools/call of (e)
# (c) − (b) is what the tool check costs a request; (f) − (e) the same for
# a large body.
#
# Both Caddy binaries are built here with `go build` from this checkout's
# go.mod (bench/plaincaddy and tests/caddy). Load comes from wrk (Debian's
# package, installed when missing) with a Lua script per case that POSTs
# its body, one window per case and round, the order rotated each round;
# the report gives medians over rounds (bench/report).
#
# Usage: bench/run-mcp.sh        (about 7 minutes on 2 cores)
# Knobs (environment): ROUNDS=5 DURATION=10 CONNS=32 THREADS=2 WARMUP=3
# Output: bench/results/mcp-<UTC time>/ (ignored by git): report.md, the
#   raw wrk outputs and runs.tsv, caddy logs.
set -euo pipefail

knobs=""
for v in ROUNDS DURATION CONNS THREADS WARMUP; do
	if [ -n "${!v:-}" ]; then knobs+="$v=${!v} "; fi
done
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-32}"
THREADS="${THREADS:-2}"
WARMUP="${WARMUP:-3}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
command_line="${knobs}bench/run-mcp.sh"

# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
bench_need_wrk
bench_setup "mcp-"
time_start="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
load_start="$(uptime | sed 's/.*load average: //')"
commit="$(git rev-parse --short HEAD)"

echo "== building (binaries in $tmp)" >&2
go build -o "$tmp/caddy-plain" ./bench/plaincaddy
go build -o "$tmp/caddy-stepup" ./tests/caddy
for tool in upstream tokens freeport report; do
	go build -o "$tmp/$tool" "./bench/$tool"
done

"$tmp/tokens" -out "$tmp" -issuer https://idp.bench -scope "mcp:tools payments:write" -narrow-scope mcp:tools >/dev/null
valid="$(cat "$tmp/valid.txt")"

mapfile -t ports < <("$tmp/freeport" -n 7)
p_up="${ports[0]}"
declare -A listen=([plain]="${ports[1]}" [bare]="${ports[2]}" [mcp]="${ports[3]}")
declare -A admin=([plain]="${ports[4]}" [bare]="${ports[5]}" [mcp]="${ports[6]}")
declare -A gw=([a]=plain [b]=bare [c]=mcp [d]=mcp [e]=plain [f]=mcp)

"$tmp/upstream" -addr "127.0.0.1:$p_up" -jwks "$tmp/jwks.json" >"$results/upstream.log" 2>&1 &
pids+=($!)

# The bodies: a tools/call as the MCP SDK's client sends it.
call() { # call ID TOOL ARGUMENTS
	printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"%s","arguments":%s,"_meta":{"progressToken":%s}}}' "$1" "$2" "$3" "$1"
}
long="$(head -c 16200 /dev/zero | tr "\0" a)"
declare -A body=(
	[a]="$(call 7 get_balance '{"account":"DE02100100109307118603"}')"
	[b]="$(call 7 get_balance '{"account":"DE02100100109307118603"}')"
	[c]="$(call 7 get_balance '{"account":"DE02100100109307118603"}')"
	[d]="$(call 7 transfer_funds '{"amount":500,"iban":"DE02100100109307118603"}')"
	[e]="$(call 7 get_balance "{\"account\":\"DE02100100109307118603\",\"memo\":\"$long\"}")"
	[f]="$(call 7 get_balance "{\"account\":\"DE02100100109307118603\",\"memo\":\"$long\"}")"
)
for c in a b c d e f; do
	printf '%s' "${body[$c]}" >"$tmp/body-$c.json"
	cat >"$tmp/post-$c.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Mcp-Protocol-Version"] = "2025-11-25"
local f = io.open("$tmp/body-$c.json", "rb")
wrk.body = f:read("*a")
f:close()
EOF
done

# The mcp block: 20 tools, transfer_funds among them.
tools=""
for i in $(seq 1 19); do
	tools+="				tool tool_$i files:read"$'\n'
done
tools+="				tool transfer_funds payments:write"

trust="	stepup {
		trust https://idp.bench {
			jwks_url http://127.0.0.1:$p_up/.well-known/jwks.json
		}
	}"
gateway() { # gateway NAME GLOBAL_OPTIONS ROUTE_LINES
	cat >"$tmp/$1.caddyfile" <<EOF
{
	admin 127.0.0.1:${admin[$1]}
	auto_https off
	persist_config off
	storage file_system $tmp/storage-$1
$2
}

http://127.0.0.1:${listen[$1]} {
	bind 127.0.0.1
	route {
$3
		reverse_proxy 127.0.0.1:$p_up
	}
}
EOF
}
gateway plain "" ""
gateway bare "$trust" "		stepup mcp:tools"
gateway mcp "$trust" "		stepup mcp:tools {
			mcp {
$tools
			}
		}"

declare -A gwpid
for name in plain bare mcp; do
	bin="$tmp/caddy-stepup"
	[ "$name" = plain ] && bin="$tmp/caddy-plain"
	"$bin" run --config "$tmp/$name.caddyfile" --adapter caddyfile >"$results/caddy-$name.log" 2>&1 &
	gwpid[$name]=$!
	pids+=($!)
done

# status GATEWAY TOKEN BODY_FILE: the status of one POST.
status() {
	curl -s -o /dev/null -w '%{http_code}' -X POST -H "Content-Type: application/json" -H "Authorization: Bearer $2" \
		--data-binary "@$3" "http://127.0.0.1:${listen[$1]}/mcp" || true
}
expect() { # expect CASE STATUS
	local got=""
	for _ in $(seq 100); do
		got="$(status "${gw[$1]}" "$valid" "$tmp/body-$1.json")"
		[ "$got" = "$2" ] && return 0
		sleep 0.1
	done
	echo "run-mcp.sh: case ($1) answers $got, expected $2; see $results/caddy-${gw[$1]}.log" >&2
	exit 1
}
for c in a b c d e f; do expect "$c" 200; done
# The mcp gateway does judge the tool: transfer_funds without its scope is
# refused, and so is a body that names two tools.
got="$(status mcp "$(cat "$tmp/narrow.txt")" "$tmp/body-d.json")"
[ "$got" = 403 ] || { echo "run-mcp.sh: transfer_funds without payments:write answers $got" >&2; exit 1; }
printf '%s' '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance","name":"transfer_funds"}}' >"$tmp/two-names.json"
got="$(status mcp "$valid" "$tmp/two-names.json")"
[ "$got" = 400 ] || { echo "run-mcp.sh: a body naming two tools answers $got" >&2; exit 1; }

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
clk_tck="$(getconf CLK_TCK)"

load() { # load CASE SECONDS [wrk options]
	local c="$1" seconds="$2"
	shift 2
	wrk -t "$THREADS" -c "$CONNS" -d "${seconds}s" "$@" -s "$tmp/post-$c.lua" \
		-H "Authorization: Bearer $valid" "http://127.0.0.1:${listen[${gw[$c]}]}/mcp"
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
cases=(a b c d e f)
for c in "${cases[@]}"; do load "$c" "$WARMUP" >/dev/null; done

bench_rounds "$ROUNDS" "${cases[@]}"

printf '%s\t%s\n' \
	a 'plain `reverse_proxy` (caddy without the module), 150-byte tools/call' \
	b '`stepup mcp:tools`, no mcp block (token checked, the JSON body streamed unread)' \
	c '`stepup mcp:tools` + an mcp block of 20 tools, an undeclared tool (body read, parsed, looked up)' \
	d 'as (c), the declared transfer_funds (payments:write, which the token has)' \
	e 'plain `reverse_proxy`, 16 KiB tools/call' \
	f 'as (c), the 16 KiB tools/call of (e)' >"$tmp/cases.tsv"
{
	echo "### Run of $time_start"
	echo
	echo "- command: \`$command_line\` at $commit (rounds $ROUNDS × ${DURATION} s per case, wrk -t $THREADS -c $CONNS --latency, warm-up ${WARMUP} s per case)"
	echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr); load average at the start $load_start, at the end $(uptime | sed 's/.*load average: //')"
	echo "- $(go version | sed 's/^go version //'); Caddy $("$tmp/caddy-plain" version | awk '{print $1}'); wrk $(wrk -v 2>&1 | awk 'NR==1 {print $2}')"
	echo "- wrk, the gateways and the upstream (bench/upstream) share the same cores: nothing is pinned."
	echo
	"$tmp/report" -runs "$results/runs.tsv" -cases "$tmp/cases.tsv"
} >"$results/report.md"
cat "$results/report.md"
echo >&2
echo "results in $results" >&2
