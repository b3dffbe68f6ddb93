package dpop

import "testing"

func TestNormalizeHTU(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"https://example.com/a", "https://example.com/a", true},
		{"HTTPS://EXAMPLE.com:443/a?q#f", "https://example.com/a", true},
		{"http://example.com:80", "http://example.com/", true},
		{"http://example.com:443/", "http://example.com:443/", true},
		{"https://[::1]:8443/x", "https://[::1]:8443/x", true},
		{"https://[::1]/x", "https://[::1]/x", true},
		{"https://example.com/%7e%2f%2F", "https://example.com/~%2F%2F", true},
		{"https://example.com/%zz", "", false},
		{"https://example.com/%4", "", false},
		{"ftp://example.com/", "", false},
		{"https:///path", "", false},
		{"mailto:a@example.com", "", false},
		{"https://user:pw@example.com/", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := normalizeHTU(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("normalizeHTU(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}
