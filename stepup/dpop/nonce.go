package dpop

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// DefaultNonceWindow is the nonce rotation period when NewNonces gets zero.
const DefaultNonceWindow = 5 * time.Minute

const (
	nonceMACSize = 16 // 128-bit truncated HMAC-SHA256
	nonceSize    = 8 + nonceMACSize
	nonceDomain  = "caddy-stepup dpop nonce v1"
)

// Nonces issues and checks DPoP nonces without storage: a nonce is the
// current time window's number and an HMAC of it, so every instance holding
// the same secret issues and accepts the same nonces. A nonce is valid in
// the window it was issued in and the next one, i.e. for at least one window
// and at most two.
type Nonces struct {
	secret []byte
	window time.Duration
	now    func() time.Time
}

// NewNonces returns a nonce source. secret should be at least 32 random
// bytes shared by all instances; when it is empty a random secret is
// generated, so nonces are only accepted by this process. window defaults to
// 5 minutes.
func NewNonces(secret []byte, window time.Duration) *Nonces {
	if window <= 0 {
		window = DefaultNonceWindow
	}
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret) // never fails (crypto/rand panics otherwise)
	}
	return &Nonces{secret: append([]byte(nil), secret...), window: window, now: time.Now}
}

// Issue returns the nonce of the current window: an opaque base64url string.
func (n *Nonces) Issue() string {
	buf := make([]byte, 8, nonceSize)
	binary.BigEndian.PutUint64(buf, n.currentWindow())
	buf = append(buf, n.mac(buf)...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// Valid reports whether nonce was issued with this secret in the current or
// the previous window. A nil Nonces accepts nothing.
func (n *Nonces) Valid(nonce string) bool {
	if n == nil || len(nonce) != base64.RawURLEncoding.EncodedLen(nonceSize) {
		return false
	}
	buf, err := base64.RawURLEncoding.Strict().DecodeString(nonce)
	if err != nil || len(buf) != nonceSize {
		return false
	}
	issued := binary.BigEndian.Uint64(buf[:8])
	current := n.currentWindow()
	if issued != current && issued+1 != current {
		return false
	}
	return hmac.Equal(buf[8:], n.mac(buf[:8]))
}

func (n *Nonces) currentWindow() uint64 {
	return uint64(n.now().UnixNano() / int64(n.window))
}

func (n *Nonces) mac(window []byte) []byte {
	h := hmac.New(sha256.New, n.secret)
	h.Write([]byte(nonceDomain))
	h.Write(window)
	return h.Sum(nil)[:nonceMACSize]
}
