#!/usr/bin/env bash
# Benchmarks the session and step-up API on loopback:
#   sessions (bench/session): OTP login + refreshes per user, many users in
#     parallel, unpaced then paced at a fixed rate, against the memory store
#     and against Redis;
#   step-up (bench/stepup): full flows (request → OTP → check → refresh →
#     one protected call, then the same call again) on Redis, unpaced then
#     paced at a fixed rate, with a delegation hook, the OTP webhook and the
#     upstream in the bench process;
#   password logins (bench/password): sign-ups, then password logins and
#     wrong passwords (one argon2id verification each, default cost), on
#     the memory store.
#
# The gateway is tests/caddy built here with `go build`; redis-server is
# started here on a free loopback port (never the one on 6379) with no
# persistence, and stopped by pid.
#
# Usage: bench/run-session.sh    (about 2-3 minutes on 2 cores)
# Knobs (environment): USERS=2000 CONC=32 REFRESHES=10 RATE=1000 PACED=30s
#   FLOWS=3000 FLOW_CONC=16 FLOW_RATE=300 FLOW_PACED=10s RT_CALLS=300
#   PW_USERS=200 PW_CONC=8 (password users, and requests in flight)
#   REFUSALS=2000 (login starts past one client's limit, on a gateway
#   with the default limits, to count what each refusal costs in Redis)
#   PROFILE=0 (1 also saves CPU profiles of the gateways during the paced
#   Redis refresh phase and the unpaced step-up flows, with pprof tops)
#   PLAIN_REQUESTS=20000 (requests to a plain reverse_proxy before and
#   after the unpaced flows: the unit of a flow's CPU)
#   GATEWAY_FROM=<checkout> (build the gateway from another checkout of
#   this module, e.g. an older commit's worktree, with this checkout's
#   bench programs: two builds compared by the same measurements)
#   PW_USERS=0 skips the password logins
# Output: bench/results/session-<UTC time>/ (ignored by git): report.md,
#   caddy and redis logs, profiles.
set -euo pipefail

knobs=""
for v in USERS CONC REFRESHES RATE PACED FLOWS FLOW_CONC FLOW_RATE FLOW_PACED RT_CALLS REFUSALS PW_USERS PW_CONC PROFILE PLAIN_REQUESTS GATEWAY_FROM; do
	if [ -n "${!v:-}" ]; then knobs+="$v=${!v} "; fi
done
USERS="${USERS:-2000}"
CONC="${CONC:-32}"
REFRESHES="${REFRESHES:-10}"
RATE="${RATE:-1000}"
PACED="${PACED:-30s}"
FLOWS="${FLOWS:-3000}"
FLOW_CONC="${FLOW_CONC:-16}"
FLOW_RATE="${FLOW_RATE:-300}"
FLOW_PACED="${FLOW_PACED:-10s}"
RT_CALLS="${RT_CALLS:-300}"
REFUSALS="${REFUSALS:-2000}"
PW_USERS="${PW_USERS:-200}"
PW_CONC="${PW_CONC:-8}"
PROFILE="${PROFILE:-0}"
PLAIN_REQUESTS="${PLAIN_REQUESTS:-20000}"
GATEWAY_FROM="${GATEWAY_FROM:-}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
command_line="${knobs}bench/run-session.sh"

# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
bench_setup "session-"

load_start="$(uptime | sed 's/.*load average: //')"
time_start="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"

commit="$(git rev-parse --short HEAD)"
dirty=""
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
	dirty=" (with uncommitted changes to $(git status --porcelain --untracked-files=no | wc -l) tracked files)"
fi
gateway_commit="$commit$dirty"
echo "== building (binaries in $tmp)" >&2
if [ -n "$GATEWAY_FROM" ]; then
	gateway_commit="$(git -C "$GATEWAY_FROM" rev-parse --short HEAD) (built from $GATEWAY_FROM)"
	(cd "$GATEWAY_FROM" && go build -o "$tmp/caddy-stepup" ./tests/caddy)
else
	go build -o "$tmp/caddy-stepup" ./tests/caddy
fi
go build -o "$tmp/caddy-plain" ./bench/plaincaddy
for tool in freeport session stepup password; do
	go build -o "$tmp/$tool" "./bench/$tool"
done

mapfile -t ports < <("$tmp/freeport" -n 20)
p_redis="${ports[0]}"
declare -A port=([mem]="${ports[1]}" [redis]="${ports[2]}" [stepup]="${ports[3]}" [limited]="${ports[13]}" [password]="${ports[15]}")
declare -A admin=([mem]="${ports[4]}" [redis]="${ports[5]}" [stepup]="${ports[6]}" [limited]="${ports[14]}" [password]="${ports[16]}")
# The limited gateway sends its (twenty) codes to the Redis session benchmark's webhook.
declare -A inbox=([mem]="${ports[7]}" [redis]="${ports[8]}" [stepup]="${ports[9]}" [limited]="${ports[8]}" [password]="${ports[17]}")
p_hook="${ports[10]}"
p_upstream="${ports[11]}"
p_plain="${ports[18]}"
p_plain_admin="${ports[19]}"

redis-server --port "$p_redis" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
	>"$results/redis.log" 2>&1 &
redis_pid=$!
pids+=($!)
for _ in $(seq 50); do
	redis-cli -p "$p_redis" ping >/dev/null 2>&1 && break
	sleep 0.1
done

# caddyfile NAME STORE_LINE EXTRA_OPTIONS SITE: one gateway on loopback,
# plain http (issuer = its http origin), admin API and /debug/pprof on its
# own loopback port, OTP codes to the bench process's webhook.
caddyfile() {
	local name="$1" store="$2" options="$3" site="$4" base="http://127.0.0.1:${port[$1]}"
	cat >"$tmp/$name.caddyfile" <<CONF
{
	admin 127.0.0.1:${admin[$name]}
	auto_https off
	persist_config off
	storage file_system $tmp/storage-$name
	stepup {
		issuer $base
		$store
		login otp phone_number
		otp {
			sender webhook http://127.0.0.1:${inbox[$name]}/send
		}
$options
	}
}

$base {
	bind 127.0.0.1
	stepup_session
$site
}
CONF
}
# Every request of the throughput benchmarks comes from 127.0.0.1, which
# stands for many clients: the per-client limits are raised there (their
# counters are still kept, so their cost is measured). The "limited"
# gateway keeps the defaults, for the refused-start measurement.
many_clients="		limits {
			client_unproven_sends 1000000 1h
			client_destination_sends 1000000 1h
			client_unfinished_logins 1000000 1m
			client_login_starts 1000000 1m
			client_sends 1000000 1m
			login_starts 1000000 1m
			sends 1000000 1m
		}"
caddyfile mem "" "$many_clients" ""
caddyfile redis "store redis redis://127.0.0.1:$p_redis/0" "$many_clients" ""
caddyfile limited "store redis redis://127.0.0.1:$p_redis/2" "" ""
caddyfile stepup "store redis redis://127.0.0.1:$p_redis/1" "$many_clients
		scope transfer:write {
			delegated http://127.0.0.1:$p_hook/hook
		}" "	route /api/transfers* {
		stepup transfer:write
		reverse_proxy 127.0.0.1:$p_upstream
	}
	respond 404"

caddyfile password "" "$many_clients
		login password {
			min_length 12
		}" ""

# The unit: plain Caddy proxying to the step-up benchmark's upstream.
cat >"$tmp/plain.caddyfile" <<CONF
{
	admin 127.0.0.1:$p_plain_admin
	auto_https off
	persist_config off
	storage file_system $tmp/storage-plain
}

http://127.0.0.1:$p_plain {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$p_upstream
}
CONF
"$tmp/caddy-plain" run --config "$tmp/plain.caddyfile" --adapter caddyfile >"$results/caddy-plain.log" 2>&1 &
plain_pid=$!
pids+=($!)

declare -A gwpid
for name in mem redis stepup limited password; do
	"$tmp/caddy-stepup" run --config "$tmp/$name.caddyfile" --adapter caddyfile >"$results/caddy-$name.log" 2>&1 &
	gwpid[$name]=$!
	pids+=($!)
done

# profile_args NAME: the flags that make a bench program save a profile.
profile_args() {
	if [ "$PROFILE" = 1 ]; then
		echo "-profile-url http://127.0.0.1:${admin[$1]}/debug/pprof/profile -profile-out $results/cpu-$1.pprof"
	fi
}
sections="$tmp/sections.md"
: >"$sections"

# The machine is shared: how much CPU did others take while a benchmark
# ran? Other processes of this machine: its busy ticks (/proc/stat user,
# nice, system; irq and softirq time is charged to no process) minus those
# of this run's processes: the gateways and redis-server (utime+stime) and
# this script's waited-for children (cutime+cstime: the bench program).
# Other guests of the host: the steal ticks.
clk_tck="$(getconf CLK_TCK)"
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4}' /proc/stat; }
steal_ticks() { awk '/^cpu / {print $9}' /proc/stat; }
own_ticks() {
	local total=0 pid
	for pid in "${gwpid[@]}" "$redis_pid" "$plain_pid"; do
		total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
	done
	echo $((total + $(sed 's/^.*) //' "/proc/$$/stat" | awk '{print $14 + $15}')))
}
# measure NAME COMMAND...: runs the command, appends its output to the
# report, then a line on the other processes' CPU and the load average.
measure() {
	local name="$1" b0 o0 s0 t0 b1 o1 s1 t1
	shift
	b0="$(busy_ticks)" o0="$(own_ticks)" s0="$(steal_ticks)" t0="$(date +%s.%N)"
	"$@" >>"$sections"
	b1="$(busy_ticks)" o1="$(own_ticks)" s1="$(steal_ticks)" t1="$(date +%s.%N)"
	awk -v b="$((b1 - b0))" -v st="$((s1 - s0))" -v o="$((o1 - o0))" -v hz="$clk_tck" -v s="$t0" -v e="$t1" -v n="$(nproc)" -v name="$name" -v la="$(uptime | sed 's/.*load average: //')" \
		'BEGIN { other = (b - o) / hz / (e - s); if (other < 0) other = 0;
		printf "Machine during the %s benchmark (%.0f s): this run used %.2f cores on average, other processes %.2f, steal (the host running other guests) %.2f, of %d; load average at its end %s.\n\n", name, e - s, o / hz / (e - s), other, st / hz / (e - s), n, la }' >>"$sections"
}

echo "== sessions, memory store" >&2
measure "memory-store session" "$tmp/session" -pid "${gwpid[mem]}" -label memory -gateway "http://127.0.0.1:${port[mem]}" -inbox "127.0.0.1:${inbox[mem]}" \
	-users "$USERS" -c "$CONC" -refreshes "$REFRESHES" -rate "$RATE" -paced "$PACED"
echo "== sessions, Redis store" >&2
# shellcheck disable=SC2046
measure "Redis-store session" "$tmp/session" -pid "${gwpid[redis]}" -label Redis -gateway "http://127.0.0.1:${port[redis]}" -inbox "127.0.0.1:${inbox[redis]}" \
	-redis "127.0.0.1:$p_redis" -users "$USERS" -c "$CONC" -refreshes "$REFRESHES" -rate "$RATE" -paced "$PACED" \
	-limited "http://127.0.0.1:${port[limited]}" -limited-pid "${gwpid[limited]}" -refusals "$REFUSALS" $(profile_args redis)
echo "== step-up flows, Redis store" >&2
# shellcheck disable=SC2046
measure "step-up" "$tmp/stepup" -pid "${gwpid[stepup]}" -gateway "http://127.0.0.1:${port[stepup]}" -inbox "127.0.0.1:${inbox[stepup]}" \
	-hook "127.0.0.1:$p_hook" -upstream "127.0.0.1:$p_upstream" -redis "127.0.0.1:$p_redis" \
	-flows "$FLOWS" -c "$FLOW_CONC" -rate "$FLOW_RATE" -paced "$FLOW_PACED" -rt-calls "$RT_CALLS" $(profile_args stepup) \
	-plain "http://127.0.0.1:$p_plain" -plain-pid "$plain_pid" -plain-requests "$PLAIN_REQUESTS"

if [ "$PW_USERS" != 0 ]; then
echo "== password logins, memory store" >&2
measure "password login" "$tmp/password" -pid "${gwpid[password]}" -gateway "http://127.0.0.1:${port[password]}" -inbox "127.0.0.1:${inbox[password]}" \
	-users "$PW_USERS" -c "$PW_CONC" -params "argon2id 1 46MiB 1 (the default)"
fi

if [ "$PROFILE" = 1 ]; then
	for name in redis stepup; do
		if [ -s "$results/cpu-$name.pprof" ]; then
			go tool pprof -top -nodecount=40 "$tmp/caddy-stepup" "$results/cpu-$name.pprof" >"$results/cpu-$name-top.txt" 2>/dev/null || true
			go tool pprof -top -cum -nodecount=60 "$tmp/caddy-stepup" "$results/cpu-$name.pprof" >"$results/cpu-$name-cum.txt" 2>/dev/null || true
		fi
	done
fi

load_end="$(uptime | sed 's/.*load average: //')"
{
	echo "### Run of $time_start"
	echo
	echo "- command: \`$command_line\`"
	echo "- machine: $(nproc) cores (\`nproc\`), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo), $(uname -sr)"
	echo "- code: commit $commit of this checkout, built as the working tree was at the start$dirty; the gateway: $gateway_commit"
	echo "- $(go version | sed 's/^go version //'); Caddy $("$tmp/caddy-stepup" version | awk '{print $1}'); $(redis-server --version | awk '{print $1, $2, $3}')"
	echo "- load average (1, 5, 15 min) at the start: $load_start; at the end ($(date -u '+%H:%M:%S UTC')): $load_end"
	echo "- the bench programs (clients, OTP webhook, hook, upstream), the gateways and redis-server share the same cores, on loopback: nothing is pinned."
	echo
	cat "$sections"
} >"$results/report.md"
cat "$results/report.md"
echo >&2
echo "results in $results" >&2
