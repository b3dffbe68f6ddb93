package stepup

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// redisStore is a Redis store on a real redis-server started for the test.
func redisStore(t *testing.T) store.Store {
	t.Helper()
	srv := redistest.Start(t)
	conn, err := store.DialRedis(store.RedisOptions{Addrs: []string{srv.Addr}, Timeout: 5 * time.Second, PoolSize: 200})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return store.NewRedis(conn, "test:")
}

// parallel runs f n times at once and returns the errors.
func parallel(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := 0; i < n; i++ {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = f(i)
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

func successes(errs []error) int {
	n := 0
	for _, err := range errs {
		if err == nil {
			n++
		}
	}
	return n
}

func TestConcurrentConsumeGrantRedis(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, redisStore(t))
	c := h.login(t, IdentifierPhone, phoneA)
	done := h.passSMS(t, c, h.stepUp(t, c, scopeSMS, nil).ChallengeToken)
	tok, err := h.refresh(t, c, done)
	noErr(t, "redeem", err)
	grantID := accessOf(t, tok.AccessToken).Grant[scopeSMS]

	errs := parallel(50, func(int) error {
		_, err := h.e.ConsumeGrant(ctx, grantID, c.tokens.UserID, c.tokens.SessionID, scopeSMS)
		return err
	})
	if n := successes(errs); n != 1 {
		t.Fatalf("%d of 50 concurrent consumptions succeeded, want exactly 1", n)
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("a losing consumption failed with %v, want unauthorized", err)
		}
	}
}

func TestConcurrentRedemptionRedis(t *testing.T) {
	h := newHarness(t, redisStore(t))
	c := h.login(t, IdentifierPhone, phoneA)
	done := h.passSMS(t, c, h.stepUp(t, c, scopeSMS, nil).ChallengeToken)
	// Every refresh presents the current refresh token and a fresh proof;
	// all race on one session and one challenge.
	rt := c.tokens.RefreshToken
	proofs := make([]*dpop.Proof, 20)
	for i := range proofs {
		proofs[i] = proofFor(t, c.jkt)
	}
	var grants sync.Map
	errs := parallel(20, func(i int) error {
		tok, err := h.e.Refresh(context.Background(), RefreshRequest{RefreshToken: rt, Proof: proofs[i], StepUpToken: done})
		if err == nil {
			if g := accessOf(t, tok.AccessToken).Grant[scopeSMS]; g != "" {
				grants.Store(g, true)
			}
		}
		return err
	})
	n := 0
	grants.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Fatalf("%d distinct single-use grants minted from one challenge (errors %v)", n, errs)
	}
}

func TestConcurrentRightStepCodesRedis(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, redisStore(t))
	c := h.login(t, IdentifierPhone, phoneA)
	tok := h.stepUp(t, c, scopeSMS, nil).ChallengeToken
	_, err := h.e.SendStepOTP(ctx, tok, false, testClient)
	noErr(t, "SendStepOTP", err)
	code := h.sender.last(t).Code
	proof := challengeProof(t, c, tok)
	errs := parallel(20, func(int) error {
		_, err := h.e.CheckStepOTP(ctx, tok, code, proof, testClient)
		return err
	})
	if n := successes(errs); n != 1 {
		t.Fatalf("%d of 20 concurrent right codes advanced the challenge, want exactly 1 (%v)", n, errs)
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, ErrInvalidChallenge) && !errors.Is(err, ErrBadCheckCode) {
			t.Fatalf("a losing check failed with %v", err)
		}
	}
}

// Attempts are counted atomically before the comparison: of 100 parallel
// wrong codes only MaxAttempts are compared. A compared wrong code counts
// one failure for the user; a refused-uncompared one does not. So the
// user's failure counter must read exactly 5 while the tries counter reads
// 100. If the count came after the comparison (or not at all), every
// parallel guess would be compared and the failure counter would be ~100.
func TestConcurrentWrongStepCodesRedis(t *testing.T) {
	ctx := context.Background()
	st := redisStore(t)
	h := newHarness(t, st)
	c := h.login(t, IdentifierPhone, phoneA)
	res := h.stepUp(t, c, scopeSMS, nil)
	tok := res.ChallengeToken
	_, err := h.e.SendStepOTP(ctx, tok, false, testClient)
	noErr(t, "SendStepOTP", err)
	code := h.sender.last(t).Code
	n, _ := strconv.Atoi(code)
	var bad atomic.Int64
	proof := challengeProof(t, c, tok)
	errs := parallel(100, func(i int) error {
		_, err := h.e.CheckStepOTP(ctx, tok, fmt.Sprintf("%06d", (n+1+i)%1000000), proof, testClient)
		if errors.Is(err, ErrBadCheckCode) {
			bad.Add(1)
		}
		return err
	})
	if bad.Load() != 100 {
		t.Fatalf("%d of 100 wrong codes answered bad_check_code (%v)", bad.Load(), errs)
	}
	get := func(key string) int {
		raw, err := st.Get(ctx, key)
		noErr(t, "reading "+keyKind(key), err)
		v, _ := strconv.Atoi(string(raw))
		return v
	}
	if tries := get(challengeTriesKey(res.ChallengeID, 1)); tries != 100 {
		t.Fatalf("tries counter %d, want 100", tries)
	}
	if compared := get(userKey(c.tokens.UserID) + ":fail"); compared != 5 {
		t.Fatalf("%d wrong codes were compared, want at most MaxAttempts = 5", compared)
	}
	_, err = h.e.CheckStepOTP(ctx, tok, code, challengeProof(t, c, tok), testClient)
	wantErr(t, "the right code after 100 wrong ones", err, ErrBadCheckCode)
}

// The same guarantee for login codes, with the right code racing 99 wrong
// ones: whatever the interleaving, at most 5 codes are compared.
func TestConcurrentLoginCodesRedis(t *testing.T) {
	ctx := context.Background()
	st := redisStore(t)
	h := newHarness(t, st)
	flow, err := h.e.StartLogin(ctx, IdentifierPhone, phoneA, testClient)
	noErr(t, "StartLogin", err)
	code := h.sender.last(t).Code
	n, _ := strconv.Atoi(code)
	proofs := make([]*dpop.Proof, 100)
	for i := range proofs {
		proofs[i] = proofFor(t, newJKT(t))
	}
	errs := parallel(100, func(i int) error {
		guess := code
		if i > 0 {
			guess = fmt.Sprintf("%06d", (n+i)%1000000)
		}
		_, err := h.e.CheckLogin(ctx, flow, guess, proofs[i], ClientInfo{})
		return err
	})
	if s := successes(errs); s > 1 {
		t.Fatalf("%d logins from one flow", s)
	}
	raw, err := st.Get(ctx, identFailKey(IdentifierPhone, phoneA))
	failures := 0
	if err == nil {
		failures, _ = strconv.Atoi(string(raw))
	} else if !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	// A success resets the failure counter, so only bound it.
	if failures > 5 {
		t.Fatalf("%d wrong login codes were compared, want at most 5", failures)
	}
}
