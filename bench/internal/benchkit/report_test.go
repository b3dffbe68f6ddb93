package benchkit

import "testing"

func TestFailureCountWithTheFirstError(t *testing.T) {
	tests := []struct {
		n     int
		first string
		want  string
	}{
		{0, "", "0"},
		{2, "status 500:\nboom", "2 (first: `status 500: boom`)"},
	}
	for _, tc := range tests {
		if got := Failures(tc.n, tc.first); got != tc.want {
			t.Errorf("Failures(%d, %q) = %q, want %q", tc.n, tc.first, got, tc.want)
		}
	}
}
