package dpop

import (
	"errors"
	"testing"
	"time"
)

func nonceAt(secret []byte, at time.Time) *Nonces {
	n := NewNonces(secret, time.Minute)
	n.now = func() time.Time { return at }
	return n
}

func TestNoncesValid(t *testing.T) {
	secret := []byte("shared secret shared secret 0123")
	start := time.Unix(1_800_000_000, 0) // a window boundary for 1m windows
	issued := nonceAt(secret, start).Issue()

	tests := []struct {
		name  string
		n     *Nonces
		nonce string
		want  bool
	}{
		{"same window", nonceAt(secret, start.Add(59*time.Second)), issued, true},
		{"another instance with the same secret", nonceAt(append([]byte(nil), secret...), start), issued, true},
		{"previous window", nonceAt(secret, start.Add(90*time.Second)), issued, true},
		{"two windows later", nonceAt(secret, start.Add(2*time.Minute)), issued, false},
		{"from the future", nonceAt(secret, start.Add(-time.Second)), issued, false},
		{"another secret", nonceAt([]byte("another secret another secret 01"), start), issued, false},
		{"empty", nonceAt(secret, start), "", false},
		{"garbage", nonceAt(secret, start), "not-a-nonce-at-all-not-a-nonce-at-al", false},
		{"truncated", nonceAt(secret, start), issued[:len(issued)-1], false},
		{"nil nonces", nil, issued, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.n.Valid(tt.nonce); got != tt.want {
				t.Fatalf("Valid = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNoncesTamperedMAC(t *testing.T) {
	n := nonceAt([]byte("k"), time.Unix(1_800_000_000, 0))
	raw, _ := b64url.DecodeString(n.Issue())
	raw[len(raw)-1] ^= 1
	if n.Valid(b64url.EncodeToString(raw)) {
		t.Fatal("tampered nonce accepted")
	}
}

func TestNoncesWithoutSecretAreProcessLocal(t *testing.T) {
	a, b := NewNonces(nil, 0), NewNonces(nil, 0)
	nonce := a.Issue()
	if !a.Valid(nonce) {
		t.Fatal("own nonce rejected")
	}
	if b.Valid(nonce) {
		t.Fatal("two random secrets agree")
	}
}

func TestVerifyWithNonce(t *testing.T) {
	key := newP256(t)
	secret := []byte("shared secret shared secret 0123")
	nonces := nonceAt(secret, testNow)
	fresh := nonces.Issue()
	stale := nonceAt(secret, testNow.Add(-10*time.Minute)).Issue()
	foreign := nonceAt([]byte("some other secret some other sec"), testNow).Issue()
	v := Verifier{Now: fixedClock}

	tests := []struct {
		name    string
		proof   string
		nonces  *Nonces
		wantErr error
	}{
		{"valid nonce", sdkProof(t, key, testJTI, "POST", testURL, testIat, fresh), nonces, nil},
		{"missing nonce", sdkProof(t, key, testJTI, "POST", testURL, testIat, ""), nonces, ErrNonceRequired},
		{"stale nonce", sdkProof(t, key, testJTI, "POST", testURL, testIat, stale), nonces, ErrNonceRequired},
		{"nonce from another secret", sdkProof(t, key, testJTI, "POST", testURL, testIat, foreign), nonces, ErrNonceRequired},
		{"nil nonces", sdkProof(t, key, testJTI, "POST", testURL, testIat, fresh), nil, ErrNonceRequired},
		{"invalid proof wins over nonce", sdkProof(t, key, testJTI, "GET", testURL, testIat, ""), nonces, ErrInvalidProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.VerifyWithNonce(tt.proof, "POST", testURL, tt.nonces)
			if tt.wantErr == nil {
				if err != nil || p.Nonce != fresh {
					t.Fatalf("VerifyWithNonce = %+v, %v", p, err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || p != nil {
				t.Fatalf("VerifyWithNonce = %+v, %v; want %v", p, err, tt.wantErr)
			}
		})
	}
}
