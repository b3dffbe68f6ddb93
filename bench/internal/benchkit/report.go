package benchkit

import (
	"fmt"
	"io"
	"strings"
)

// Yes is a goal table's "met" cell: yes, or a bold no.
func Yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// Failures is a failures cell: the count and the start of the first
// failure's message, on one line.
func Failures(n int, first string) string {
	out := fmt.Sprint(n)
	if first != "" {
		out += fmt.Sprintf(" (first: `%.120s`)", strings.ReplaceAll(first, "\n", " "))
	}
	return out
}

// WriteLatencyHeader writes the head of a latency table, whose rows
// WriteLatencyRows writes.
func WriteLatencyHeader(w io.Writer) {
	fmt.Fprintln(w, "| phase | request | n | p50 ms | p90 ms | p99 ms | max ms |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: |")
}

// WriteLatencyRows writes a latency table row per label of r, in order.
func WriteLatencyRows(w io.Writer, phase string, r *Recorder) {
	for _, l := range r.Labels() {
		s := r.Summary(l)
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s |\n", phase, l, s.N, MS(s.P50), MS(s.P90), MS(s.P99), MS(s.Max))
	}
}
