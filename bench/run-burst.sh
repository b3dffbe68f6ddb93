#!/usr/bin/env bash
# Benchmarks what a burst of password logins does to the requests the same
# gateway verifies, with and without the bound on concurrent argon2id
# hashes, side by side in one run, on loopback:
#   bounded: `login password` with the default concurrent_hashes (half of
#     GOMAXPROCS, at least 1);
#   every core: concurrent_hashes = GOMAXPROCS (the default before the
#     bound existed).
# Both gateways are tests/caddy built here with `go build`, memory store,
# the default argon2id cost (46 MiB, t=1, p=1), trusting bench/tokens' key
# (served by bench/upstream) on a `stepup payments:write` route proxied to
# bench/upstream. bench/burst signs LOGINS users up on each, then, ROUNDS
# times, the order rotated each round: probes the route quietly for QUIET,
# then sends LOGINS password logins at once and probes the route until they
# are answered. Every request comes from 127.0.0.1: the per-client limits
# are raised.
#
# Usage: bench/run-burst.sh      (about 2 minutes on 2 cores)
# Knobs (environment): LOGINS=200 ROUNDS=5 QUIET=3s
# Output: bench/results/burst-<UTC time>/ (ignored by git): report.md and
#   the caddy logs.
set -euo pipefail

knobs=""
for v in LOGINS ROUNDS QUIET; do
	if [ -n "${!v:-}" ]; then knobs+="$v=${!v} "; fi
done
LOGINS="${LOGINS:-200}"
ROUNDS="${ROUNDS:-5}"
QUIET="${QUIET:-3s}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
command_line="${knobs}bench/run-burst.sh"

# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
bench_setup "burst-"

load_start="$(uptime | sed 's/.*load average: //')"
time_start="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
commit="$(git rev-parse --short HEAD)"
dirty=""
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
	dirty=" (with uncommitted changes to $(git status --porcelain --untracked-files=no | wc -l) tracked files)"
fi

echo "== building (binaries in $tmp)" >&2
go build -o "$tmp/caddy-stepup" ./tests/caddy
for tool in freeport tokens upstream burst; do
	go build -o "$tmp/$tool" "./bench/$tool"
done
procs="$(nproc)"

"$tmp/tokens" -out "$tmp" -issuer https://idp.bench -scope payments:write >/dev/null

mapfile -t ports < <("$tmp/freeport" -n 6)
p_up="${ports[0]}"
p_inbox="${ports[1]}"
declare -A port=([bounded]="${ports[2]}" [everycore]="${ports[3]}")
declare -A admin=([bounded]="${ports[4]}" [everycore]="${ports[5]}")
declare -A hashes=([bounded]="" [everycore]="concurrent_hashes $procs")

"$tmp/upstream" -addr "127.0.0.1:$p_up" -jwks "$tmp/jwks.json" >"$results/upstream.log" 2>&1 &
pids+=($!)

for name in bounded everycore; do
	base="http://127.0.0.1:${port[$name]}"
	cat >"$tmp/$name.caddyfile" <<CONF
{
	admin 127.0.0.1:${admin[$name]}
	auto_https off
	persist_config off
	storage file_system $tmp/storage-$name
	stepup {
		issuer $base
		trust https://idp.bench {
			jwks_url http://127.0.0.1:$p_up/.well-known/jwks.json
		}
		login password {
			min_length 12
			${hashes[$name]}
		}
		otp {
			sender webhook http://127.0.0.1:$p_inbox/send
		}
		limits {
			client_unproven_sends 1000000 1h
			client_destination_sends 1000000 1h
			client_sends 1000000 1h
			client_unfinished_logins 1000000 1m
			client_login_starts 1000000 1m
			login_starts 1000000 1m
			sends 1000000 1m
		}
	}
}

$base {
	bind 127.0.0.1
	route /pay {
		stepup payments:write
		reverse_proxy 127.0.0.1:$p_up
	}
	stepup_session
}
CONF
	"$tmp/caddy-stepup" run --config "$tmp/$name.caddyfile" --adapter caddyfile >"$results/caddy-$name.log" 2>&1 &
	pids+=($!)
done

echo "== measuring ($ROUNDS rounds of $LOGINS logins on each gateway)" >&2
"$tmp/burst" -inbox "127.0.0.1:$p_inbox" -token "$tmp/valid.txt" -route /pay -logins "$LOGINS" -rounds "$ROUNDS" -quiet "$QUIET" \
	-gateway "bounded=http://127.0.0.1:${port[bounded]}" -gateway "everycore=http://127.0.0.1:${port[everycore]}" \
	>"$tmp/burst.md" 2> >(tee "$results/burst.log" >&2)

{
	echo "### Password-login burst, $time_start"
	echo
	echo "Command: \`$command_line\`, commit $commit$dirty; $procs cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), GOMAXPROCS $procs;"
	echo "load average before: $load_start, after: $(uptime | sed 's/.*load average: //')."
	echo "\`bounded\`: the default \`concurrent_hashes\` ($(( procs / 2 > 0 ? procs / 2 : 1 )) here); \`everycore\`: \`concurrent_hashes $procs\`."
	echo
	cat "$tmp/burst.md"
} >"$results/report.md"
cat "$results/report.md"
