package stepup

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// skewedInstance is an engine sharing the Redis at addr whose host clock
// is off by skew. Like the gateway (app_start.go), it decides expiries by
// the store's clock, which corrects the skew with the measured offset when
// it is within bound (zero: the default bound).
func skewedInstance(t *testing.T, addr string, skew, bound time.Duration, base *harness, faults func(store.ClockFault)) *harness {
	t.Helper()
	conn, err := store.DialRedis(store.RedisOptions{Addrs: []string{addr}, Timeout: 2 * time.Second,
		LocalClock: func() time.Time { return time.Now().Add(skew) }, MaxClockOffset: bound, OnClockFault: faults})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := store.NewRedis(conn, "skew:")
	h := newHarness(t, st, func(c *Config) {
		c.Now = store.ClockOf(st)
		// One deployment: the same signing key, engine key and senders.
		c.Signer, c.HookSigner = base.signer, base.signer
		c.Sender = base.sender
		v, err := jwks.NewVerifier(jwks.VerifierOptions{Issuers: []jwks.Issuer{{
			Issuer: testIssuer, Audiences: []string{testIssuer}, Keys: base.signer.KeySource(),
			Algorithms: []string{"ES256"}, Types: []string{ChallengeTokenType},
		}}, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		c.ChallengeVerifier = v
		c.Scopes[scopeShort] = ScopePolicy{Direct: &DirectPolicy{GrantMode: GrantSingleUse, GrantedFor: 2 * time.Second,
			Steps: []DirectStep{{Key: StepVerifySMS, Expiration: 300 * time.Second}}}}
	})
	h.sender, h.signer = base.sender, base.signer
	return h
}

const scopeShort = "transfer:short"

// TestClockSkewBetweenInstances runs one deployment of three instances on
// one Redis whose operator allows clocks ten minutes apart
// (max_clock_offset 10m): one on time, one five minutes ahead, one five
// minutes behind. A code sent by one is accepted by the others (not
// refused as expired by the fast one), a grant issued by one is spent on
// another (not refused early) and, once its lifetime has passed on Redis's
// clock, by none (not accepted late by the slow one).
func TestClockSkewBetweenInstances(t *testing.T) {
	srv := redistest.Start(t)
	base := newHarness(t, nil)
	noFault := func(f store.ClockFault) { t.Errorf("clock fault within the bound: %+v", f) }
	onTime := skewedInstance(t, srv.Addr, 0, 10*time.Minute, base, noFault)
	ahead := skewedInstance(t, srv.Addr, 5*time.Minute, 10*time.Minute, base, noFault)
	behind := skewedInstance(t, srv.Addr, -5*time.Minute, 10*time.Minute, base, noFault)
	for _, h := range []*harness{onTime, ahead, behind} {
		if d := time.Until(h.e.now()); d > time.Second || d < -time.Second {
			t.Fatalf("an instance's clock is %v off Redis's after correction", d)
		}
	}
	ctx := context.Background()

	// A login code sent by the on-time instance, checked by the fast one.
	flow, err := onTime.e.StartLogin(ctx, IdentifierPhone, phoneA, testClient)
	noErr(t, "StartLogin", err)
	c := &client{jkt: newJKT(t)}
	c.tokens, err = ahead.e.CheckLogin(ctx, flow, onTime.sender.last(t).Code, proofFor(t, c.jkt), testClient)
	noErr(t, "the code checked five minutes ahead", err)

	// A step-up on the slow instance, its grant spent on the fast one.
	res, err := behind.e.RequestStepUp(ctx, c.caller(), scopeShort, nil, Signals{})
	noErr(t, "RequestStepUp behind", err)
	done := behind.passSMS(t, c, res.ChallengeToken)
	tok, err := behind.refresh(t, c, done)
	noErr(t, "redeem behind", err)
	grantID := accessOf(t, tok.AccessToken).Grant[scopeShort]
	_, err = ahead.e.ConsumeGrant(ctx, grantID, c.tokens.UserID, c.tokens.SessionID, scopeShort)
	noErr(t, "the grant spent five minutes ahead", err)

	// Another grant of two seconds, issued ahead, offered to the slow
	// instance after it ended: refused.
	res, err = ahead.e.RequestStepUp(ctx, c.caller(), scopeShort, nil, Signals{})
	noErr(t, "RequestStepUp ahead", err)
	done = ahead.passSMS(t, c, res.ChallengeToken)
	tok, err = ahead.refresh(t, c, done)
	noErr(t, "redeem ahead", err)
	grantID = accessOf(t, tok.AccessToken).Grant[scopeShort]
	time.Sleep(2500 * time.Millisecond)
	_, err = behind.e.ConsumeGrant(ctx, grantID, c.tokens.UserID, c.tokens.SessionID, scopeShort)
	wantErr(t, "the ended grant five minutes behind", err, ErrUnauthorized)
}

// TestClockSkewBeyondTheBound: with the default bound (1s), an instance
// whose clock is five minutes behind Redis's does not take Redis's clock
// on trust: the offset is refused and reported, and the instance decides
// by its own clock. What it decides late is still bounded by Redis's own
// TTLs, which run on Redis's clock: a grant that ended is refused on it.
func TestClockSkewBeyondTheBound(t *testing.T) {
	srv := redistest.Start(t)
	base := newHarness(t, nil)
	onTime := skewedInstance(t, srv.Addr, 0, 0, base, func(f store.ClockFault) { t.Errorf("clock fault on time: %+v", f) })
	var mu sync.Mutex
	var faults []store.ClockFault
	behind := skewedInstance(t, srv.Addr, -5*time.Minute, 0, base, func(f store.ClockFault) {
		mu.Lock()
		faults = append(faults, f)
		mu.Unlock()
	})
	mu.Lock()
	if len(faults) != 1 || faults[0].Reason != store.ClockOutOfBound || faults[0].Bound != store.DefaultMaxClockOffset ||
		faults[0].InUse != 0 || faults[0].Measured < 299*time.Second || faults[0].Measured > 301*time.Second {
		t.Fatalf("faults %+v, want one out_of_bound of about +5m with nothing in use", faults)
	}
	mu.Unlock()
	if d := time.Until(behind.e.now()) + 5*time.Minute; d > time.Second || d < -time.Second {
		t.Fatalf("the instance five minutes behind decides by a clock %v off its own", d)
	}

	ctx := context.Background()
	c := onTime.login(t, IdentifierPhone, phoneA)
	res, err := onTime.e.RequestStepUp(ctx, c.caller(), scopeShort, nil, Signals{})
	noErr(t, "RequestStepUp", err)
	tok, err := onTime.refresh(t, c, onTime.passSMS(t, c, res.ChallengeToken))
	noErr(t, "redeem", err)
	grantID := accessOf(t, tok.AccessToken).Grant[scopeShort]
	time.Sleep(2500 * time.Millisecond)
	_, err = behind.e.ConsumeGrant(ctx, grantID, c.tokens.UserID, c.tokens.SessionID, scopeShort)
	wantErr(t, "the ended grant on the instance five minutes behind", err, ErrUnauthorized)
}
