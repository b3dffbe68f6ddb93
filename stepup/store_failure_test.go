package stepup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// faultyStore is a real Memory store that fails chosen operations, the way
// one Redis Cluster slot's master does while the others answer: the
// operation named op on a key starting with prefix fails, times times.
type faultyStore struct {
	store.Store
	mu     sync.Mutex
	faults []*fault
}

type fault struct {
	op, prefix string
	times      int
}

func (f *faultyStore) failNext(op, prefix string, times int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &fault{op: op, prefix: prefix, times: times})
}

func (f *faultyStore) check(op, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ft := range f.faults {
		if ft.times > 0 && ft.op == op && strings.HasPrefix(key, ft.prefix) {
			ft.times--
			return fmt.Errorf("%w: injected %s failure on %s", store.ErrUnavailable, op, key)
		}
	}
	return nil
}

func (f *faultyStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := f.check("Get", key); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, key)
}

func (f *faultyStore) Create(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if err := f.check("Create", key); err != nil {
		return err
	}
	return f.Store.Create(ctx, key, v, ttl)
}

func (f *faultyStore) Swap(ctx context.Context, key string, old, v []byte, ttl time.Duration) error {
	if err := f.check("Swap", key); err != nil {
		return err
	}
	return f.Store.Swap(ctx, key, old, v, ttl)
}

func (f *faultyStore) Take(ctx context.Context, key string) ([]byte, error) {
	if err := f.check("Take", key); err != nil {
		return nil, err
	}
	return f.Store.Take(ctx, key)
}

func (f *faultyStore) AddMember(ctx context.Context, key, member string, ttl time.Duration) error {
	if err := f.check("AddMember", key); err != nil {
		return err
	}
	return f.Store.AddMember(ctx, key, member, ttl)
}

func newFaultyHarness(t *testing.T) (*harness, *faultyStore) {
	fs := &faultyStore{Store: store.NewMemory()}
	return newHarness(t, fs), fs
}

// TestLoginCheckLeftIntactByAStoreFailure: a store failure at any write of
// a right answer (the session, its index, spending the flow) answers 503
// and the same code then logs in; the failed attempts leave no session.
func TestLoginCheckLeftIntactByAStoreFailure(t *testing.T) {
	for _, f := range []fault{{"Create", "ses:", 1}, {"AddMember", "usr:", 1}, {"Take", "flow:", 1}} {
		t.Run(f.op+" "+f.prefix, func(t *testing.T) {
			h, fs := newFaultyHarness(t)
			ctx := context.Background()
			flow, err := h.e.StartLogin(ctx, IdentifierPhone, phoneA, testClient)
			noErr(t, "StartLogin", err)
			code := h.sender.last(t).Code
			jkt := newJKT(t)
			fs.failNext(f.op, f.prefix, f.times)
			_, err = h.e.CheckLogin(ctx, flow, code, proofFor(t, jkt), testClient)
			wantErr(t, "check during the failure", err, ErrUnavailable)
			tokens, err := h.e.CheckLogin(ctx, flow, code, proofFor(t, jkt), testClient)
			noErr(t, "the same code after the failure", err)
			sessions, err := h.e.AdminSessions(ctx, tokens.UserID)
			noErr(t, "AdminSessions", err)
			if len(sessions) != 1 {
				t.Fatalf("%d sessions after one login, want 1: %+v", len(sessions), sessions)
			}
			_, err = h.e.CheckLogin(ctx, flow, code, proofFor(t, jkt), testClient)
			wantErr(t, "the flow once used", err, ErrNoLoginFlow)
		})
	}
}

// TestRedemptionLeftIntactByAStoreFailure: a store failure while a
// completed step-up is redeemed (the grant, the challenge mark, the
// session's rotation) answers 503; the client's retry of the same refresh
// gets the grant, once, and the grant is spent once.
func TestRedemptionLeftIntactByAStoreFailure(t *testing.T) {
	for _, f := range []fault{{"Create", "grt:", 1}, {"Swap", "chl:", 1}, {"Swap", "ses:", 1}, {"Get", "grt:", 0}} {
		t.Run(f.op+" "+f.prefix, func(t *testing.T) {
			h, fs := newFaultyHarness(t)
			ctx := context.Background()
			c := h.login(t, IdentifierPhone, phoneA)
			done := h.passSMS(t, c, h.stepUp(t, c, scopeSMS, nil).ChallengeToken)
			fs.failNext(f.op, f.prefix, f.times)
			if f.times > 0 {
				_, err := h.e.Refresh(ctx, RefreshRequest{RefreshToken: c.tokens.RefreshToken, Proof: proofFor(t, c.jkt), StepUpToken: done})
				wantErr(t, "redemption during the failure", err, ErrUnavailable)
			}
			old := c.tokens.RefreshToken
			tokens, err := h.refresh(t, c, done)
			noErr(t, "the same refresh after the failure", err)
			grantID := accessOf(t, tokens.AccessToken).Grant[scopeSMS]
			if grantID == "" {
				t.Fatalf("the retried redemption carries no grant: %+v", accessOf(t, tokens.AccessToken))
			}
			_, err = h.e.ConsumeGrant(ctx, grantID, c.tokens.UserID, c.tokens.SessionID, scopeSMS)
			noErr(t, "ConsumeGrant", err)
			_, err = h.e.ConsumeGrant(ctx, grantID, c.tokens.UserID, c.tokens.SessionID, scopeSMS)
			wantErr(t, "second consumption", err, ErrUnauthorized)
			// The previous refresh token again, within the grace, with the
			// same step-up token (a retry whose first answer was received):
			// the rotation landed, so the step-up is spent, and the grant
			// spent above never comes back.
			_, err = h.e.Refresh(ctx, RefreshRequest{RefreshToken: old, Proof: proofFor(t, c.jkt), StepUpToken: done})
			wantErr(t, "redemption replayed after it landed", err, ErrTokenReused)
			_, err = h.refresh(t, c, done)
			wantErr(t, "redemption with the new refresh token", err, ErrTokenReused)
		})
	}
}

// TestRedemptionRetryOfAnotherRefreshIsReused: the retry path is only for
// the refresh that marked the challenge: another client key is refused,
// and the same key with another session generation finds the token reused.
func TestRedemptionRetryOfAnotherRefreshIsReused(t *testing.T) {
	h, fs := newFaultyHarness(t)
	ctx := context.Background()
	c := h.login(t, IdentifierPhone, phoneA)
	done := h.passSMS(t, c, h.stepUp(t, c, scopeSMS, nil).ChallengeToken)
	fs.failNext("Swap", "ses:", 1)
	_, err := h.e.Refresh(ctx, RefreshRequest{RefreshToken: c.tokens.RefreshToken, Proof: proofFor(t, c.jkt), StepUpToken: done})
	wantErr(t, "redemption during the failure", err, ErrUnavailable)
	// A second client with the same tokens but its own key is not the
	// refresh that marked the challenge.
	_, err = h.e.Refresh(ctx, RefreshRequest{RefreshToken: c.tokens.RefreshToken, Proof: proofFor(t, newJKT(t)), StepUpToken: done})
	wantErr(t, "the same retry from another key", err, ErrDPoPKeyMismatch)
	// A plain refresh moves the session on; the marked redemption belongs
	// to the generation before it.
	_, err = h.refresh(t, c, "")
	noErr(t, "plain refresh", err)
	_, err = h.refresh(t, c, done)
	wantErr(t, "redemption by a later refresh", err, ErrTokenReused)
}

// TestFinalizeLeftIntactByAStoreFailure: a password login's ticket is
// spent last, so a 503 while its session is written leaves it for the
// retry.
func TestFinalizeLeftIntactByAStoreFailure(t *testing.T) {
	fs := &faultyStore{Store: store.NewMemory()}
	h := newHarness(t, fs, withPasswords)
	if _, err := h.signUp(t, "ada@example.com", goodPassword); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ticket, err := h.e.PasswordLogin(ctx, "ada@example.com", goodPassword, testClient)
	noErr(t, "PasswordLogin", err)
	jkt := newJKT(t)
	fs.failNext("Create", "ses:", 1)
	_, err = h.e.FinalizeLogin(ctx, ticket, "", proofFor(t, jkt), testClient)
	wantErr(t, "finalize during the failure", err, ErrUnavailable)
	fin, err := h.e.FinalizeLogin(ctx, ticket, "", proofFor(t, jkt), testClient)
	noErr(t, "finalize after the failure", err)
	if fin.Tokens == nil {
		t.Fatal("no tokens")
	}
	_, err = h.e.FinalizeLogin(ctx, ticket, "", proofFor(t, jkt), testClient)
	if !errors.Is(err, ErrInvalidLoginTicket) {
		t.Fatalf("a spent ticket: %v", err)
	}
}

// TestRightCodeKeepsItsAttemptsThroughFailures: more 503s in a row than a
// code has attempts, each after the code was compared, then the right
// code still logs in (and a step-up code still completes its step): an
// attempt is spent only by a check that succeeded as a whole.
func TestRightCodeKeepsItsAttemptsThroughFailures(t *testing.T) {
	h, fs := newFaultyHarness(t)
	ctx := context.Background()
	flow, err := h.e.StartLogin(ctx, IdentifierPhone, phoneA, testClient)
	noErr(t, "StartLogin", err)
	code := h.sender.last(t).Code
	jkt := newJKT(t)
	failures := h.e.cfg.OTP.MaxAttempts + 2
	fs.failNext("Create", "ses:", failures)
	for i := 0; i < failures; i++ {
		_, err = h.e.CheckLogin(ctx, flow, code, proofFor(t, jkt), testClient)
		wantErr(t, "check during the failure", err, ErrUnavailable)
	}
	c := &client{jkt: jkt}
	c.tokens, err = h.e.CheckLogin(ctx, flow, code, proofFor(t, jkt), testClient)
	noErr(t, "the right code after the failures", err)

	token := h.stepUp(t, c, scopeSMS, nil).ChallengeToken
	_, err = h.e.SendStepOTP(ctx, token, false, testClient)
	noErr(t, "SendStepOTP", err)
	stepCode := h.sender.last(t).Code
	fs.failNext("Swap", "chl:", failures)
	for i := 0; i < failures; i++ {
		_, err = h.e.CheckStepOTP(ctx, token, stepCode, challengeProof(t, c, token), testClient)
		wantErr(t, "step check during the failure", err, ErrUnavailable)
	}
	_, err = h.e.CheckStepOTP(ctx, token, stepCode, challengeProof(t, c, token), testClient)
	noErr(t, "the right step code after the failures", err)
}
