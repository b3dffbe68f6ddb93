package benchkit

import (
	"slices"
	"testing"
	"time"
)

func TestSummaryNearestRank(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		in   []time.Duration
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", []time.Duration{3 * ms}, Summary{N: 1, P50: 3 * ms, P90: 3 * ms, P99: 3 * ms, Max: 3 * ms}},
		{"ten, unordered", []time.Duration{10 * ms, 1 * ms, 9 * ms, 2 * ms, 8 * ms, 3 * ms, 7 * ms, 4 * ms, 6 * ms, 5 * ms},
			Summary{N: 10, P50: 5 * ms, P90: 9 * ms, P99: 10 * ms, Max: 10 * ms}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRecorder()
			for _, d := range tc.in {
				r.Add("x", d)
			}
			if got := r.Summary("x"); got != tc.want {
				t.Errorf("Summary = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTakeAndMerge(t *testing.T) {
	r := NewRecorder()
	r.Add("b", time.Millisecond)
	r.Add("a", time.Millisecond)
	taken := r.Take()
	if got := taken.Labels(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("taken labels = %v", got)
	}
	if got := r.Labels(); len(got) != 0 {
		t.Errorf("labels after Take = %v, want none", got)
	}
	r.Merge(taken, "a")
	r.Merge(taken, "a")
	if got := r.Summary("a").N; got != 2 {
		t.Errorf("merged n = %d, want 2", got)
	}
	if got := r.Labels(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("labels after Merge = %v, want [a]", got)
	}
}

func TestMillisecondsWithTwoDecimals(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0.00"},
		{1500 * time.Microsecond, "1.50"},
		{12345 * time.Microsecond, "12.35"},
	}
	for _, tc := range tests {
		if got := MS(tc.in); got != tc.want {
			t.Errorf("MS(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
