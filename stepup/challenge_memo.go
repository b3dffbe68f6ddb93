package stepup

import (
	"sync"
	"time"

	"github.com/caddy-stepup/caddy-stepup/jwks"
)

// signedChallenges remembers the challenge tokens this instance signed,
// by the SHA-256 of their bytes (never the token itself), with what
// verifyChallenge reads from them, until their exp. Their client presents
// each once or twice (/otp, /otp/check, /refresh), mostly to the instance
// that signed it: found here, a token costs one hash, where the verifier
// would parse it, look it up, then parse its claims again for
// challenge_id, and where admitting it to the verifier's cache cost a
// parse at the signature. Only exact bytes this process signed match, so
// the answer is the one a verification would give; a token signed by
// another instance, or forgotten here, is verified in full. The challenge's
// stored state stays the authority on whether the token is current.
// Bounded: a full memo forgets an arbitrary entry.
type signedChallenges struct {
	mu  sync.RWMutex
	m   map[[32]byte]signedChallenge
	max int
}

type signedChallenge struct {
	ref challengeRef
	exp int64 // Unix s, the token's exp
}

// newSignedChallenges remembers at most n tokens; n ≤ 0 remembers none
// (every token is verified, as with the token cache off).
func newSignedChallenges(n int) *signedChallenges {
	if n <= 0 {
		return nil
	}
	return &signedChallenges{m: make(map[[32]byte]signedChallenge, min(n, 1024)), max: n}
}

func (s *signedChallenges) add(token string, ref challengeRef, exp int64) {
	if s == nil {
		return
	}
	key := jwks.TokenHash(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[key] = signedChallenge{ref: ref, exp: exp}
}

// find returns what the token names if this instance signed it and it has
// not expired at now.
func (s *signedChallenges) find(token string, now time.Time) (*challengeRef, bool) {
	if s == nil {
		return nil, false
	}
	key := jwks.TokenHash(token)
	s.mu.RLock()
	e, ok := s.m[key]
	s.mu.RUnlock()
	if !ok {
		return nil, false
	}
	if now.Unix() >= e.exp {
		s.mu.Lock()
		delete(s.m, key)
		s.mu.Unlock()
		return nil, false
	}
	ref := e.ref
	return &ref, true
}
