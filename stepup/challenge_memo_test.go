package stepup

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// TestSignedChallengesMemo: a token is found by its exact bytes until its
// exp, never after, never with one byte changed, and the memo holds at
// most its size.
func TestSignedChallengesMemo(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := newSignedChallenges(2)
	ref := challengeRef{id: "chl_1", userID: "usr_1", sessionID: "ses_1", jti: "tok_1"}
	m.add("a.b.c", ref, now.Unix()+10)
	if got, ok := m.find("a.b.c", now); !ok || *got != ref {
		t.Fatalf("find = %+v, %v; want %+v", got, ok, ref)
	}
	if _, ok := m.find("a.b.d", now); ok {
		t.Error("another token's bytes found")
	}
	if _, ok := m.find("a.b.c", now.Add(10*time.Second)); ok {
		t.Error("found at its exp")
	}
	if _, ok := m.find("a.b.c", now); ok {
		t.Error("an expired token found again")
	}
	for _, tok := range []string{"t1", "t2", "t3"} {
		m.add(tok, ref, now.Unix()+10)
	}
	if len(m.m) != 2 {
		t.Errorf("%d entries in a memo of 2", len(m.m))
	}
	if off := newSignedChallenges(0); off != nil {
		t.Error("a memo of size 0 remembers")
	} else if _, ok := off.find("a.b.c", now); ok {
		t.Error("no memo found a token")
	}
}

// TestChallengeTokensAcrossInstances: two instances of one deployment
// (one signing key, one store), each remembering the tokens it signed. A
// challenge opened on one is sent on the other (verified in full there),
// checked on the first (remembered) and redeemed on the second; an
// instance that remembers nothing, or a forged copy, verifies in full.
func TestChallengeTokensAcrossInstances(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	a := newHarness(t, st)
	b := newHarness(t, st, func(c *Config) {
		c.Signer, c.HookSigner, c.Sender, c.Now = a.signer, a.signer, a.sender, a.clk.Now
		c.ChallengeVerifier = a.e.cfg.ChallengeVerifier
	})
	b.signer, b.sender, b.clk = a.signer, a.sender, a.clk
	for _, memory := range []int{1000, 0} {
		a.e.signed, b.e.signed = newSignedChallenges(memory), newSignedChallenges(memory)
		c := a.login(t, IdentifierPhone, phoneA)
		res := a.stepUp(t, c, scopeSMS, nil)
		if _, err := b.e.SendStepOTP(ctx, res.ChallengeToken, false, testClient); err != nil {
			t.Fatalf("memory %d: the code sent by the other instance: %v", memory, err)
		}
		forged := res.ChallengeToken[:len(res.ChallengeToken)-2] + "AA"
		if _, err := a.e.CheckStepOTP(ctx, forged, a.sender.last(t).Code, challengeProof(t, c, forged), testClient); err == nil {
			t.Fatalf("memory %d: a token with another signature accepted", memory)
		}
		done, err := a.e.CheckStepOTP(ctx, res.ChallengeToken, a.sender.last(t).Code, challengeProof(t, c, res.ChallengeToken), testClient)
		if err != nil {
			t.Fatalf("memory %d: the code checked by the first instance: %v", memory, err)
		}
		tokens, err := b.refresh(t, c, done)
		if err != nil || accessOf(t, tokens.AccessToken).Grant[scopeSMS] == "" {
			t.Fatalf("memory %d: redeemed on the other instance: %v", memory, err)
		}
	}
}

// TestRememberedChallengeOfAnotherCaller: a token this instance signed,
// presented by another user's session, is refused like any invalid one
// and leaves the challenge untouched.
func TestRememberedChallengeOfAnotherCaller(t *testing.T) {
	h := newHarness(t, nil)
	owner := h.login(t, IdentifierPhone, phoneA)
	other := h.login(t, IdentifierPhone, "+33699999999")
	res := h.stepUp(t, owner, scopeCustom, nil)
	if _, ok := h.e.signed.find(res.ChallengeToken, h.clk.Now()); !ok {
		t.Fatal("the token just signed is not remembered")
	}
	cl := challengeOf(t, res.ChallengeToken)
	vt := h.verificationToken(t, h.customer, verification{Sub: cl.Sub, ChallengeID: cl.ChallengeID, Key: cl.CurrentStep})
	_, err := h.e.ContinueStepUp(context.Background(), other.caller(), res.ChallengeToken, vt, challengeProof(t, other, res.ChallengeToken))
	wantErr(t, "another caller's remembered token", err, ErrInvalidChallenge)
	h.passCustom(t, owner, res.ChallengeToken)
}
