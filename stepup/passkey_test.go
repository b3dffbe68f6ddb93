package stepup

import (
	"context"
	"encoding/base64"
	"slices"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/softauthn"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// TestPasskeyJourney enrols a passkey, steps up with it, logs in with it
// and finalizes the login, on every store: what each answer carries and
// what each token says.
func TestPasskeyJourney(t *testing.T) {
	forEachStore(t, func(t *testing.T, st func() store.Store) {
		ctx := context.Background()
		h := newHarness(t, st(), withPasskeys())
		c := h.login(t, IdentifierPhone, phoneA)
		a := &softauthn.Authenticator{CountFrom: 7}

		hold := h.grantWrite(t, c)
		if !hold.InToken || hold.GrantID == "" {
			t.Fatalf("the enrolment scope is not a single-use grant of the token: %+v", hold)
		}
		start, err := h.e.BeginPasskeyRegistration(ctx, c.caller(), hold, "user@example.com", "", "laptop")
		noErr(t, "register/begin", err)
		opts := optionsOf(t, start.Options)
		rp, _ := opts["rp"].(map[string]any)
		user, _ := opts["user"].(map[string]any)
		sel, _ := opts["authenticatorSelection"].(map[string]any)
		if rp["id"] != pkRPID || rp["name"] != "Stepup tests" || opts["challenge"] == "" || opts["publicKey"] != nil {
			t.Fatalf("creation options are not flat with rp.id: %s", start.Options)
		}
		if user["id"] != base64.RawURLEncoding.EncodeToString([]byte(c.tokens.UserID)) || user["name"] != "user@example.com" ||
			user["displayName"] != "user@example.com" {
			t.Fatalf("creation options' user: %v", user)
		}
		if sel["residentKey"] != "required" || sel["userVerification"] != "required" || opts["attestation"] != "none" {
			t.Fatalf("creation options ask for %v, attestation %v", sel, opts["attestation"])
		}
		cred, answer, err := a.Create(start.Options, honest)
		noErr(t, "authenticator", err)
		pk, already, err := h.e.FinishPasskeyRegistration(ctx, c.caller(), hold, start.Token, answer)
		noErr(t, "register/finish", err)
		if already || pk.ID != cred.IDText() || pk.Nickname != "laptop" || pk.BackupState {
			t.Fatalf("registered %+v (already %v)", pk, already)
		}
		list, err := h.e.ListPasskeys(ctx, c.caller())
		noErr(t, "list", err)
		if len(list) != 1 || list[0].ID != cred.IDText() {
			t.Fatalf("list: %+v", list)
		}

		// Step-up with the passkey: the options come with the challenge.
		res := h.stepUp(t, c, scopePasskey, nil)
		if challengeOf(t, res.ChallengeToken).CurrentStep != StepVerifyPasskey {
			t.Fatalf("current step %q", challengeOf(t, res.ChallengeToken).CurrentStep)
		}
		ro := optionsOf(t, res.PasskeyOptions)
		allow, _ := ro["allowCredentials"].([]any)
		if ro["rpId"] != pkRPID || ro["userVerification"] != "required" || len(allow) != 1 ||
			allow[0].(map[string]any)["id"] != cred.IDText() {
			t.Fatalf("request options: %s", res.PasskeyOptions)
		}
		done, err := h.assert(t, c, res.ChallengeToken, res.PasskeyOptions, a, cred, honest)
		noErr(t, "stepup/continue with passkey_assertion", err)
		if challengeOf(t, done.ChallengeToken).CurrentStep != CurrentStepCompleted || done.PasskeyOptions != nil {
			t.Fatalf("after the passkey: %+v", challengeOf(t, done.ChallengeToken))
		}
		tok, err := h.refresh(t, c, done.ChallengeToken)
		noErr(t, "redeem", err)
		ac := accessOf(t, tok.AccessToken)
		if ac.ACR != acrHardware || !slices.Equal(ac.AMR, []string{"hwk", "pin"}) || ac.Grant[scopePasskey] == "" {
			t.Fatalf("after a device-bound passkey: acr %q amr %v grants %v", ac.ACR, ac.AMR, ac.Grant)
		}

		// Login with it, from another device.
		lc, err := h.passkeyLogin(t, a, cred, honest)
		noErr(t, "passkey login", err)
		lac := accessOf(t, lc.tokens.AccessToken)
		if lc.tokens.UserID != c.tokens.UserID || lac.ACR != acrHardware || !slices.Equal(lac.AMR, []string{"hwk", "pin"}) {
			t.Fatalf("passkey login: user %s (want %s), acr %q, amr %v", lc.tokens.UserID, c.tokens.UserID, lac.ACR, lac.AMR)
		}
		l, _, err := h.e.loadPasskeys(ctx, c.tokens.UserID)
		noErr(t, "load", err)
		if got := l.Credentials[0].SignCount; got != 9 {
			t.Fatalf("stored sign count %d after two assertions from 7, want 9", got)
		}
	})
}

// TestPasskeyRefusals: every way an assertion or an enrolment can be
// wrong is refused, changes nothing and grants nothing, on every store.
func TestPasskeyRefusals(t *testing.T) {
	forEachStore(t, func(t *testing.T, st func() store.Store) {
		ctx := context.Background()
		events := &eventLog{}
		h := newHarness(t, st(), withPasskeys(), func(c *Config) { c.Events = events.add })
		// Each user may open 10 challenges per 10 minutes: the cases share
		// users sparingly.
		phones := 0
		newUser := func() (*client, *softauthn.Authenticator, *softauthn.Credential) {
			phones++
			c := h.login(t, IdentifierPhone, "+3361234"+itoa(1000+phones))
			a := &softauthn.Authenticator{CountFrom: 1}
			cred, _ := h.enrol(t, c, a, honest)
			return c, a, cred
		}
		stepFails := func(name string, cer softauthn.Ceremony, want error) {
			t.Helper()
			c, a, cred := newUser()
			res := h.stepUp(t, c, scopePasskey, nil)
			_, err := h.assert(t, c, res.ChallengeToken, res.PasskeyOptions, a, cred, cer)
			wantErr(t, name, err, want)
			// The challenge did not move: the honest assertion still passes.
			done, err := h.assert(t, c, res.ChallengeToken, res.PasskeyOptions, a, cred, honest)
			noErr(t, name+": then the honest assertion", err)
			if challengeOf(t, done.ChallengeToken).CurrentStep != CurrentStepCompleted {
				t.Fatalf("%s: the challenge did not complete after the honest assertion", name)
			}
		}
		stepFails("another origin", softauthn.Ceremony{Origin: "https://localhost.evil.example"}, ErrPasskeyAssertion)
		stepFails("an http origin", softauthn.Ceremony{Origin: "http://localhost:8443"}, ErrPasskeyAssertion)
		stepFails("another rp id", softauthn.Ceremony{Origin: pkOrigin, RPID: "evil.example"}, ErrPasskeyAssertion)
		stepFails("no user verification", softauthn.Ceremony{Origin: pkOrigin, NoUV: true}, ErrPasskeyAssertion)
		stepFails("a registration's client data", softauthn.Ceremony{Origin: pkOrigin, Type: "webauthn.create"}, ErrPasskeyAssertion)
		stepFails("another challenge", softauthn.Ceremony{Origin: pkOrigin, Challenge: base64.RawURLEncoding.EncodeToString(make([]byte, 32))}, ErrPasskeyAssertion)
		stepFails("a cross-origin iframe", softauthn.Ceremony{Origin: pkOrigin, CrossOrigin: true}, ErrPasskeyAssertion)
		stepFails("a bad signature", softauthn.Ceremony{Origin: pkOrigin, BadSignature: true}, ErrPasskeyAssertion)
		if got := len(events.named(EventStepUpCheckFailed)); got != 8 {
			t.Fatalf("%d stepup.check_failed events for 8 refused assertions", got)
		}

		// A replayed assertion: the challenge moved on with it.
		c, a, cred := newUser()
		res := h.stepUp(t, c, scopePasskey, nil)
		assertion, err := a.Get(res.PasskeyOptions, cred, honest)
		noErr(t, "authenticator", err)
		caller := c.caller()
		_, err = h.e.AdvanceByPasskey(ctx, &caller, res.ChallengeToken, assertion, challengeProof(t, c, res.ChallengeToken), testClient)
		noErr(t, "first use", err)
		_, err = h.e.AdvanceByPasskey(ctx, &caller, res.ChallengeToken, assertion, challengeProof(t, c, res.ChallengeToken), testClient)
		wantErr(t, "the same assertion again", err, ErrInvalidChallenge)

		// An assertion made for one challenge, sent for another.
		first, second := h.stepUp(t, c, scopePasskey, nil), h.stepUp(t, c, scopePasskey, nil)
		forFirst, err := a.Get(first.PasskeyOptions, cred, honest)
		noErr(t, "authenticator", err)
		_, err = h.e.AdvanceByPasskey(ctx, &caller, second.ChallengeToken, forFirst, challengeProof(t, c, second.ChallengeToken), testClient)
		wantErr(t, "an assertion for another challenge", err, ErrPasskeyAssertion)

		// Another user's passkey, for this user's challenge.
		other, otherAuth, otherCred := newUser()
		res = h.stepUp(t, c, scopePasskey, nil)
		_, err = h.assert(t, c, res.ChallengeToken, res.PasskeyOptions, otherAuth, otherCred, softauthn.Ceremony{Origin: pkOrigin, RPID: pkRPID})
		wantErr(t, "another user's passkey", err, ErrPasskeyAssertion)
		// ... nor this user's passkey for the other user's challenge.
		oc := h.stepUp(t, other, scopePasskey, nil)
		assertion, err = a.Get(oc.PasskeyOptions, cred, softauthn.Ceremony{Origin: pkOrigin, RPID: pkRPID})
		noErr(t, "authenticator", err)
		oCaller := other.caller()
		_, err = h.e.AdvanceByPasskey(ctx, &oCaller, oc.ChallengeToken, assertion, challengeProof(t, other, oc.ChallengeToken), testClient)
		wantErr(t, "a passkey for another user's challenge", err, ErrPasskeyAssertion)

		// A clone: a sign count that did not move forward.
		c, a, cred = newUser()
		res = h.stepUp(t, c, scopePasskey, nil)
		stale := cred.Counter // the count of the last assertion
		_, err = h.assert(t, c, res.ChallengeToken, res.PasskeyOptions, a, cred, softauthn.Ceremony{Origin: pkOrigin, Counter: &stale})
		wantErr(t, "a sign count that did not move forward", err, ErrPasskeyBlocked)
		clones := events.named(EventPasskeyCloneSuspected)
		if len(clones) != 1 || clones[0].UserID != c.tokens.UserID || clones[0].Scope != scopePasskey {
			t.Fatalf("clone events: %+v", clones)
		}

		// A deleted passkey verifies nothing, and the step is then
		// unavailable.
		res = h.stepUp(t, c, scopePasskey, nil)
		noErr(t, "delete", h.e.DeletePasskey(ctx, c.caller(), cred.IDText()))
		_, err = h.assert(t, c, res.ChallengeToken, res.PasskeyOptions, a, cred, honest)
		wantErr(t, "a deleted passkey", err, ErrPasskeyAssertion)
		_, err = h.e.RequestStepUp(ctx, c.caller(), scopePasskey, nil, Signals{})
		wantErr(t, "a passkey step-up without a passkey", err, ErrPasskeyStepUnavailable)
		wantErr(t, "deleting it again", h.e.DeletePasskey(ctx, c.caller(), cred.IDText()), ErrPasskeyNotFound)
	})
}

// TestPasskeyEnrolmentNeedsTheWriteScope: no enrolment without
// prld:passkey:write, and one step-up enrols one passkey, on every store.
func TestPasskeyEnrolmentNeedsTheWriteScope(t *testing.T) {
	forEachStore(t, func(t *testing.T, st func() store.Store) {
		ctx := context.Background()
		h := newHarness(t, st(), withPasskeys())
		c := h.login(t, IdentifierPhone, phoneA)
		a := &softauthn.Authenticator{}

		_, err := h.e.BeginPasskeyRegistration(ctx, c.caller(), holdOf(t, c.tokens.AccessToken), "u", "", "")
		wantErr(t, "begin without the scope", err, ErrInsufficientScope)
		_, err = h.e.BeginPasskeyRegistration(ctx, c.caller(), ScopeHold{InToken: true}, "u", "", "")
		wantErr(t, "begin with a token claiming a scope no grant backs", err, ErrInsufficientScope)

		// Two ceremonies begun with one grant: the first to finish spends
		// it; the second is refused and leaves no passkey behind.
		hold := h.grantWrite(t, c)
		one, err := h.e.BeginPasskeyRegistration(ctx, c.caller(), hold, "u", "", "one")
		noErr(t, "first begin", err)
		two, err := h.e.BeginPasskeyRegistration(ctx, c.caller(), hold, "u", "", "two")
		noErr(t, "second begin", err)
		_, a1, err := a.Create(one.Options, honest)
		noErr(t, "authenticator", err)
		_, a2, err := (&softauthn.Authenticator{}).Create(two.Options, honest)
		noErr(t, "authenticator", err)
		_, _, err = h.e.FinishPasskeyRegistration(ctx, c.caller(), hold, one.Token, a1)
		noErr(t, "first finish", err)
		_, _, err = h.e.FinishPasskeyRegistration(ctx, c.caller(), hold, two.Token, a2)
		wantErr(t, "a second enrolment with the spent scope", err, ErrInsufficientScope)
		_, err = h.e.BeginPasskeyRegistration(ctx, c.caller(), hold, "u", "", "three")
		wantErr(t, "a third begin with the spent scope", err, ErrInsufficientScope)
		list, err := h.e.ListPasskeys(ctx, c.caller())
		noErr(t, "list", err)
		if len(list) != 1 || list[0].Nickname != "one" {
			t.Fatalf("passkeys after one spent scope: %+v", list)
		}
		// The registration token is single use, and another session's
		// ceremony is not this one's.
		_, _, err = h.e.FinishPasskeyRegistration(ctx, c.caller(), hold, one.Token, a1)
		wantErr(t, "a spent registration token", err, ErrPasskeyRegistration)
		hold = h.grantWrite(t, c)
		three, err := h.e.BeginPasskeyRegistration(ctx, c.caller(), hold, "u", "", "")
		noErr(t, "begin", err)
		_, a3, err := (&softauthn.Authenticator{}).Create(three.Options, honest)
		noErr(t, "authenticator", err)
		d := h.login(t, IdentifierPhone, phoneA) // the same user, another session
		_, _, err = h.e.FinishPasskeyRegistration(ctx, d.caller(), holdOf(t, d.tokens.AccessToken), three.Token, a3)
		wantErr(t, "another session's ceremony", err, ErrPasskeyRegistration)
	})
}

// TestPasskeyAssertionSentManyTimes: one assertion sent 20 times at once
// (a client retrying) on every store: exactly one completes the step, the others
// find the challenge moved on, and none is taken for a clone.
func TestPasskeyAssertionSentManyTimes(t *testing.T) {
	forEachStore(t, func(t *testing.T, st func() store.Store) {
		ctx := context.Background()
		events := &eventLog{}
		h := newHarness(t, st(), withPasskeys(), func(c *Config) { c.Events = events.add })
		c := h.login(t, IdentifierPhone, phoneA)
		a := &softauthn.Authenticator{CountFrom: 3}
		cred, _ := h.enrol(t, c, a, honest)
		res := h.stepUp(t, c, scopePasskey, nil)
		assertion, err := a.Get(res.PasskeyOptions, cred, honest)
		noErr(t, "authenticator", err)
		caller := c.caller()
		errs := parallel(20, func(int) error {
			_, err := h.e.AdvanceByPasskey(ctx, &caller, res.ChallengeToken, assertion, challengeProof(t, c, res.ChallengeToken), testClient)
			return err
		})
		if n := successes(errs); n != 1 {
			t.Fatalf("%d of 20 sends of one assertion completed the step, want 1", n)
		}
		for _, err := range errs {
			if err != nil && err != ErrInvalidChallenge {
				t.Fatalf("a losing send failed with %v, want invalid_challenge_token", err)
			}
		}
		if clones := events.named(EventPasskeyCloneSuspected); len(clones) != 0 {
			t.Fatalf("a retried assertion was taken for a clone: %+v", clones)
		}
	})
}
