package stepup

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/softauthn"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// TestPasskeyAsTheSDKsSendIt: Android's Credential Manager JSON (every
// member, credProps unprompted, its app's origin) and iOS's reduced
// objects are accepted; Android's stepup/continue carries no access token,
// and then only the session's challenge-bound proof stands for one.
func TestPasskeyAsTheSDKsSendIt(t *testing.T) {
	forEachStore(t, func(t *testing.T, st func() store.Store) {
		ctx := context.Background()
		h := newHarness(t, st(), withPasskeys())
		c := h.login(t, IdentifierPhone, phoneA)
		a := &softauthn.Authenticator{}
		android, _ := h.enrol(t, c, a, softauthn.Ceremony{Origin: pkAndroid, Shape: softauthn.ShapeAndroid})
		ios, _ := h.enrol(t, c, a, softauthn.Ceremony{Origin: pkIOS, Shape: softauthn.ShapeIOS})

		res := h.stepUp(t, c, scopePasskey, nil)
		assertion, err := a.Get(res.PasskeyOptions, android, softauthn.Ceremony{Origin: pkAndroid, Shape: softauthn.ShapeAndroid})
		noErr(t, "authenticator", err)
		_, err = h.e.AdvanceByPasskey(ctx, nil, res.ChallengeToken, assertion, nil, testClient)
		wantErr(t, "no access token and no proof", err, ErrMissingDPoP)
		stranger := challengeProof(t, &client{jkt: newJKT(t)}, res.ChallengeToken)
		_, err = h.e.AdvanceByPasskey(ctx, nil, res.ChallengeToken, assertion, stranger, testClient)
		wantErr(t, "another key's proof", err, ErrDPoPKeyMismatch)
		wrongJTI := proofFor(t, c.jkt)
		_, err = h.e.AdvanceByPasskey(ctx, nil, res.ChallengeToken, assertion, wrongJTI, testClient)
		wantErr(t, "a session proof instead of the challenge-bound one", err, ErrInvalidDPoP)
		done, err := h.e.AdvanceByPasskey(ctx, nil, res.ChallengeToken, assertion, challengeProof(t, c, res.ChallengeToken), testClient)
		noErr(t, "Android: no access token, the challenge-bound proof", err)
		if challengeOf(t, done.ChallengeToken).CurrentStep != CurrentStepCompleted {
			t.Fatal("Android's passkey step did not complete the challenge")
		}

		res = h.stepUp(t, c, scopePasskey, nil)
		_, err = h.assert(t, c, res.ChallengeToken, res.PasskeyOptions, a, ios, softauthn.Ceremony{Origin: pkIOS, Shape: softauthn.ShapeIOS})
		noErr(t, "iOS: reduced assertion", err)
		res = h.stepUp(t, c, scopePasskey, nil)
		_, err = h.assert(t, c, res.ChallengeToken, res.PasskeyOptions, a, ios, softauthn.Ceremony{Origin: pkIOS, Shape: softauthn.ShapeIOS, OmitUserHandle: true})
		noErr(t, "iOS: an assertion without a user handle", err)

		// Another user's access token with this user's challenge.
		other := h.login(t, IdentifierPhone, "+33698765432")
		res = h.stepUp(t, c, scopePasskey, nil)
		assertion, err = a.Get(res.PasskeyOptions, ios, softauthn.Ceremony{Origin: pkOrigin})
		noErr(t, "authenticator", err)
		oc := other.caller()
		_, err = h.e.AdvanceByPasskey(ctx, &oc, res.ChallengeToken, assertion, challengeProof(t, c, res.ChallengeToken), testClient)
		wantErr(t, "another user's access token", err, ErrInvalidChallenge)

		// A logged-out session's proof no longer stands for an access token.
		noErr(t, "logout", h.e.Revoke(ctx, c.tokens.RefreshToken, proofFor(t, c.jkt)))
		_, err = h.e.AdvanceByPasskey(ctx, nil, res.ChallengeToken, assertion, challengeProof(t, c, res.ChallengeToken), testClient)
		wantErr(t, "after logout", err, ErrUnauthorized)
	})
}

// TestPasskeyAAGUIDAllowList: with an allow-list only an attested, listed
// model enrols; no attestation and self attestation name no model.
func TestPasskeyAAGUIDAllowList(t *testing.T) {
	forEachStore(t, func(t *testing.T, st func() store.Store) {
		ctx := context.Background()
		listed := [16]byte{0xee, 0x88, 0x28, 0x79, 0x72, 0x1c, 0x49, 0x13, 0x97, 0x75, 0x3d, 0xfc, 0xce, 0x97, 0x07, 0x2a}
		h := newHarness(t, st(), withPasskeys(func(p *PasskeyPolicy) {
			p.Attestation = AttestationDirect
			p.AAGUIDs = []string{"ee882879-721c-4913-9775-3dfcce97072a"}
		}))
		c := h.login(t, IdentifierPhone, phoneA)
		try := func(a *softauthn.Authenticator) error {
			hold := h.grantWrite(t, c)
			start, err := h.e.BeginPasskeyRegistration(ctx, c.caller(), hold, "u", "", "")
			noErr(t, "begin", err)
			if !strings.Contains(string(start.Options), `"attestation":"direct"`) {
				t.Fatalf("creation options do not ask for attestation: %s", start.Options)
			}
			_, answer, err := a.Create(start.Options, honest)
			noErr(t, "authenticator", err)
			_, _, err = h.e.FinishPasskeyRegistration(ctx, c.caller(), hold, start.Token, answer)
			return err
		}
		wantErr(t, "no attestation", try(&softauthn.Authenticator{AAGUID: listed}), ErrPasskeyBlocked)
		wantErr(t, "self attestation", try(&softauthn.Authenticator{AAGUID: listed, Attestation: softauthn.AttestPackedSelf}), ErrPasskeyBlocked)
		unlisted := &softauthn.Authenticator{}
		noErr(t, "attestation", unlisted.WithPackedAttestation([16]byte{1, 2, 3}))
		wantErr(t, "an unlisted model", try(unlisted), ErrPasskeyBlocked)
		good := &softauthn.Authenticator{}
		noErr(t, "attestation", good.WithPackedAttestation(listed))
		noErr(t, "a listed model", try(good))
		l, _, err := h.e.loadPasskeys(ctx, c.tokens.UserID)
		noErr(t, "load", err)
		if len(l.Credentials) != 1 || l.Credentials[0].AAGUID != "ee882879-721c-4913-9775-3dfcce97072a" || l.Credentials[0].AttestationFormat != "packed" {
			t.Fatalf("stored: %+v", l.Credentials)
		}

		// Without an allow-list, a self attestation enrols.
		h = newHarness(t, st(), withPasskeys())
		c = h.login(t, IdentifierPhone, phoneA)
		h.enrol(t, c, &softauthn.Authenticator{Attestation: softauthn.AttestPackedSelf}, honest)
	})
}

// TestPasskeyAMRAndACR: what a passkey says it proved, and which acr that
// earns: hwk/swk from backup eligibility, pin/user from user verification,
// the hardware acr only for a device-bound key.
func TestPasskeyAMRAndACR(t *testing.T) {
	forEachStore(t, func(t *testing.T, st func() store.Store) {
		h := newHarness(t, st(), withPasskeys(func(p *PasskeyPolicy) { p.UserVerification = UVPreferred }))
		c := h.login(t, IdentifierPhone, phoneA)
		synced := &softauthn.Authenticator{BackupEligible: true, BackupState: true}
		cred, pk := h.enrol(t, c, synced, honest)
		if !pk.BackupState {
			t.Fatal("a synced passkey is listed as not backed up")
		}
		stepUp := func(scope string, cer softauthn.Ceremony) accessClaims {
			t.Helper()
			res := h.stepUp(t, c, scope, nil)
			done, err := h.assert(t, c, res.ChallengeToken, res.PasskeyOptions, synced, cred, cer)
			noErr(t, scope, err)
			tok, err := h.refresh(t, c, done.ChallengeToken)
			noErr(t, "redeem", err)
			return accessOf(t, tok.AccessToken)
		}
		if ac := stepUp(scopePasskey, honest); ac.ACR != acrPasskey || !slices.Equal(ac.AMR, []string{"swk", "pin"}) {
			t.Fatalf("synced, verified: acr %q amr %v", ac.ACR, ac.AMR)
		}
		if ac := stepUp(scopePasskey, softauthn.Ceremony{Origin: pkOrigin, NoUV: true}); !slices.Equal(ac.AMR, []string{"swk", "user"}) {
			t.Fatalf("synced, presence only (user verification preferred): amr %v", ac.AMR)
		}
		if ac := stepUp(scopeHardwareOnly, honest); ac.ACR != "" {
			t.Fatalf("a synced passkey earned the hardware acr %q", ac.ACR)
		}
		// A code-only scope never earns a passkey acr, whatever a
		// verification token's amr claims (runtime rule of the same check).
		if got := h.e.earnedPasskeyACR(acrPasskey, []string{"hwk", "otp"}, ""); got != "" {
			t.Fatalf("an event without a passkey earned %q", got)
		}
		if got := h.e.earnedPasskeyACR(acrHardware, []string{"swk"}, "swk"); got != "" {
			t.Fatalf("a synced passkey earned %q", got)
		}
		if got := h.e.earnedPasskeyACR(acrHardware, []string{"hwk"}, "hwk"); got != acrHardware {
			t.Fatalf("a device-bound passkey earned %q", got)
		}
		// Passkey login of a synced passkey: the passkey acr.
		lc, err := h.passkeyLogin(t, synced, cred, honest)
		noErr(t, "login", err)
		if ac := accessOf(t, lc.tokens.AccessToken); ac.ACR != acrPasskey || ac.AMR[0] != "swk" {
			t.Fatalf("passkey login: acr %q amr %v", ac.ACR, ac.AMR)
		}
	})
}

// TestPasskeyConfigRefusals: a passkey acr nothing configured can earn,
// and verify_passkey without passkeys, are refused when the engine is
// built; a hook answering verify_passkey without passkeys fails.
func TestPasskeyConfigRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		opt  func(*Config)
		says string
	}{
		"a code-only scope with the passkey acr": {func(c *Config) {
			withPasskeys()(c)
			c.Scopes["x"] = ScopePolicy{ACR: acrPasskey, Direct: &DirectPolicy{Steps: []DirectStep{{Key: StepVerifySMS, Expiration: 60 * time.Second}}}}
		}, "none of its steps is verify_passkey"},
		"a custom-step scope with the hardware acr": {func(c *Config) {
			withPasskeys()(c)
			c.Scopes["x"] = ScopePolicy{ACR: acrHardware, Direct: &DirectPolicy{Steps: []DirectStep{{Key: "kyc_review", Expiration: 60 * time.Second}}}}
		}, "none of its steps is verify_passkey"},
		"login acr":    {func(c *Config) { withPasskeys()(c); c.LoginACR = acrPasskey }, "a code login never does"},
		"password acr": {func(c *Config) { withPasskeys()(c); c.Passwords = &PasswordLogin{ACR: acrHardware} }, "a password never does"},
		"a provider mapped to it": {func(c *Config) {
			withPasskeys()(c)
			c.OAuth = map[string]OAuthLogin{"p": {Provider: newTestProvider(), Issuer: "https://idp.test", RedirectURIs: appRedirects,
				ACRMap: map[string]string{"loa3": acrPasskey}}}
		}, "a provider's login never does"},
		"verify_passkey without passkeys": {func(c *Config) {
			c.Scopes["x"] = ScopePolicy{Direct: &DirectPolicy{Steps: []DirectStep{{Key: StepVerifyPasskey, Expiration: 60 * time.Second}}}}
		}, "needs a passkey block"},
		"a custom step named verify_passkey": {func(c *Config) { c.CustomStepKeys = append(c.CustomStepKeys, StepVerifyPasskey) }, "runs this step itself"},
		"an origin of another site": {func(c *Config) {
			withPasskeys(func(p *PasskeyPolicy) { p.Origins = []string{"https://evil.example"} })(c)
		}, "nor a subdomain"},
		"an http origin": {func(c *Config) {
			withPasskeys(func(p *PasskeyPolicy) { p.RPID, p.Origins = "example.com", []string{"http://app.example.com"} })(c)
		}, "https only"},
		"an origin with a path": {func(c *Config) {
			withPasskeys(func(p *PasskeyPolicy) { p.Origins = []string{"https://localhost/app"} })(c)
		}, "nothing after"},
		"an rp id with a port": {func(c *Config) { withPasskeys(func(p *PasskeyPolicy) { p.RPID = "localhost:8443" })(c) }, "no scheme or port"},
		"an allow-list without attestation": {func(c *Config) {
			withPasskeys(func(p *PasskeyPolicy) { p.AAGUIDs = []string{"ee882879-721c-4913-9775-3dfcce97072a"} })(c)
		}, "needs attestation direct or enterprise"},
		"an upper-case AAGUID": {func(c *Config) {
			withPasskeys(func(p *PasskeyPolicy) {
				p.Attestation, p.AAGUIDs = AttestationDirect, []string{"EE882879-721C-4913-9775-3DFCCE97072A"}
			})(c)
		}, "not a lower-case UUID"},
		"one acr for both":            {func(c *Config) { withPasskeys(func(p *PasskeyPolicy) { p.HardwareACR = p.ACR })(c) }, "must differ"},
		"user verification sometimes": {func(c *Config) { withPasskeys(func(p *PasskeyPolicy) { p.UserVerification = "sometimes" })(c) }, "required, preferred or discouraged"},
	} {
		h := newHarness(t, nil)
		cfg := h.e.cfg
		cfg.Scopes = defaultScopes()
		tc.opt(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.says)
		}
	}

	hs := newHookServer(t, answer(`{"status":"review","grant_mode":"single-use","granted_for":60,"steps":[{"key":"verify_passkey","expiration_duration":60}]}`))
	h := hookHarness(t, hs)
	c := h.login(t, IdentifierPhone, phoneA)
	_, err := h.e.RequestStepUp(context.Background(), c.caller(), scopeHooked, nil, Signals{})
	wantErr(t, "a hook's verify_passkey without passkeys", err, ErrHookFailed)
}

// TestPasskeyStepOrder: the SDK's step codes, and the options in the
// answer of the code step that makes verify_passkey current.
func TestPasskeyStepOrder(t *testing.T) {
	forEachStore(t, func(t *testing.T, st func() store.Store) {
		ctx := context.Background()
		h := newHarness(t, st(), withPasskeys())
		c := h.login(t, IdentifierPhone, phoneA)
		a := &softauthn.Authenticator{}
		cred, _ := h.enrol(t, c, a, honest)
		res := h.stepUp(t, c, scopeSMSPasskey, nil)
		if res.PasskeyOptions != nil {
			t.Fatal("options with a first step that is a code")
		}
		assertion, err := a.Get(mustOptions(t, h, c), cred, honest)
		noErr(t, "authenticator", err)
		caller := c.caller()
		_, err = h.e.AdvanceByPasskey(ctx, &caller, res.ChallengeToken, assertion, challengeProof(t, c, res.ChallengeToken), testClient)
		wantErr(t, "a passkey before the code", err, ErrStepBypassed)
		_, err = h.e.SendStepOTP(ctx, res.ChallengeToken, false, testClient)
		noErr(t, "send", err)
		next, err := h.e.AdvanceByCode(ctx, res.ChallengeToken, h.sender.last(t).Code, challengeProof(t, c, res.ChallengeToken), testClient)
		noErr(t, "code", err)
		if challengeOf(t, next.ChallengeToken).CurrentStep != StepVerifyPasskey || !strings.Contains(string(next.PasskeyOptions), cred.IDText()) {
			t.Fatalf("after the code: step %q, options %s", challengeOf(t, next.ChallengeToken).CurrentStep, next.PasskeyOptions)
		}
		done, err := h.assert(t, c, next.ChallengeToken, next.PasskeyOptions, a, cred, honest)
		noErr(t, "passkey after the code", err)
		_, err = h.e.AdvanceByPasskey(ctx, &caller, done.ChallengeToken, assertion, challengeProof(t, c, done.ChallengeToken), testClient)
		wantErr(t, "a passkey for a completed challenge", err, ErrTokenReused)
		tok, err := h.refresh(t, c, done.ChallengeToken)
		noErr(t, "redeem", err)
		if ac := accessOf(t, tok.AccessToken); !slices.Equal(ac.AMR, []string{"otp", "sms", "hwk", "pin"}) || ac.ACR != acrHardware {
			t.Fatalf("code then passkey: acr %q amr %v", ac.ACR, ac.AMR)
		}
		sms := h.stepUp(t, c, scopeSMS, nil)
		_, err = h.e.AdvanceByPasskey(ctx, &caller, sms.ChallengeToken, assertion, challengeProof(t, c, sms.ChallengeToken), testClient)
		wantErr(t, "a passkey for a challenge without a passkey step", err, ErrStepNotFound)
		// An email code never earns the passkey acr.
		email := h.login(t, IdentifierEmail, "ada@example.com")
		done2 := h.passEmail(t, email, h.stepUp(t, email, scopeEmailOnly, nil).ChallengeToken)
		tok, err = h.refresh(t, email, done2)
		noErr(t, "redeem", err)
		if ac := accessOf(t, tok.AccessToken); ac.ACR == acrPasskey || ac.ACR == acrHardware {
			t.Fatalf("an email code earned %q", ac.ACR)
		}
	})
}

// mustOptions are request options of a separate challenge of c (for an
// assertion sent where it does not belong).
func mustOptions(t *testing.T, h *harness, c *client) []byte {
	t.Helper()
	return h.stepUp(t, c, scopePasskey, nil).PasskeyOptions
}

// passEmail sends and checks the code of the current verify_email step.
func (h *harness) passEmail(t testing.TB, c *client, token string) string {
	return h.passSMS(t, c, token) // the same calls: the step decides where the code goes
}

// TestPasskeyLoginRefusals: every refused passkey login looks the same
// (unauthorized), is audited, spends its ceremony, and opens nothing.
func TestPasskeyLoginRefusals(t *testing.T) {
	forEachStore(t, func(t *testing.T, st func() store.Store) {
		ctx := context.Background()
		log := &eventLog{}
		h := newHarness(t, st(), withPasskeys(), func(c *Config) {
			c.Events = log.add
			c.Limits.ClientLoginStarts = Rate{Count: 8, Window: time.Hour} // the 8 passkey logins below
		})
		c := h.login(t, IdentifierPhone, phoneA)
		a := &softauthn.Authenticator{}
		cred, _ := h.enrol(t, c, a, honest)
		fails := func(name string, cer softauthn.Ceremony, mutate func(*softauthn.Credential) *softauthn.Credential) {
			t.Helper()
			use := cred
			if mutate != nil {
				use = mutate(cred)
			}
			_, err := h.passkeyLogin(t, a, use, cer)
			wantErr(t, name, err, ErrPasskeyLoginFailed)
		}
		fails("another origin", softauthn.Ceremony{Origin: "https://evil.example"}, nil)
		fails("another rp id", softauthn.Ceremony{Origin: pkOrigin, RPID: "evil.example"}, nil)
		fails("no user verification", softauthn.Ceremony{Origin: pkOrigin, NoUV: true}, nil)
		fails("no user handle", softauthn.Ceremony{Origin: pkOrigin, OmitUserHandle: true}, nil)
		fails("another user's handle", honest, func(cr *softauthn.Credential) *softauthn.Credential {
			other := *cr
			other.UserHandle = []byte(newID(prefixUser))
			return &other
		})
		fails("a bad signature", softauthn.Ceremony{Origin: pkOrigin, BadSignature: true}, nil)
		if got := len(log.named(EventLoginFailed)); got != 6 {
			t.Fatalf("%d login.failed events for 6 refused logins", got)
		}
		for _, ev := range log.named(EventLoginFailed) {
			if ev.Method != "passkey" || ev.Reason != "bad_passkey" {
				t.Fatalf("login.failed %+v", ev)
			}
		}

		start, err := h.e.BeginPasskeyLogin(ctx, testClient)
		noErr(t, "begin", err)
		assertion, err := a.Get(start.Options, cred, honest)
		noErr(t, "authenticator", err)
		ticket, err := h.e.FinishPasskeyLogin(ctx, start.Token, assertion, testClient)
		noErr(t, "finish", err)
		_, err = h.e.FinishPasskeyLogin(ctx, start.Token, assertion, testClient)
		wantErr(t, "the same login token again", err, ErrPasskeyLoginGone)
		stale := cred.Counter
		_, err = h.passkeyLogin(t, a, cred, softauthn.Ceremony{Origin: pkOrigin, Counter: &stale})
		wantErr(t, "a login with a sign count that did not move forward", err, ErrPasskeyBlocked)
		if clones := log.named(EventPasskeyCloneSuspected); len(clones) != 1 || clones[0].UserID != c.tokens.UserID || clones[0].Method != "passkey" {
			t.Fatalf("clone events: %+v", clones)
		}
		_, err = h.e.FinalizeLogin(ctx, ticket, strings.Repeat("v", 43), proofFor(t, newJKT(t)), testClient)
		wantErr(t, "a passkey ticket with a PKCE verifier", err, ErrInvalidLoginTicket)
		_, err = h.e.BeginPasskeyLogin(ctx, testClient)
		wantErr(t, "past the client's login starts", err, ErrRateLimited)

		off := newHarness(t, st(), withPasskeys(func(p *PasskeyPolicy) { p.Login = false }))
		_, err = off.e.BeginPasskeyLogin(ctx, testClient)
		wantErr(t, "passkey login off", err, ErrPasskeyNotConfigured)
	})
}

// TestPasskeyBounds: at most 10 passkeys a user; a credential offered
// again is already registered and spends no scope; labels are bounded.
func TestPasskeyBounds(t *testing.T) {
	forEachStore(t, func(t *testing.T, st func() store.Store) {
		ctx := context.Background()
		h := newHarness(t, st(), withPasskeys())
		c := h.login(t, IdentifierPhone, phoneA)
		a := &softauthn.Authenticator{}
		cred, _ := h.enrol(t, c, a, honest)

		// iOS does not pass excludeCredentials on: the same credential comes
		// back. Build such an answer by registering again with its key.
		hold := h.grantWrite(t, c)
		start, err := h.e.BeginPasskeyRegistration(ctx, c.caller(), hold, "u", "", "")
		noErr(t, "begin", err)
		if _, _, err := a.Create(start.Options, honest, cred); err != softauthn.ErrExcluded {
			t.Fatalf("excludeCredentials does not name the enrolled passkey: %v", err)
		}
		_, err = h.e.BeginPasskeyRegistration(ctx, c.caller(), hold, strings.Repeat("u", 257), "", "")
		wantErr(t, "a user name over 256 bytes", err, ErrBadRequest)
		_, err = h.e.BeginPasskeyRegistration(ctx, c.caller(), hold, "u", "", "a\nb")
		wantErr(t, "a nickname with a newline", err, ErrBadRequest)
		wantErr(t, "a rename over 64 bytes", h.e.RenamePasskey(ctx, c.caller(), cred.IDText(), strings.Repeat("n", 65)), ErrBadRequest)
		wantErr(t, "a rename of an ID that is not base64url", h.e.RenamePasskey(ctx, c.caller(), "a/b", "x"), ErrPasskeyNotFound)

		// Up to the bound (the other nine written as enrolments would write
		// them: each user opens 10 challenges per 10 minutes at most).
		hold = h.grantWrite(t, c)
		start, err = h.e.BeginPasskeyRegistration(ctx, c.caller(), hold, "u", "", "tenth")
		noErr(t, "begin with nine to go", err)
		noErr(t, "fill", h.e.changePasskeys(ctx, c.tokens.UserID, func(l *passkeyList) error {
			for len(l.Credentials) < maxPasskeysPerUser {
				rec := l.Credentials[0]
				rec.ID = randText(t)
				l.Credentials = append(l.Credentials, rec)
			}
			return nil
		}))
		_, answer, err := (&softauthn.Authenticator{}).Create(start.Options, honest)
		noErr(t, "authenticator", err)
		_, _, err = h.e.FinishPasskeyRegistration(ctx, c.caller(), hold, start.Token, answer)
		wantErr(t, "an eleventh passkey at finish", err, ErrTooManyPasskeys)
		_, err = h.e.BeginPasskeyRegistration(ctx, c.caller(), hold, "u", "", "")
		wantErr(t, "an eleventh passkey at begin", err, ErrTooManyPasskeys)
		if !h.storeHas(t, grantKey(hold.GrantID, c.tokens.UserID, c.tokens.SessionID, PasskeyWriteScope)) {
			t.Fatal("a refused enrolment spent the scope")
		}
	})
}
