package jwks

import (
	"crypto/sha256"
	"hash"
	"sync"
)

// tokenHasher hashes a token string without converting it to a []byte, which
// would allocate a copy of up to 8 KiB on every request. Pooled because the
// hash state and buffer escape through the hash.Hash interface.
type tokenHasher struct {
	h   hash.Hash
	buf [512]byte
}

var tokenHashers = sync.Pool{New: func() any { return &tokenHasher{h: sha256.New()} }}

// TokenHash returns the SHA-256 of raw: the key of the verified-token cache
// and of the engine's memory of the challenge tokens it signed (the token
// itself is never stored).
func TokenHash(raw string) [32]byte {
	th := tokenHashers.Get().(*tokenHasher)
	th.h.Reset()
	for len(raw) > 0 {
		n := copy(th.buf[:], raw)
		th.h.Write(th.buf[:n])
		raw = raw[n:]
	}
	var sum [32]byte
	copy(sum[:], th.h.Sum(th.buf[:0]))
	tokenHashers.Put(th)
	return sum
}
