# Shared by the bench scripts (sourced, not run): a results folder, a
# temporary folder, and the processes to stop (by pid) when the script ends.
#   bench_setup <results-name-prefix>
# sets stamp, results, tmp and pids, and keeps Caddy's data and autosaved
# config in $tmp, not in $HOME.
bench_setup() {
	stamp="$(date -u +%Y%m%dT%H%M%SZ)"
	results="$repo/bench/results/$1$stamp"
	mkdir -p "$results"
	tmp="$(mktemp -d)"
	pids=()
	trap bench_cleanup EXIT
	export XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config"
}

bench_cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$tmp"
}

# bench_rounds <rounds> <case>...: runs each case's `window <round> <position>
# <case>` (defined by the calling script) once per round. The order rotates
# each round and is reversed every other round, so no case always runs first
# or after the same neighbour.
bench_rounds() {
	local rounds=$1 r i pos c
	shift
	local cases=("$@") n=$#
	for r in $(seq 1 "$rounds"); do
		local order=()
		for i in $(seq 0 $((n - 1))); do order+=("${cases[$(((i + r - 1) % n))]}"); done
		if ((r % 2 == 0)); then
			local reversed=()
			for ((i = n - 1; i >= 0; i--)); do reversed+=("${order[$i]}"); done
			order=("${reversed[@]}")
		fi
		echo "== round $r of $rounds: ${order[*]}" >&2
		pos=1
		for c in "${order[@]}"; do
			sleep 1
			window "$r" "$pos" "$c"
			pos=$((pos + 1))
		done
	done
}

# bench_need_wrk installs wrk (Debian's package) when the machine lacks it.
bench_need_wrk() {
	if ! command -v wrk >/dev/null; then
		echo "$(basename "$0"): installing wrk (Debian package)" >&2
		apt-get update -qq && apt-get install -y -qq wrk >/dev/null
	fi
}

# bench_profile_diff <label A> <binary A> <profile A> <req/s A> <label B>
# <binary B> <profile B> <req/s B> [seconds=10]: Markdown tables of where a
# gateway's CPU goes per request, B beside A, from two pprof CPU profiles
# taken over `seconds` of load at the given request rates: the process's
# parts (cumulative time of their roots), then the functions whose own
# time per request grew most from A to B. A profile's sampling noise is a
# few tenths of a µs per function: read the parts first.
bench_profile_diff() {
	local la="$1" ba="$2" pa="$3" ra="$4" lb="$5" bb="$6" pb="$7" rb="$8" secs="${9:-10}"
	# per_request BIN PROF REQS MODE: "name<TAB>µs per request" lines, by
	# flat (own) or cum (with callees) time.
	per_request() {
		local opt=""
		[ "$4" = cum ] && opt=-cum
		go tool pprof -top $opt -nodecount=100000 -nodefraction=0 -edgefraction=0 -unit=ms "$1" "$2" 2>/dev/null |
			awk -v n="$3" -v mode="$4" '
				function ms(x) { sub(/ms$/, "", x); return x + 0 }
				/Total samples/ { t = $0; sub(/.*= /, "", t); printf "(whole process)\t%.2f\n", ms(t) * 1000 / n }
				NF >= 6 && ($1 ~ /ms$/ || $1 == "0") && ($4 ~ /ms$/ || $4 == "0") {
					name = $6; for (i = 7; i <= NF; i++) name = name " " $i
					printf "%s\t%.2f\n", name, ms(mode == "cum" ? $4 : $1) * 1000 / n
				}' | sort -t "$(printf '\t')" -k1,1
	}
	local na nb
	na="$(awk -v r="$ra" -v s="$secs" 'BEGIN { print r * s }')"
	nb="$(awk -v r="$rb" -v s="$secs" 'BEGIN { print r * s }')"
	local joined
	joined="$(join -t "$(printf '\t')" -a1 -a2 -e 0 -o 0,1.2,2.2 <(per_request "$ba" "$pa" "$na" cum) <(per_request "$bb" "$pb" "$nb" cum))"
	echo "| part of the gateway (cumulative, µs per request) | $la | $lb | $lb − $la |"
	echo "| --- | ---: | ---: | ---: |"
	while IFS='|' read -r label fn; do
		printf '%s\n' "$joined" | awk -F'\t' -v fn="$fn" -v label="$label" \
			'$1 == fn { printf "| %s | %.1f | %.1f | %+.1f |\n", label, $2, $3, $3 - $2; found = 1 }
			 END { if (!found) printf "| %s | 0.0 | 0.0 | +0.0 |\n", label }'
	done <<'PARTS'
whole process|(whole process)
HTTP server (net/http conn.serve: read, route, write)|net/http.(*conn).serve
Caddy's handler chain|github.com/caddyserver/caddy/v2/modules/caddyhttp.(*Server).ServeHTTP
`stepup` handler, including the proxy after it|github.com/caddy-stepup/caddy-stepup.(*Handler).ServeHTTP
`stepup` route decision (enforce.Route.Decide)|github.com/caddy-stepup/caddy-stepup/enforce.(*Route).Decide
`reverse_proxy` handler|github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy.(*Handler).ServeHTTP
`reverse_proxy`'s `logger.With` (request and headers JSON-encoded)|go.uber.org/zap.(*Logger).With
proxy transport, reading upstream responses|net/http.(*persistConn).readLoop
proxy transport, writing upstream requests|net/http.(*persistConn).writeLoop
syscalls|internal/runtime/syscall/linux.Syscall6
allocation (mallocgc)|runtime.mallocgc
GC marking in the background|runtime.gcBgMarkWorker
GC assists|runtime.gcAssistAlloc
GC sweeping in the background|runtime.bgsweep
scheduler (mcall)|runtime.mcall
PARTS
	echo
	echo "Functions whose own time per request grew most ($la → $lb, µs):"
	echo
	echo "| function | $la | $lb | $lb − $la |"
	echo "| --- | ---: | ---: | ---: |"
	join -t "$(printf '\t')" -a1 -a2 -e 0 -o 0,1.2,2.2 <(per_request "$ba" "$pa" "$na" flat) <(per_request "$bb" "$pb" "$nb" flat) |
		awk -F'\t' '$1 != "(whole process)" { printf "%s\t%.2f\t%.2f\t%.2f\n", $1, $2, $3, $3 - $2 }' |
		sort -t "$(printf '\t')" -k4,4 -g -r |
		awk -F'\t' 'NR <= 12 { printf "| `%s` | %.2f | %.2f | %+.2f |\n", $1, $2, $3, $4 }'
}
