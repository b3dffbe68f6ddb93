package dpop

import (
	"errors"
	"net/http"
	"testing"
)

func TestFromHeader(t *testing.T) {
	tests := []struct {
		name    string
		values  []string
		want    string
		wantErr error
	}{
		{"one proof", []string{"a.b.c"}, "a.b.c", nil},
		{"no header", nil, "", ErrMissingProof},
		{"empty header", []string{"  "}, "", ErrMissingProof},
		{"two headers", []string{"a.b.c", "d.e.f"}, "", ErrInvalidProof},
		{"two proofs folded", []string{"a.b.c, d.e.f"}, "", ErrInvalidProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.values {
				h.Add("DPoP", v)
			}
			got, err := FromHeader(h)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("FromHeader = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
