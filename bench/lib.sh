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
