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
