package stepup

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
)

const phoneA = "+33612345678"

// stepUp requests scope for c and expects a challenge.
func (h *harness) stepUp(t testing.TB, c *client, scope string, md map[string]string) *StepUpResult {
	t.Helper()
	res, err := h.e.RequestStepUp(context.Background(), c.caller(), scope, md, Signals{})
	if err != nil {
		t.Fatalf("RequestStepUp %s: %v", scope, err)
	}
	if res.ChallengeToken == "" {
		t.Fatalf("RequestStepUp %s: status %s without a challenge token", scope, res.Status)
	}
	return res
}

// passSMS sends and checks the code of the current verify_sms step.
func (h *harness) passSMS(t testing.TB, c *client, token string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := h.e.SendStepOTP(ctx, token, false, testClient); err != nil {
		t.Fatalf("SendStepOTP: %v", err)
	}
	next, err := h.e.CheckStepOTP(ctx, token, h.sender.last(t).Code, challengeProof(t, c, token), testClient)
	if err != nil {
		t.Fatalf("CheckStepOTP: %v", err)
	}
	return next
}

// passCustom completes the current custom step with a verification token.
func (h *harness) passCustom(t testing.TB, c *client, token string) string {
	t.Helper()
	cl := challengeOf(t, token)
	vt := h.verificationToken(t, h.customer, verification{Sub: cl.Sub, ChallengeID: cl.ChallengeID, Key: cl.CurrentStep})
	next, err := h.e.ContinueStepUp(context.Background(), c.caller(), token, vt, challengeProof(t, c, token))
	if err != nil {
		t.Fatalf("ContinueStepUp %s: %v", cl.CurrentStep, err)
	}
	return next
}

func TestRequestStepUpRefusals(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	c := h.login(t, IdentifierPhone, phoneA)

	_, err := h.e.RequestStepUp(ctx, c.caller(), "unknown:scope", nil, Signals{})
	wantErr(t, "unknown scope", err, ErrScopeNotAllowed)
	_, err = h.e.RequestStepUp(ctx, c.caller(), "transfer write", nil, Signals{})
	wantErr(t, "scope with a space", err, ErrScopeNotAllowed)
	_, err = h.e.RequestStepUp(ctx, Caller{UserID: c.tokens.UserID, SessionID: newID(prefixSession)}, scopeSMS, nil, Signals{})
	wantErr(t, "unknown session", err, ErrUnauthorized)
	other := h.login(t, IdentifierPhone, "+33699999999")
	_, err = h.e.RequestStepUp(ctx, Caller{UserID: other.tokens.UserID, SessionID: c.tokens.SessionID}, scopeSMS, nil, Signals{})
	wantErr(t, "session of another user", err, ErrUnauthorized)

	none := newHarness(t, nil, func(c *Config) { c.Scopes = nil })
	nc := none.login(t, IdentifierPhone, phoneA)
	_, err = none.e.RequestStepUp(ctx, nc.caller(), scopeSMS, nil, Signals{})
	wantErr(t, "no scopes configured", err, ErrNotConfigured)

	long := func(n int) string { return strings.Repeat("k", n) }
	for _, tt := range []struct {
		name string
		md   map[string]string
		want error
	}{
		{"six keys", map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6"}, ErrInvalidMetadata},
		{"13-char key", map[string]string{long(13): "1"}, ErrInvalidMetadata},
		{"33-char value", map[string]string{"amount": long(33)}, ErrInvalidMetadata},
		{"empty key", map[string]string{"": "1"}, ErrInvalidMetadata},
		{"at the limits", map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", long(12): long(32)}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.e.RequestStepUp(ctx, c.caller(), scopeSMS, tt.md, Signals{})
			if tt.want == nil {
				noErr(t, "metadata at the limits", err)
				return
			}
			wantErr(t, tt.name, err, tt.want)
		})
	}
}

func TestRequestStepUpBlock(t *testing.T) {
	h := newHarness(t, nil)
	c := h.login(t, IdentifierPhone, phoneA)
	res, err := h.e.RequestStepUp(context.Background(), c.caller(), scopeBlocked, nil, Signals{})
	noErr(t, "RequestStepUp", err)
	if res.Status != StatusBlock || res.ChallengeToken != "" || res.ChallengeID != "" {
		t.Fatalf("block answered %+v", res)
	}
	if h.storeHas(t, userChallengesKey(c.tokens.UserID)) {
		t.Fatal("a blocked step-up counted as an open challenge")
	}
}

// The challenge token carries what the SDK reads (prelude-protocol.md §8.4).
func TestRequestStepUpDirectToken(t *testing.T) {
	h := newHarness(t, nil)
	c := h.login(t, IdentifierPhone, phoneA)
	md := map[string]string{"amount": "500", "currency": "USD"}
	res := h.stepUp(t, c, scopeSMSThenK, md)
	if res.Status != StatusReview || !validID(prefixChallenge, res.ChallengeID) {
		t.Fatalf("result %+v", res)
	}
	claims := decodeClaims(t, res.ChallengeToken)
	for name, want := range map[string]any{
		"current_step": StepVerifySMS, "challenge_id": res.ChallengeID, "sub": c.tokens.UserID,
		"sid": c.tokens.SessionID, "scope_requested": scopeSMSThenK, "iss": testIssuer, "grant_mode": GrantSingleUse,
	} {
		if claims[name] != want {
			t.Errorf("%s = %v, want %v", name, claims[name], want)
		}
	}
	if jti, _ := claims["jti"].(string); jti == "" {
		t.Error("no jti")
	}
	exp, ok := claims["exp"].(json.Number)
	if !ok {
		t.Fatalf("exp %T is not a number", claims["exp"])
	}
	if n, err := exp.Int64(); err != nil || n != h.clk.Now().Add(300*time.Second).Unix() {
		t.Errorf("exp %v: want the first step's end", exp)
	}
	if got, _ := json.Marshal(claims["metadata"]); string(got) != `{"amount":"500","currency":"USD"}` {
		t.Errorf("metadata %s", got)
	}
	steps, _ := json.Marshal(claims["steps"])
	want := `[{"done":false,"expiration_duration":300,"key":"verify_sms","order":1},{"done":false,"expiration_duration":300,"key":"kyc_review","order":2}]`
	if string(steps) != want {
		t.Errorf("steps %s\nwant  %s", steps, want)
	}
	if !h.storeHas(t, challengeKey(res.ChallengeID)) {
		t.Fatal("the challenge is not stored")
	}

	// Without metadata the claim is still an object.
	res = h.stepUp(t, c, scopeSMS, nil)
	if got, _ := json.Marshal(decodeClaims(t, res.ChallengeToken)["metadata"]); string(got) != "{}" {
		t.Errorf("metadata without request metadata: %s", got)
	}

	// Each transition: new jti, same challenge_id, step done.
	res = h.stepUp(t, c, scopeSMSThenK, md)
	next := h.passSMS(t, c, res.ChallengeToken)
	nc, oc := challengeOf(t, next), challengeOf(t, res.ChallengeToken)
	if nc.ChallengeID != oc.ChallengeID || nc.Jti == oc.Jti || nc.CurrentStep != "kyc_review" || !nc.Steps[0].Done || nc.Steps[1].Done {
		t.Fatalf("token after the SMS step: %+v", nc)
	}
	done := h.passCustom(t, c, next)
	dc := challengeOf(t, done)
	if dc.CurrentStep != CurrentStepCompleted || !dc.Steps[1].Done {
		t.Fatalf("token after the last step: %+v", dc)
	}
}

func TestOpenChallengesAreCapped(t *testing.T) {
	h := newHarness(t, nil)
	c := h.login(t, IdentifierPhone, phoneA)
	for i := 0; i < maxOpenChallenges; i++ {
		h.stepUp(t, c, scopeSMS, nil)
	}
	_, err := h.e.RequestStepUp(context.Background(), c.caller(), scopeSMS, nil, Signals{})
	wantErr(t, "one challenge too many", err, ErrTooManyChallenges)
}

func TestStepOTP(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	c := h.login(t, IdentifierPhone, phoneA)
	res := h.stepUp(t, c, scopeSMS, nil)
	tok := res.ChallengeToken

	_, err := h.e.CheckStepOTP(ctx, tok, "123456", challengeProof(t, c, tok), testClient)
	wantErr(t, "check before any code was sent", err, ErrBadCheckCode)
	_, err = h.e.SendStepOTP(ctx, tok, true, testClient)
	wantErr(t, "retry before a first send", err, ErrBadRequest)

	id, err := h.e.SendStepOTP(ctx, tok, false, testClient)
	noErr(t, "SendStepOTP", err)
	m := h.sender.last(t)
	if id != res.ChallengeID || m.To != phoneA || m.Channel != "sms" || m.Purpose != "step_up" || m.ChallengeID != res.ChallengeID || m.Scope != scopeSMS {
		t.Fatalf("message %+v (id %s)", m, id)
	}
	_, err = h.e.SendStepOTP(ctx, tok, true, testClient)
	wantErr(t, "resend within the cooldown", err, ErrResendTooSoon)

	wrong := "000000"
	if m.Code == wrong {
		wrong = "111111"
	}
	_, err = h.e.CheckStepOTP(ctx, tok, wrong, challengeProof(t, c, tok), testClient)
	wantErr(t, "wrong code", err, ErrBadCheckCode)
	_, err = h.e.CheckStepOTP(ctx, tok, m.Code, nil, testClient)
	wantErr(t, "no proof", err, ErrMissingDPoP)
	_, err = h.e.CheckStepOTP(ctx, tok, m.Code, &dpop.Proof{Thumbprint: newJKT(t), ID: challengeOf(t, tok).Jti}, testClient)
	wantErr(t, "proof of another key", err, ErrDPoPKeyMismatch)
	_, err = h.e.CheckStepOTP(ctx, tok, m.Code, proofFor(t, c.jkt), testClient)
	wantErr(t, "proof whose jti is not the token's", err, ErrInvalidDPoP)

	next, err := h.e.CheckStepOTP(ctx, tok, m.Code, challengeProof(t, c, tok), testClient)
	noErr(t, "right code", err)
	if cl := challengeOf(t, next); cl.CurrentStep != CurrentStepCompleted || !cl.Steps[0].Done {
		t.Fatalf("token after the code: %+v", cl)
	}
	_, err = h.e.CheckStepOTP(ctx, tok, m.Code, challengeProof(t, c, tok), testClient)
	wantErr(t, "the code again with the stale token", err, ErrInvalidChallenge)
	_, err = h.e.CheckStepOTP(ctx, next, m.Code, challengeProof(t, c, next), testClient)
	wantErr(t, "completed challenge", err, ErrStepNotFound)
}

func TestStepOTPAttemptsAndResends(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	c := h.login(t, IdentifierPhone, phoneA)
	tok := h.stepUp(t, c, scopeSMS, nil).ChallengeToken
	_, err := h.e.SendStepOTP(ctx, tok, false, testClient)
	noErr(t, "SendStepOTP", err)
	code := h.sender.last(t).Code
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := 0; i < 5; i++ {
		_, err := h.e.CheckStepOTP(ctx, tok, wrong, challengeProof(t, c, tok), testClient)
		wantErr(t, "wrong code", err, ErrBadCheckCode)
	}
	_, err = h.e.CheckStepOTP(ctx, tok, code, challengeProof(t, c, tok), testClient)
	wantErr(t, "right code after 5 failures", err, ErrBadCheckCode)

	// A resend gives a fresh code with fresh attempts; at most 3 resends.
	for i := 0; i < 3; i++ {
		h.clk.Advance(30 * time.Second)
		_, err := h.e.SendStepOTP(ctx, tok, true, testClient)
		noErr(t, "resend", err)
	}
	h.clk.Advance(30 * time.Second)
	_, err = h.e.SendStepOTP(ctx, tok, true, testClient)
	wantErr(t, "fourth resend", err, ErrRateLimited)
	_, err = h.e.CheckStepOTP(ctx, tok, h.sender.last(t).Code, challengeProof(t, c, tok), testClient)
	noErr(t, "the last code", err)
}

func TestSendStepOTPNeedsAVerifiedIdentifier(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) {
		c.Scopes["email"] = ScopePolicy{Direct: &DirectPolicy{GrantMode: GrantSingleUse, GrantedFor: 60 * time.Second,
			Steps: []DirectStep{{Key: StepVerifyEmail, Expiration: 300 * time.Second}}}}
	})
	c := h.login(t, IdentifierPhone, phoneA)
	tok := h.stepUp(t, c, "email", nil).ChallengeToken
	sent := h.sender.count()
	_, err := h.e.SendStepOTP(context.Background(), tok, false, testClient)
	wantErr(t, "email step for a phone-only user", err, ErrNoVerifiedIdentifier)
	if h.sender.count() != sent {
		t.Fatal("a code was sent")
	}
}

func TestContinueStepUpRefusals(t *testing.T) {
	ctx := context.Background()
	type env struct {
		h        *harness
		c        *client
		token    string // challenge at kyc_review (step 1 of kyc_review, doc_check)
		claims   challengeClaims
		vt       string // a valid verification token for the current step
		intruder *client
		sibling  *client // another session of the same user
	}
	setup := func(t *testing.T) *env {
		h := newHarness(t, nil)
		en := &env{h: h, c: h.login(t, IdentifierPhone, phoneA)}
		en.sibling = h.login(t, IdentifierPhone, phoneA)
		en.intruder = h.login(t, IdentifierPhone, "+33699999999")
		en.token = h.stepUp(t, en.c, scopeCustom, nil).ChallengeToken
		en.claims = challengeOf(t, en.token)
		en.vt = h.verificationToken(t, h.customer, verification{Sub: en.claims.Sub, ChallengeID: en.claims.ChallengeID, Key: "kyc_review"})
		return en
	}
	// ownerStillContinues proves a refusal left the challenge untouched.
	ownerStillContinues := func(t *testing.T, en *env) {
		t.Helper()
		if _, err := en.h.e.ContinueStepUp(ctx, en.c.caller(), en.token, en.vt, challengeProof(t, en.c, en.token)); err != nil {
			t.Fatalf("the owner can no longer continue: %v", err)
		}
	}

	t.Run("another user's caller", func(t *testing.T) {
		en := setup(t)
		_, err := en.h.e.ContinueStepUp(ctx, en.intruder.caller(), en.token, en.vt, challengeProof(t, en.intruder, en.token))
		wantErr(t, "intruder", err, ErrInvalidChallenge)
		ownerStillContinues(t, en)
	})
	t.Run("another session of the same user", func(t *testing.T) {
		en := setup(t)
		_, err := en.h.e.ContinueStepUp(ctx, en.sibling.caller(), en.token, en.vt, challengeProof(t, en.sibling, en.token))
		wantErr(t, "sibling session", err, ErrInvalidChallenge)
		ownerStillContinues(t, en)
	})
	t.Run("proof of another key", func(t *testing.T) {
		en := setup(t)
		_, err := en.h.e.ContinueStepUp(ctx, en.c.caller(), en.token, en.vt, challengeProof(t, en.intruder, en.token))
		wantErr(t, "key", err, ErrDPoPKeyMismatch)
		_, err = en.h.e.ContinueStepUp(ctx, en.c.caller(), en.token, en.vt, proofFor(t, en.c.jkt))
		wantErr(t, "jti", err, ErrInvalidDPoP)
		_, err = en.h.e.ContinueStepUp(ctx, en.c.caller(), en.token, en.vt, nil)
		wantErr(t, "no proof", err, ErrMissingDPoP)
		ownerStillContinues(t, en)
	})
	t.Run("stale token", func(t *testing.T) {
		en := setup(t)
		next := en.h.passCustom(t, en.c, en.token)
		vt2 := en.h.verificationToken(t, en.h.customer, verification{Sub: en.claims.Sub, ChallengeID: en.claims.ChallengeID, Key: "doc_check"})
		_, err := en.h.e.ContinueStepUp(ctx, en.c.caller(), en.token, vt2, challengeProof(t, en.c, en.token))
		wantErr(t, "the token before the transition", err, ErrInvalidChallenge)
		_, err = en.h.e.ContinueStepUp(ctx, en.c.caller(), next, vt2, challengeProof(t, en.c, next))
		noErr(t, "the current token", err)
	})
	t.Run("garbage and foreign challenge tokens", func(t *testing.T) {
		en := setup(t)
		forged := mustSigner(t)
		forgedTok, err := forged.Sign(ChallengeTokenType, en.claims)
		noErr(t, "signing", err)
		for name, tok := range map[string]string{"garbage": "a.b.c", "empty": "", "unknown key": forgedTok,
			"access token": en.c.tokens.AccessToken} {
			_, err := en.h.e.ContinueStepUp(ctx, en.c.caller(), tok, en.vt, challengeProof(t, en.c, en.token))
			wantErr(t, name, err, ErrInvalidChallenge)
		}
		ownerStillContinues(t, en)
	})

	verificationCases := []struct {
		name string
		v    func(en *env) verification
		want error
	}{
		{"step 2 while at step 1", func(en *env) verification {
			return verification{Sub: en.claims.Sub, ChallengeID: en.claims.ChallengeID, Key: "doc_check"}
		}, ErrStepBypassed},
		{"step not offered", func(en *env) verification {
			return verification{Sub: en.claims.Sub, ChallengeID: en.claims.ChallengeID, Key: "selfie"}
		}, ErrStepNotFound},
		{"another challenge", func(en *env) verification {
			return verification{Sub: en.claims.Sub, ChallengeID: newID(prefixChallenge), Key: "kyc_review"}
		}, ErrTokenMismatch},
		{"another user", func(en *env) verification {
			return verification{Sub: en.intruder.tokens.UserID, ChallengeID: en.claims.ChallengeID, Key: "kyc_review"}
		}, ErrTokenMismatch},
		{"status not completed", func(en *env) verification {
			return verification{Sub: en.claims.Sub, ChallengeID: en.claims.ChallengeID, Key: "kyc_review", Status: "pending"}
		}, ErrStepNotCompleted},
	}
	for _, tt := range verificationCases {
		t.Run(tt.name, func(t *testing.T) {
			en := setup(t)
			vt := en.h.verificationToken(t, en.h.customer, tt.v(en))
			_, err := en.h.e.ContinueStepUp(ctx, en.c.caller(), en.token, vt, challengeProof(t, en.c, en.token))
			wantErr(t, tt.name, err, tt.want)
			ownerStillContinues(t, en)
		})
	}
	t.Run("verification token of an unknown key", func(t *testing.T) {
		en := setup(t)
		vt := en.h.verificationToken(t, mustSigner(t), verification{Sub: en.claims.Sub, ChallengeID: en.claims.ChallengeID, Key: "kyc_review"})
		_, err := en.h.e.ContinueStepUp(ctx, en.c.caller(), en.token, vt, challengeProof(t, en.c, en.token))
		wantErr(t, "unknown key", err, ErrInvalidVerification)
		_, err = en.h.e.ContinueStepUp(ctx, en.c.caller(), en.token, "garbage", challengeProof(t, en.c, en.token))
		wantErr(t, "garbage", err, ErrInvalidVerification)
		ownerStillContinues(t, en)
	})
	t.Run("claim names read exactly", func(t *testing.T) {
		// A decoder that matches names case-insensitively would take
		// Challenge_ID for challenge_id: this one reads neither variant.
		en := setup(t)
		now := en.h.clk.Now()
		for name, claims := range map[string]map[string]any{
			"Challenge_ID": {"challenge_id": nil, "Challenge_ID": en.claims.ChallengeID, "key": "kyc_review", "status": "completed"},
			"KEY":          {"challenge_id": en.claims.ChallengeID, "KEY": "kyc_review", "status": "completed"},
			"Status":       {"challenge_id": en.claims.ChallengeID, "key": "kyc_review", "Status": "completed"},
			"status twice": nil,
			"number key":   {"challenge_id": en.claims.ChallengeID, "key": 1, "status": "completed"},
			"null status":  {"challenge_id": en.claims.ChallengeID, "key": "kyc_review", "status": nil},
		} {
			t.Run(name, func(t *testing.T) {
				var vt string
				if claims == nil {
					vt = signRawClaims(t, en.h.customer, `{"sub":"`+en.claims.Sub+`","jti":"`+randText(t)+`","iat":`+itoa(int(now.Unix()))+
						`,"exp":`+itoa(int(now.Add(time.Minute).Unix()))+`,"challenge_id":"`+en.claims.ChallengeID+
						`","key":"kyc_review","status":"pending","status":"completed"}`)
				} else {
					full := map[string]any{"sub": en.claims.Sub, "jti": randText(t), "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
					for k, v := range claims {
						if v != nil {
							full[k] = v
						}
					}
					var err error
					vt, err = en.h.customer.Sign("JWT", full)
					noErr(t, "sign", err)
				}
				_, err := en.h.e.ContinueStepUp(ctx, en.c.caller(), en.token, vt, challengeProof(t, en.c, en.token))
				wantErr(t, name, err, ErrInvalidVerification)
			})
		}
		ownerStillContinues(t, en)
	})
	t.Run("max lifetime", func(t *testing.T) {
		h := newHarness(t, nil, func(c *Config) { c.VerificationMaxLifetime = 2 * time.Minute })
		c := h.login(t, IdentifierPhone, phoneA)
		token := h.stepUp(t, c, scopeCustom, nil).ChallengeToken
		cl := challengeOf(t, token)
		vt := h.verificationToken(t, h.customer, verification{Sub: cl.Sub, ChallengeID: cl.ChallengeID, Key: "kyc_review"}) // lives 5 minutes
		_, err := h.e.ContinueStepUp(ctx, c.caller(), token, vt, challengeProof(t, c, token))
		wantErr(t, "a token living longer than max_lifetime", err, ErrInvalidVerification)
		now := h.clk.Now()
		noIat, err := h.customer.Sign("JWT", map[string]any{"sub": cl.Sub, "jti": randText(t), "exp": now.Add(time.Minute).Unix(),
			"challenge_id": cl.ChallengeID, "key": "kyc_review", "status": "completed"})
		noErr(t, "sign", err)
		_, err = h.e.ContinueStepUp(ctx, c.caller(), token, noIat, challengeProof(t, c, token))
		wantErr(t, "a token without iat", err, ErrInvalidVerification)
		short, err := h.customer.Sign("JWT", map[string]any{"sub": cl.Sub, "jti": randText(t), "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
			"challenge_id": cl.ChallengeID, "key": "kyc_review", "status": "completed"})
		noErr(t, "sign", err)
		_, err = h.e.ContinueStepUp(ctx, c.caller(), token, short, challengeProof(t, c, token))
		noErr(t, "a token within max_lifetime", err)
	})
	t.Run("reused verification jti", func(t *testing.T) {
		en := setup(t)
		jti := randText(t)
		vt1 := en.h.verificationToken(t, en.h.customer, verification{Sub: en.claims.Sub, ChallengeID: en.claims.ChallengeID, Key: "kyc_review", Jti: jti})
		next, err := en.h.e.ContinueStepUp(ctx, en.c.caller(), en.token, vt1, challengeProof(t, en.c, en.token))
		noErr(t, "first use", err)
		vt2 := en.h.verificationToken(t, en.h.customer, verification{Sub: en.claims.Sub, ChallengeID: en.claims.ChallengeID, Key: "doc_check", Jti: jti})
		_, err = en.h.e.ContinueStepUp(ctx, en.c.caller(), next, vt2, challengeProof(t, en.c, next))
		wantErr(t, "the jti again, for the next step", err, ErrTokenReused)
		_, err = en.h.e.ContinueStepUp(ctx, en.c.caller(), next, vt1, challengeProof(t, en.c, next))
		wantErr(t, "the done step again", err, ErrTokenReused)
	})
	t.Run("managed step proven by a verification token", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phoneA)
		tok := h.stepUp(t, c, scopeSMSThenK, nil).ChallengeToken
		cl := challengeOf(t, tok)
		vt := h.verificationToken(t, h.customer, verification{Sub: cl.Sub, ChallengeID: cl.ChallengeID, Key: StepVerifySMS})
		_, err := h.e.ContinueStepUp(ctx, c.caller(), tok, vt, challengeProof(t, c, tok))
		wantErr(t, "verify_sms by token", err, ErrStepNotFound)
	})
	t.Run("expired challenge", func(t *testing.T) {
		en := setup(t)
		en.h.clk.Advance(300 * time.Second) // the step's expiration_duration
		_, err := en.h.e.ContinueStepUp(ctx, en.c.caller(), en.token, en.vt, challengeProof(t, en.c, en.token))
		wantErr(t, "after the step's end", err, ErrExpiredChallenge)
	})
	// Past the verifier's leeway the token itself is expired; the client
	// must still learn that the challenge expired (prelude-protocol.md
	// §9.13: expired_challenge_token, which the SDK maps to
	// ExpiredChallengeTokenError). Fails today: invalid_challenge_token.
	t.Run("long expired challenge", func(t *testing.T) {
		en := setup(t)
		en.h.clk.Advance(time.Hour)
		_, err := en.h.e.ContinueStepUp(ctx, en.c.caller(), en.token, en.vt, challengeProof(t, en.c, en.token))
		wantErr(t, "an hour after the step's end", err, ErrExpiredChallenge)
	})
}

func TestRedeemAtRefresh(t *testing.T) {
	ctx := context.Background()
	t.Run("single-use", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phoneA)
		sibling := h.login(t, IdentifierPhone, phoneA)
		md := map[string]string{"amount": "500"}
		res := h.stepUp(t, c, scopeSMS, md)
		_, err := h.refresh(t, c, res.ChallengeToken)
		wantErr(t, "redeeming an unfinished challenge", err, ErrStepNotCompleted)
		done := h.passSMS(t, c, res.ChallengeToken)
		_, err = h.refresh(t, sibling, done)
		wantErr(t, "redeeming at another session", err, ErrInvalidChallenge)

		tok, err := h.refresh(t, c, done)
		noErr(t, "redeem", err)
		ac := accessOf(t, tok.AccessToken)
		if !strings.Contains(" "+ac.Scope+" ", " "+scopeSMS+" ") {
			t.Fatalf("scope %q lacks %s", ac.Scope, scopeSMS)
		}
		grantID := ac.Grant[scopeSMS]
		if !validID(prefixGrant, grantID) {
			t.Fatalf("grt %v does not name a grant", ac.Grant)
		}
		_, err = h.refresh(t, c, done)
		wantErr(t, "second redemption", err, ErrTokenReused)
		plain, err := h.refresh(t, c, "")
		noErr(t, "plain refresh", err)
		if again := accessOf(t, plain.AccessToken); again.Scope != "" || again.Grant != nil {
			t.Fatalf("a plain refresh still carries the single-use grant: %+v", again)
		}

		g, err := h.e.ConsumeGrant(ctx, grantID, c.tokens.UserID, c.tokens.SessionID, scopeSMS)
		noErr(t, "ConsumeGrant", err)
		if g.ID != grantID || g.Scope != scopeSMS || !reflect.DeepEqual(g.Metadata, md) {
			t.Fatalf("grant %+v", g)
		}
		_, err = h.e.ConsumeGrant(ctx, grantID, c.tokens.UserID, c.tokens.SessionID, scopeSMS)
		wantErr(t, "second consumption", err, ErrUnauthorized)
		_, err = h.e.ConsumeGrant(ctx, "grt_nope", c.tokens.UserID, c.tokens.SessionID, scopeSMS)
		wantErr(t, "malformed grant", err, ErrUnauthorized)
	})
	t.Run("single-use grant expires after granted_for", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phoneA)
		done := h.passSMS(t, c, h.stepUp(t, c, scopeSMS, nil).ChallengeToken)
		tok, err := h.refresh(t, c, done)
		noErr(t, "redeem", err)
		h.clk.Advance(300 * time.Second)
		_, err = h.e.ConsumeGrant(ctx, accessOf(t, tok.AccessToken).Grant[scopeSMS], c.tokens.UserID, c.tokens.SessionID, scopeSMS)
		wantErr(t, "consuming after granted_for", err, ErrUnauthorized)
	})
	t.Run("redemption needs the session's key", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phoneA)
		done := h.passSMS(t, c, h.stepUp(t, c, scopeSMS, nil).ChallengeToken)
		_, err := h.e.Refresh(ctx, RefreshRequest{RefreshToken: c.tokens.RefreshToken, Proof: proofFor(t, newJKT(t)), StepUpToken: done})
		wantErr(t, "another key", err, ErrDPoPKeyMismatch)
		_, err = h.refresh(t, c, done)
		noErr(t, "the session's key", err)
	})
	t.Run("session-bound", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phoneA)
		done := h.passSMS(t, c, h.stepUp(t, c, scopeSession, nil).ChallengeToken)
		tok, err := h.refresh(t, c, done)
		noErr(t, "redeem", err)
		// Verifiers accept a token up to the leeway (30 s) past its exp: the
		// tokens carrying the scope expire that much before the grant does.
		end := h.clk.Now().Add(600*time.Second).Unix() - 30
		ac := accessOf(t, tok.AccessToken)
		if ac.Scope != scopeSession || ac.Grant != nil {
			t.Fatalf("claims after redemption: scope %q grt %v", ac.Scope, ac.Grant)
		}
		if ac.Exp != end {
			t.Fatalf("access token exp %d, want the grant end minus the leeway %d", ac.Exp, end)
		}
		h.clk.Advance(400 * time.Second)
		tok, err = h.refresh(t, c, "")
		noErr(t, "refresh within granted_for", err)
		ac = accessOf(t, tok.AccessToken)
		if ac.Scope != scopeSession || ac.Exp > end {
			t.Fatalf("within granted_for: scope %q exp %d (grant end %d)", ac.Scope, ac.Exp, end)
		}
		h.clk.Advance(171 * time.Second) // 29 s before the grant ends: within the leeway
		tok, err = h.refresh(t, c, "")
		noErr(t, "refresh within the leeway of the end", err)
		if ac = accessOf(t, tok.AccessToken); ac.Scope != "" {
			t.Fatalf("%d s before the grant ends the scope is still %q", 29, ac.Scope)
		}
		h.clk.Advance(29 * time.Second)
		tok, err = h.refresh(t, c, "")
		noErr(t, "refresh after granted_for", err)
		if ac = accessOf(t, tok.AccessToken); ac.Scope != "" {
			t.Fatalf("after granted_for the scope is still %q", ac.Scope)
		}
	})
	t.Run("continue grants at once", func(t *testing.T) {
		hs := newHookServer(t, answer(`{"status":"continue","grant_mode":"session-bound","granted_for":60}`))
		h := newHarness(t, nil, func(c *Config) { c.Scopes["now"] = ScopePolicy{HookURL: hs.srv.URL} })
		c := h.login(t, IdentifierPhone, phoneA)
		res := h.stepUp(t, c, "now", nil)
		if cl := challengeOf(t, res.ChallengeToken); cl.CurrentStep != CurrentStepCompleted || len(cl.Steps) != 0 {
			t.Fatalf("continue token %+v", cl)
		}
		tok, err := h.refresh(t, c, res.ChallengeToken)
		noErr(t, "redeem", err)
		if s := accessOf(t, tok.AccessToken).Scope; s != "now" {
			t.Fatalf("scope %q", s)
		}
	})
}

// A hook failure reaches the client as hook_failed, never as internal.
func TestHookErrorIsHookFailed(t *testing.T) {
	err := error(&hookError{reason: "invalid_status", cause: errors.New("status \"maybe\"")})
	if !errors.Is(err, ErrHookFailed) || AsError(err).Code != "hook_failed" {
		t.Fatalf("%v answers %v", err, AsError(err))
	}
}

// consumeSetup redeems a single-use grant for c and returns its ID and a
// second session of the same user.
func consumeSetup(t *testing.T) (*harness, *client, *client, string) {
	h := newHarness(t, nil)
	c := h.login(t, IdentifierPhone, phoneA)
	sibling := h.login(t, IdentifierPhone, phoneA)
	done := h.passSMS(t, c, h.stepUp(t, c, scopeSMS, nil).ChallengeToken)
	tok, err := h.refresh(t, c, done)
	noErr(t, "redeem", err)
	return h, c, sibling, accessOf(t, tok.AccessToken).Grant[scopeSMS]
}

// consumeAs consumes grantID as another party than its owner c.
func consumeAs(t *testing.T, h *harness, c, sibling *client, grantID, party string) error {
	user, sid, scope := c.tokens.UserID, c.tokens.SessionID, scopeSMS
	switch party {
	case "another user":
		user = h.login(t, IdentifierPhone, "+33699999999").tokens.UserID
	case "another session":
		sid = sibling.tokens.SessionID
	case "another scope":
		scope = scopeSession
	}
	_, err := h.e.ConsumeGrant(context.Background(), grantID, user, sid, scope)
	return err
}

var otherParties = []string{"another user", "another session", "another scope"}

// A grant is valid only for the user, session and scope it was issued for.
func TestConsumeGrantRefusesOtherParties(t *testing.T) {
	for _, party := range otherParties {
		t.Run(party, func(t *testing.T) {
			h, c, sibling, grantID := consumeSetup(t)
			wantErr(t, party, consumeAs(t, h, c, sibling, grantID, party), ErrUnauthorized)
		})
	}
}

// A refused consumer must not burn the grant: ConsumeGrant documents "A
// grant of another user, session or scope is not touched". Fails today:
// ConsumeGrant takes the grant before checking who asks.
func TestConsumeGrantRefusalLeavesTheGrant(t *testing.T) {
	for _, party := range otherParties {
		t.Run(party, func(t *testing.T) {
			h, c, sibling, grantID := consumeSetup(t)
			wantErr(t, party, consumeAs(t, h, c, sibling, grantID, party), ErrUnauthorized)
			_, err := h.e.ConsumeGrant(context.Background(), grantID, c.tokens.UserID, c.tokens.SessionID, scopeSMS)
			noErr(t, "the owner after a refused consumer", err)
		})
	}
}

// Every expiry follows Config.Now: an engine whose clock differs from the
// machine's (as in these tests) still moves challenges on.
func TestChallengeTTLsFollowTheEngineClock(t *testing.T) {
	h := newHarness(t, nil)
	h.clk.Advance(-time.Hour)
	c := h.login(t, IdentifierPhone, phoneA)
	h.passSMS(t, c, h.stepUp(t, c, scopeSMS, nil).ChallengeToken)
	h.passCustom(t, c, h.stepUp(t, c, scopeCustom, nil).ChallengeToken)
}

// signRawClaims signs exactly the given claims JSON (duplicates and all)
// with signer's key, as a careless or hostile backend could.
func signRawClaims(t *testing.T, signer *jwks.Signer, claims string) string {
	t.Helper()
	var raw json.RawMessage = []byte(claims)
	tok, err := signer.Sign("JWT", raw)
	noErr(t, "sign", err)
	return tok
}
