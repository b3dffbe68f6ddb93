#!/usr/bin/env bash
# Benchmarks the `stepup` handler against plain Caddy, side by side in one
# run, on loopback:
#   (a) plain reverse_proxy, Caddy without this module
#   (b) stepup + reverse_proxy, valid ES256 token with the scope (cache on)
#   (c) the same with `token_cache off` (every request verifies the signature)
#   (d) a valid token lacking the scope (the 401 step-up challenge)
#   (e) as (b), but the token is DPoP-bound (cnf.jkt) and sent with the DPoP
#       scheme and a fresh ES256 proof per request (bench/proofs makes them
#       right before each window, bench/dpop.lua sends each once): one proof
#       verification and one replay marker (memory store) per request. On a
#       gateway of its own: the markers it leaves (about a minute's worth,
#       tens of thousands) are heap that every GC cycle of their process
#       scans, a cost of (e) that the (b) gateway would otherwise pay
#   (f) as (b), on a route of the same gateway that also requires an acr
#       and a max_age (RFC 9470), which the token's acr and auth_time meet
#   (g) with BASELINE=<checkout>: (b) on a gateway built from that checkout
#       (e.g. `git worktree add --detach /tmp/before main`), so that two
#       builds alternate window by window in one sitting
# then the memory check: DISTINCT distinct valid tokens and GARBAGE garbage
# tokens sent to a fresh gateway, its VmRSS read before and after.
#
# Both Caddy binaries are built here with `go build` from this checkout's
# go.mod (bench/plaincaddy and tests/caddy), so they link the same Caddy
# and differ only by this module. Load comes from wrk (Debian's package,
# installed when missing), one window per case and round, the order of the
# cases rotated each round; the report gives medians over rounds.
#
# Usage: bench/run.sh            (about 6-7 minutes on 2 cores)
# Knobs (environment): ROUNDS=5 DURATION=10 CONNS=32 THREADS=2 WARMUP=3
#   DISTINCT=100000 GARBAGE=1000000 MEM=1 (0 skips the memory check)
#   PROOF_RATE=15000 (DPoP proofs made per second of window: more than (e)
#   can use, or the last ones are replayed and counted as non-2xx)
#   PROFILE=0 (1 also saves 10 s CPU profiles of (a), (b), (c), (e), (f)
#   and (g) with pprof tops, and profile-diff.md: per request, where (b)
#   spends more CPU than (a))
#   BASELINE= (a checkout whose gateway runs case (g); none: no (g))
# Output: bench/results/<UTC time>/ (ignored by git): report.md, the raw wrk
# outputs and runs.tsv, caddy logs, memory.json, profiles.
set -euo pipefail

# The knobs set by the caller, for the report.
knobs=""
for v in ROUNDS DURATION CONNS THREADS WARMUP DISTINCT GARBAGE MEM PROFILE PROOF_RATE BASELINE; do
	if [ -n "${!v:-}" ]; then knobs+="$v=${!v} "; fi
done

ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-32}"
THREADS="${THREADS:-2}"
WARMUP="${WARMUP:-3}"
DISTINCT="${DISTINCT:-100000}"
GARBAGE="${GARBAGE:-1000000}"
MEM="${MEM:-1}"
PROFILE="${PROFILE:-0}"
PROOF_RATE="${PROOF_RATE:-15000}"
BASELINE="${BASELINE:-}"
if [ -n "$BASELINE" ]; then BASELINE="$(cd "$BASELINE" && pwd)"; fi

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
command_line="${knobs}bench/run.sh"

# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
bench_need_wrk
bench_setup ""

echo "== building (binaries in $tmp)" >&2
go build -o "$tmp/caddy-plain" ./bench/plaincaddy
go build -o "$tmp/caddy-stepup" ./tests/caddy
if [ -n "$BASELINE" ]; then
	(cd "$BASELINE" && go build -o "$tmp/caddy-base" ./tests/caddy)
fi
for tool in upstream tokens proofs freeport memload report; do
	go build -o "$tmp/$tool" "./bench/$tool"
done

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "== keys and tokens" >&2
"$tmp/tokens" -out "$tmp" -issuer https://idp.bench -scope payments:write -distinct "$DISTINCT"
valid="$(cat "$tmp/valid.txt")"
noscope="$(cat "$tmp/noscope.txt")"
bound="$(cat "$tmp/bound.txt")"

mapfile -t ports < <("$tmp/freeport" -n 13)
p_up="${ports[0]}"
declare -A port=([a]="${ports[1]}" [b]="${ports[2]}" [c]="${ports[3]}" [d]="${ports[2]}" [e]="${ports[11]}" [f]="${ports[2]}" [m]="${ports[4]}"
	[g]="${ports[9]}")
# The request path of each case: (f) is the acr route of the (b) gateway.
declare -A path=([a]=/pay [b]=/pay [c]=/pay [d]=/pay [e]=/pay [f]=/acr/pay [m]=/pay [g]=/pay)
declare -A admin=([plain]="${ports[5]}" [stepup]="${ports[6]}" [nocache]="${ports[7]}" [mem]="${ports[8]}" [base]="${ports[10]}"
	[dpop]="${ports[12]}")

"$tmp/upstream" -addr "127.0.0.1:$p_up" -jwks "$tmp/jwks.json" >"$results/upstream.log" 2>&1 &
pids+=($!)

# caddyfile NAME PORT STEPUP_OPTIONS HANDLER [ROUTES]: one gateway on
# loopback, plain http, admin API (and /debug/pprof) on its own loopback
# port; ROUTES come before the catch-all route of HANDLER.
caddyfile() {
	local name="$1" listen="$2" options="$3" handler="$4" routes="${5:-}"
	cat >"$tmp/$name.caddyfile" <<EOF
{
	admin 127.0.0.1:${admin[$name]}
	auto_https off
	persist_config off
	storage file_system $tmp/storage-$name
$options
}

http://127.0.0.1:$listen {
	bind 127.0.0.1
$routes
	route {
$handler
		reverse_proxy 127.0.0.1:$p_up
	}
}
EOF
}

trust_block() {
	cat <<EOF
	stepup {
		# Scope blocks need the gateway's own issuer (it mints the tokens
		# that carry stepped-up scopes); nothing here is minted.
		issuer https://gateway.bench
		trust https://idp.bench {
			jwks_url http://127.0.0.1:$p_up/.well-known/jwks.json
		}
		# A scope block makes a missing payments:write a step-up challenge
		# (401 insufficient_user_authentication) rather than a 403. The hook
		# is never called by the enforcement path measured here.
		scope payments:write {
			delegated http://127.0.0.1:$p_up/hooks/stepup
		}
$1
	}
EOF
}

caddyfile plain "${port[a]}" "" ""
acr_route="	route /acr/* {
		stepup payments:write {
			acr urn:bench:loa2
			max_age 1h
		}
		reverse_proxy 127.0.0.1:$p_up
	}"
caddyfile stepup "${port[b]}" "$(trust_block "")" "		stepup payments:write" "$acr_route"
caddyfile nocache "${port[c]}" "$(trust_block "		token_cache off")" "		stepup payments:write"
caddyfile dpop "${port[e]}" "$(trust_block "")" "		stepup payments:write"
caddyfile mem "${port[m]}" "$(trust_block "")" "		stepup payments:write"
caddyfile base "${port[g]}" "$(trust_block "")" "		stepup payments:write" "$acr_route"

declare -A gwpid
start_gateway() {
	local name="$1" bin="$2"
	"$bin" run --config "$tmp/$name.caddyfile" --adapter caddyfile >"$results/caddy-$name.log" 2>&1 &
	gwpid[$name]=$!
	pids+=($!)
}
start_gateway plain "$tmp/caddy-plain"
start_gateway stepup "$tmp/caddy-stepup"
start_gateway nocache "$tmp/caddy-stepup"
start_gateway dpop "$tmp/caddy-stepup"
cases=(a b c d e f)
if [ -n "$BASELINE" ]; then
	start_gateway base "$tmp/caddy-base"
	cases+=(g)
fi
declare -A gw=([a]=plain [b]=stepup [c]=nocache [d]=stepup [e]=dpop [f]=stepup [g]=base)
declare -A tok=([a]="$valid" [b]="$valid" [c]="$valid" [d]="$noscope" [e]="$bound" [f]="$valid" [g]="$valid")
declare -A scheme=([a]=Bearer [b]=Bearer [c]=Bearer [d]=Bearer [e]=DPoP [f]=Bearer [m]=Bearer [g]=Bearer)

# proofs_for SECONDS: a fresh file of single-use DPoP proofs for (e).
proofs_for() {
	"$tmp/proofs" -key "$tmp/dpop-key.pem" -token "$tmp/bound.txt" -method GET \
		-url "http://127.0.0.1:${port[e]}/pay" -n "$((PROOF_RATE * $1 + 1000))" -out "$tmp/proofs.txt"
}

# load_prepared CASE SECONDS [wrk options...]: wrk against the case's
# gateway with the case's credentials; (e) sends one proof of
# $tmp/proofs.txt per request (make it first with proofs_for).
load_prepared() {
	local c="$1" seconds="$2"
	shift 2
	local script=()
	if [ "$c" = e ]; then
		script=(-s "$repo/bench/dpop.lua")
	fi
	wrk -t "$THREADS" -c "$CONNS" -d "${seconds}s" "$@" "${script[@]}" \
		-H "Authorization: ${scheme[$c]} ${tok[$c]}" "http://127.0.0.1:${port[$c]}${path[$c]}" \
		${script:+-- "$tmp/proofs.txt" "$THREADS"}
}

# load CASE SECONDS: load_prepared, with fresh proofs for (e).
load() {
	[ "$1" = e ] && proofs_for "$2"
	load_prepared "$@"
}

# expect CASE STATUS: the gateway answers the case's request with STATUS.
expect() {
	local c="$1" want="$2" got=""
	for _ in $(seq 100); do
		local proof=()
		if [ "$c" = e ]; then
			"$tmp/proofs" -key "$tmp/dpop-key.pem" -token "$tmp/bound.txt" -url "http://127.0.0.1:${port[e]}/pay" -n 1 -out "$tmp/one-proof.txt"
			proof=(-H "DPoP: $(cat "$tmp/one-proof.txt")")
		fi
		got="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: ${scheme[$c]} ${tok[$c]}" "${proof[@]}" "http://127.0.0.1:${port[$c]}${path[$c]}" || true)"
		[ "$got" = "$want" ] && return 0
		sleep 0.1
	done
	echo "run.sh: case ($c) answers $got, expected $want; see $results/caddy-${gw[$c]}.log" >&2
	exit 1
}
expect a 200
expect b 200
expect c 200
expect d 401
expect e 200
expect f 200
if [ -n "$BASELINE" ]; then expect g 200; fi
# The (f) route does check: a token with another acr is challenged there.
# (The headers are read whole before grep -q looks at them: with pipefail,
# a curl cut off by grep's early exit would fail the check.)
headers="$(curl -s -D - -o /dev/null -H "Authorization: Bearer $(cat "$tmp/lowacr.txt")" "http://127.0.0.1:${port[f]}${path[f]}")"
grep -qi '^www-authenticate: Bearer error="insufficient_user_authentication", .*acr_values="urn:bench:loa2"' <<<"$headers" ||
	{ echo "run.sh: the (f) route does not enforce" >&2; exit 1; }
headers="$(curl -s -D - -o /dev/null -H "Authorization: Bearer $noscope" "http://127.0.0.1:${port[d]}/pay")"
grep -qi '^www-authenticate: Bearer error="insufficient_user_authentication"' <<<"$headers" ||
	{ echo "run.sh: case (d) is not a step-up challenge" >&2; exit 1; }

cpu_ticks() { # utime+stime of a process, in clock ticks (fields 14 and 15)
	sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
clk_tck="$(getconf CLK_TCK)"

# window ROUND POSITION CASE: one measured wrk window.
window() {
	local r="$1" pos="$2" c="$3" pid="${gwpid[${gw[$3]}]}"
	local out="$results/wrk-r$r-$c.txt" before after
	[ "$c" = e ] && proofs_for "$DURATION" # before the CPU count starts
	before="$(cpu_ticks "$pid")"
	load_prepared "$c" "$DURATION" --latency >"$out"
	after="$(cpu_ticks "$pid")"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$pos" "$c" "$((after - before))" "$clk_tck" "$out" >>"$results/runs.tsv"
	printf '  (%s) %s req/s\n' "$c" "$(awk '/Requests\/sec/ {print $2}' "$out")" >&2
}

echo "== warm-up, ${WARMUP}s per case" >&2
for c in "${cases[@]}"; do
	load "$c" "$WARMUP" >/dev/null
done

bench_rounds "$ROUNDS" "${cases[@]}"

if [ "$PROFILE" = 1 ]; then
	for c in a b c e f ${BASELINE:+g}; do
		echo "== CPU profile of ($c)" >&2
		bin="$tmp/caddy-stepup"
		[ "$c" = a ] && bin="$tmp/caddy-plain"
		[ "$c" = g ] && bin="$tmp/caddy-base"
		[ "$c" = e ] && proofs_for 12
		load_prepared "$c" 12 >"$results/profile-wrk-$c.txt" &
		sleep 1
		curl -s -o "$results/cpu-$c.pprof" "http://127.0.0.1:${admin[${gw[$c]}]}/debug/pprof/profile?seconds=10"
		wait $!
		go tool pprof -top -nodecount=40 "$bin" "$results/cpu-$c.pprof" >"$results/cpu-$c-top.txt" 2>/dev/null
		go tool pprof -top -cum -nodecount=40 "$bin" "$results/cpu-$c.pprof" >"$results/cpu-$c-cum.txt" 2>/dev/null
	done
	rps_of() { awk '/Requests\/sec/ {print $2}' "$results/profile-wrk-$1.txt"; }
	{
		echo "Where (b) spends more CPU than (a), per request, from the CPU profiles (10 s of load each, taken one after the other):"
		echo
		bench_profile_diff "(a)" "$tmp/caddy-plain" "$results/cpu-a.pprof" "$(rps_of a)" \
			"(b)" "$tmp/caddy-stepup" "$results/cpu-b.pprof" "$(rps_of b)"
		if [ -n "$BASELINE" ]; then
			echo
			echo "(b) on this checkout's build beside (g), the same case on the BASELINE build:"
			echo
			bench_profile_diff "(g)" "$tmp/caddy-base" "$results/cpu-g.pprof" "$(rps_of g)" \
				"(b)" "$tmp/caddy-stepup" "$results/cpu-b.pprof" "$(rps_of b)"
		fi
	} >"$results/profile-diff.md"
fi

mem_args=()
if [ "$MEM" = 1 ]; then
	echo "== memory: $DISTINCT distinct valid tokens, $GARBAGE garbage tokens" >&2
	# A fresh gateway, alone: the others are stopped so they do not compete.
	for name in plain stepup nocache dpop ${BASELINE:+base}; do kill "${gwpid[$name]}"; wait "${gwpid[$name]}" 2>/dev/null || true; done
	start_gateway mem "$tmp/caddy-stepup"
	gw[m]=mem tok[m]="$valid"
	expect m 200
	"$tmp/memload" -url "http://127.0.0.1:${port[m]}/pay" -pid "${gwpid[mem]}" \
		-distinct "$tmp/distinct.txt" -template "$tmp/valid.txt" -garbage "$GARBAGE" \
		-c "$CONNS" -out "$results/memory.json" >&2
	mem_args=(-mem "$results/memory.json")
fi

{
	echo "### Run of $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- command: \`$command_line\` (rounds $ROUNDS × ${DURATION} s per case, wrk -t $THREADS -c $CONNS --latency, warm-up ${WARMUP} s per case)"
	echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo), $(uname -sr)"
	echo "- $(go version | sed 's/^go version //'); Caddy $("$tmp/caddy-plain" version | awk '{print $1}'); wrk $(wrk -v 2>&1 | awk 'NR==1 {print $2}')"
	echo "- wrk, the gateway, and the upstream (bench/upstream) all share the same cores: nothing is pinned."
	echo "- load average (1, 5, 15 min) when the gateways started: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	if [ -n "$BASELINE" ]; then
		echo "- (g) runs the build of $BASELINE ($(git -C "$BASELINE" rev-parse --short HEAD 2>/dev/null || echo "not a git checkout")); the others this checkout's ($(git rev-parse --short HEAD))"
	fi
	echo
	"$tmp/report" -runs "$results/runs.tsv" "${mem_args[@]}"
	if [ -f "$results/profile-diff.md" ]; then
		echo
		cat "$results/profile-diff.md"
	fi
} >"$results/report.md"
cat "$results/report.md"
echo >&2
echo "results in $results" >&2
