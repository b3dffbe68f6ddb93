#!/usr/bin/env bash
# Compares two builds of the gateway with the same session and step-up
# measurements (bench/run-session.sh, this checkout's bench programs),
# alternating them in one sitting: A B A B ... ROUNDS times, the order
# reversed every other round, then the medians per build.
#
# Usage: bench/compare-session.sh <checkout A> <checkout B> [ROUNDS=2]
#   e.g. git worktree add --detach /tmp/before <commit>;
#        bench/compare-session.sh /tmp/before . 3
# Knobs: those of run-session.sh (the defaults here are smaller: USERS=1000
# REFRESHES=5 PACED=10s FLOWS=2000 FLOW_PACED=5s RT_CALLS=300 REFUSALS=500
# PW_USERS=0 PLAIN_REQUESTS=10000).
# Output: each run's report in bench/results/, and on stdout one line per
# run and the medians per build (Markdown).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
a="$(cd "$1" && pwd)"
b="$(cd "$2" && pwd)"
rounds="${3:-2}"
export USERS="${USERS:-1000}" REFRESHES="${REFRESHES:-5}" PACED="${PACED:-10s}" FLOWS="${FLOWS:-2000}" \
	FLOW_PACED="${FLOW_PACED:-5s}" RT_CALLS="${RT_CALLS:-300}" REFUSALS="${REFUSALS:-500}" PW_USERS="${PW_USERS:-0}" \
	PLAIN_REQUESTS="${PLAIN_REQUESTS:-10000}"

# numbers REPORT: the figures of one run, tab-separated: flows/s unpaced,
# gateway CPU ms per flow, plain CPU ms per request, flow in plain
# requests, round trips per login and per flow (by endpoint), gateway CPU
# ms per login (Redis logins phase), Redis round trips per refresh.
numbers() {
	local r="$1"
	local flow plain unit rt_login rt_flow login refresh
	flow="$(grep -m1 '^| unpaced | [0-9]' "$r" | awk -F'|' '{gsub(/ /,""); print $5 "\t" $6}')"
	unit="$(grep -m1 '^Plain `reverse_proxy`' "$r" | sed -E 's/.*\(median ([0-9.]+)\).*= ([0-9.]+) plain.*/\1\t\2/')"
	rt_login="$(grep -m1 'an OTP login\*\* (the first two)' "$r" | awk -F'|' '{gsub(/[ *]/,""); print $3}')"
	rt_flow="$(grep -m1 'a complete flow\*\* (`stepup/request`' "$r" | awk -F'|' '{gsub(/[ *]/,""); print $3}')"
	login="$(grep '^| logins (login/otp' "$r" | sed -n 2p | awk -F'|' '{gsub(/ /,""); print $6}')"
	refresh="$(grep -m1 'round trips per refresh\*\*' "$r" | sed -E 's/.*\*\*([0-9.]+) round trips per refresh.*/\1/')"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$flow" "$unit" "$rt_login" "$rt_flow" "$login" "$refresh"
}

lines="$(mktemp)"
trap 'rm -f "$lines"' EXIT
for round in $(seq "$rounds"); do
	order=("A:$a" "B:$b")
	if [ $((round % 2)) = 0 ]; then order=("B:$b" "A:$a"); fi
	for pair in "${order[@]}"; do
		name="${pair%%:*}" dir="${pair#*:}"
		echo "== round $round, build $name ($dir)" >&2
		out="$(GATEWAY_FROM="$dir" "$repo/bench/run-session.sh" 2>&1 >/dev/null | tail -1 | sed 's/^results in //')"
		printf '%s\t%s\t%s\t%s\n' "$name" "$round" "$(basename "$out")" "$(numbers "$out/report.md")" >>"$lines"
	done
done

echo "| build | round | run | flows/s unpaced | gateway CPU ms/flow | plain CPU ms/request | flow in plain requests | round trips per login | round trips per flow | gateway CPU ms/login | round trips per refresh |"
echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
awk -F'\t' '{ printf "| %s | %s | %s", $1, $2, $3; for (i = 4; i <= NF; i++) printf " | %s", $i; print " |" }' "$lines"
echo
echo "Medians per build:"
echo
echo "| build | flows/s unpaced | gateway CPU ms/flow | plain CPU ms/request | flow in plain requests | round trips per login | round trips per flow | gateway CPU ms/login | round trips per refresh |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for name in A B; do
	printf '| %s' "$name"
	for col in $(seq 4 11); do
		awk -F'\t' -v n="$name" -v c="$col" '$1 == n { print $c }' "$lines" | sort -g |
			awk '{ v[NR] = $1 } END { if (NR == 0) { printf " | n/a"; exit } m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf " | %s", m }'
	done
	echo " |"
done
echo
echo "A: $a ($(git -C "$a" rev-parse --short HEAD)); B: $b ($(git -C "$b" rev-parse --short HEAD))"
