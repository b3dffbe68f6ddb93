package stepup

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// ttlRecorder is a store that remembers the longest TTL each key was
// written with.
type ttlRecorder struct {
	store.Store
	mu    sync.Mutex
	byKey map[string]time.Duration
}

func newTTLRecorder() *ttlRecorder {
	return &ttlRecorder{Store: store.NewMemory(), byKey: map[string]time.Duration{}}
}

func (r *ttlRecorder) note(key string, ttl time.Duration) {
	r.mu.Lock()
	r.byKey[key] = max(r.byKey[key], ttl)
	r.mu.Unlock()
}

func (r *ttlRecorder) longest(key string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byKey[key]
}

// longestOf is the longest TTL of any key starting with prefix.
func (r *ttlRecorder) longestOf(prefix string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var d time.Duration
	for k, ttl := range r.byKey {
		if strings.HasPrefix(k, prefix) {
			d = max(d, ttl)
		}
	}
	return d
}

func (r *ttlRecorder) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	r.note(key, ttl)
	return r.Store.Set(ctx, key, v, ttl)
}

func (r *ttlRecorder) Create(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	r.note(key, ttl)
	return r.Store.Create(ctx, key, v, ttl)
}

func (r *ttlRecorder) Swap(ctx context.Context, key string, old, v []byte, ttl time.Duration) error {
	r.note(key, ttl)
	return r.Store.Swap(ctx, key, old, v, ttl)
}

// TestTTLsNeverPassTheirConfiguredLifetime: an end time set while the
// clock was an hour ahead, and a TTL computed from it once the clock is
// back, would outlive the configuration by that hour (with Redis's clock
// a year ahead for a moment, a session lived 395 days). Every TTL the
// engine derives from a stored end is capped by the lifetime configured
// for that record; a verification token's exp, chosen by the backend, no
// longer sets its replay marker's TTL beyond the challenge's lifetime.
func TestTTLsNeverPassTheirConfiguredLifetime(t *testing.T) {
	rec := newTTLRecorder()
	h := newHarness(t, rec)
	ctx := context.Background()

	h.clk.Advance(time.Hour) // the clock runs an hour ahead...
	c := h.login(t, IdentifierPhone, "+33612345678")
	bound, err := h.e.RequestStepUp(ctx, c.caller(), scopeSession, nil, Signals{})
	noErr(t, "RequestStepUp session-bound", err)
	_, err = h.refresh(t, c, h.passSMS(t, c, bound.ChallengeToken))
	noErr(t, "redeeming the session-bound scope", err)

	h.clk.Advance(-time.Hour) // ...and is set back.
	_, err = h.refresh(t, c, "")
	noErr(t, "refresh", err)
	if got, want := rec.longest(sessionKey(c.tokens.SessionID)), h.e.cfg.RefreshTokenTTL; got != want {
		t.Errorf("session TTL %v, want at most (and here exactly) refresh_token_ttl %v", got, want)
	}
	if n, err := h.e.AdminRevokeGrants(ctx, c.tokens.UserID); err != nil || n != 1 {
		t.Fatalf("AdminRevokeGrants: %d, %v (want the session-bound grant)", n, err)
	}
	if got := rec.longest(sessionKey(c.tokens.SessionID)); got > h.e.cfg.RefreshTokenTTL {
		t.Errorf("session TTL after revoking grants %v, over refresh_token_ttl", got)
	}

	// Challenges: their tokens carry iat, so the clock may only have been a
	// little (within the leeway) ahead when they were issued.
	h.clk.Advance(20 * time.Second)
	res, err := h.e.RequestStepUp(ctx, c.caller(), scopeSMS, nil, Signals{})
	noErr(t, "RequestStepUp", err)
	custom, err := h.e.RequestStepUp(ctx, c.caller(), scopeCustom, nil, Signals{})
	noErr(t, "RequestStepUp custom", err)
	h.clk.Advance(-20 * time.Second)
	h.passSMS(t, c, res.ChallengeToken)
	lifetime := 5*time.Minute + 300*time.Second // redemption wait + the step
	if got := rec.longest(challengeKey(res.ChallengeID)); got > lifetime {
		t.Errorf("challenge TTL %v, over its lifetime %v", got, lifetime)
	}

	cl := challengeOf(t, custom.ChallengeToken)
	now := h.clk.Now()
	vt, err := h.customer.Sign("JWT", verification{Sub: cl.Sub, Jti: randText(t), ChallengeID: cl.ChallengeID, Key: cl.CurrentStep,
		Status: "completed", Iat: now.Unix(), Exp: now.Add(365 * 24 * time.Hour).Unix()})
	noErr(t, "signing", err)
	_, err = h.e.ContinueStepUp(ctx, c.caller(), custom.ChallengeToken, vt, challengeProof(t, c, custom.ChallengeToken))
	noErr(t, "ContinueStepUp", err)
	customLifetime := 5*time.Minute + 2*300*time.Second
	if got := rec.longestOf("vjti:"); got > customLifetime+2*time.Minute {
		t.Errorf("replay marker of a verification token valid a year: TTL %v, over the challenge's lifetime %v (+2m)", got, customLifetime)
	}
}
