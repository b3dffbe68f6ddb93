package otp

import (
	"bytes"
	"testing"
)

func TestNewCodeLength(t *testing.T) {
	tests := []struct {
		digits  int
		wantErr bool
	}{
		{5, true}, {6, false}, {7, false}, {8, false}, {9, true}, {0, true}, {-6, true},
	}
	for _, tt := range tests {
		code, err := NewCode(tt.digits)
		if (err != nil) != tt.wantErr {
			t.Fatalf("NewCode(%d) error = %v, wantErr %v", tt.digits, err, tt.wantErr)
		}
		if tt.wantErr {
			continue
		}
		if len(code) != tt.digits {
			t.Fatalf("NewCode(%d) = %q: wrong length", tt.digits, code)
		}
		for _, c := range code {
			if c < '0' || c > '9' {
				t.Fatalf("NewCode(%d) = %q: not decimal", tt.digits, code)
			}
		}
	}
}

// TestNewCodeDistribution checks that every position sees every digit with
// a plausible frequency over 10k codes: expected 1000 each; the bounds are
// about 7 standard deviations wide, so the test does not flake but a stuck
// or heavily biased digit fails.
func TestNewCodeDistribution(t *testing.T) {
	const n = 10000
	var counts [MaxDigits][10]int
	for range n {
		code, err := NewCode(MaxDigits)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range code {
			counts[i][c-'0']++
		}
	}
	for pos := range counts {
		for digit, c := range counts[pos] {
			if c < 800 || c > 1200 {
				t.Errorf("position %d digit %d seen %d times of %d", pos, digit, c, n)
			}
		}
	}
}

func TestDigestAndMatch(t *testing.T) {
	key := []byte("digest key digest key digest key")
	digest := Digest(key, "challenge-1", "123456")
	tests := []struct {
		name  string
		key   []byte
		scope string
		code  string
		want  bool
	}{
		{"same code, scope and key", key, "challenge-1", "123456", true},
		{"wrong code", key, "challenge-1", "123457", false},
		{"wrong scope", key, "challenge-2", "123456", false},
		{"wrong key", []byte("another key another key another"), "challenge-1", "123456", false},
		{"scope and code shifted across the separator", key, "challenge-11", "23456", false},
		{"empty code", key, "challenge-1", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Match(tt.key, tt.scope, tt.code, digest); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
	if bytes.Contains(digest, []byte("123456")) {
		t.Fatal("digest contains the code")
	}
	if Match(key, "challenge-1", "123456", nil) || Match(key, "challenge-1", "123456", digest[:16]) {
		t.Fatal("empty or truncated digest matched")
	}
}
