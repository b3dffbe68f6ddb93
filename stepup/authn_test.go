package stepup

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

const acrPhone = "urn:test:phone" // possession-based in withACR

// withACR: transfer:write earns acrPhone (possession-based), kyc (custom
// steps) earns it too, profile:write names no acr.
func withACR(cfg *Config) {
	cfg.PossessionACR = []string{acrPhone}
	for _, name := range []string{scopeSMS, scopeCustom} {
		p := cfg.Scopes[name]
		p.ACR = acrPhone
		cfg.Scopes[name] = p
	}
}

func wantEvent(t *testing.T, what string, tok string, acr string, amr []string, at time.Time) {
	t.Helper()
	c := accessOf(t, tok)
	if c.ACR != acr || !slices.Equal(c.AMR, amr) || c.AuthTime != at.Unix() {
		t.Errorf("%s: acr %q amr %v auth_time %d, want %q %v %d", what, c.ACR, c.AMR, c.AuthTime, acr, amr, at.Unix())
	}
}

// TestLoginEvent: a login's tokens say how (otp and sms, or otp and email)
// and when, with the login acr; refreshes keep the login's time.
func TestLoginEvent(t *testing.T) {
	h := newHarness(t, nil, withACR)
	loggedIn := h.clk.Now()
	byPhone := h.login(t, IdentifierPhone, phoneA)
	wantEvent(t, "phone login", byPhone.tokens.AccessToken, DefaultLoginACR, []string{"otp", "sms"}, loggedIn)
	byMail := h.login(t, IdentifierEmail, "a@example.com")
	wantEvent(t, "email login", byMail.tokens.AccessToken, DefaultLoginACR, []string{"otp", "email"}, loggedIn)
	h.clk.Advance(10 * time.Minute)
	tok, err := h.refresh(t, byPhone, "")
	noErr(t, "refresh", err)
	wantEvent(t, "refreshed", tok.AccessToken, DefaultLoginACR, []string{"otp", "sms"}, loggedIn)
}

// TestStepUpEvent: a redeemed step-up is the session's new event: its
// steps' methods, its scope's acr, the time its last step was done; the
// next step-up replaces it, and a scope without an acr brings back the
// login's.
func TestStepUpEvent(t *testing.T) {
	h := newHarness(t, nil, withACR)
	c := h.login(t, IdentifierPhone, phoneA)
	h.clk.Advance(10 * time.Minute)
	done := h.passSMS(t, c, h.stepUp(t, c, scopeSMS, nil).ChallengeToken)
	completed := h.clk.Now()
	h.clk.Advance(time.Minute) // redeemed later than completed
	tok, err := h.refresh(t, c, done)
	noErr(t, "redeem", err)
	wantEvent(t, "after the SMS step", tok.AccessToken, acrPhone, []string{"otp", "sms"}, completed)
	tok, err = h.refresh(t, c, "")
	noErr(t, "refresh", err)
	wantEvent(t, "refreshed after", tok.AccessToken, acrPhone, []string{"otp", "sms"}, completed)

	// Stepping up again for a scope already granted moves auth_time (a
	// route's max_age asks for exactly that).
	h.clk.Advance(10 * time.Minute)
	done = h.passSMS(t, c, h.stepUp(t, c, scopeSession, nil).ChallengeToken)
	first := h.clk.Now()
	_, err = h.refresh(t, c, done)
	noErr(t, "redeem profile", err)
	h.clk.Advance(10 * time.Minute)
	done = h.passSMS(t, c, h.stepUp(t, c, scopeSession, nil).ChallengeToken)
	again := h.clk.Now()
	tok, err = h.refresh(t, c, done)
	noErr(t, "redeem profile again", err)
	if again == first {
		t.Fatal("clock did not move")
	}
	wantEvent(t, "a scope without acr", tok.AccessToken, DefaultLoginACR, []string{"otp", "sms"}, again)
}

// TestPossessionACR: custom steps earn a possession-based acr only when
// their verification token's amr shows possession; an email code never
// does; the amr a backend sends is bounded and checked.
func TestPossessionACR(t *testing.T) {
	h := newHarness(t, nil, withACR)
	for name, tc := range map[string]struct {
		amr     []string
		wantACR string
		wantAMR []string
	}{
		"hardware key":      {[]string{"hwk"}, acrPhone, []string{"hwk"}},
		"no amr":            {nil, "", nil},
		"otp only":          {[]string{"otp"}, "", []string{"otp"}},
		"face and software": {[]string{"face", "swk"}, acrPhone, []string{"face", "swk"}},
	} {
		t.Run(name, func(t *testing.T) {
			c := h.login(t, IdentifierPhone, phoneA)
			tok := h.stepUp(t, c, scopeCustom, nil).ChallengeToken
			for range 2 { // kyc_review, doc_check
				cl := challengeOf(t, tok)
				vt := h.verificationToken(t, h.customer, verification{Sub: cl.Sub, ChallengeID: cl.ChallengeID, Key: cl.CurrentStep, AMR: tc.amr})
				var err error
				tok, err = h.e.ContinueStepUp(context.Background(), c.caller(), tok, vt, challengeProof(t, c, tok))
				noErr(t, "continue", err)
			}
			completed := h.clk.Now()
			got, err := h.refresh(t, c, tok)
			noErr(t, "redeem", err)
			wantEvent(t, name, got.AccessToken, tc.wantACR, tc.wantAMR, completed)
		})
	}
	c := h.login(t, IdentifierPhone, phoneA)
	tok := h.stepUp(t, c, scopeCustom, nil).ChallengeToken
	cl := challengeOf(t, tok)
	for name, amr := range map[string][]string{
		"nine methods": {"a", "b", "c", "d", "e", "f", "g", "h", "i"},
		"a space":      {"hw k"},
		"empty":        {""},
		"too long":     {strings.Repeat("m", 33)},
		"a quote":      {`hwk"`},
	} {
		vt := h.verificationToken(t, h.customer, verification{Sub: cl.Sub, ChallengeID: cl.ChallengeID, Key: cl.CurrentStep, AMR: amr})
		_, err := h.e.ContinueStepUp(context.Background(), c.caller(), tok, vt, challengeProof(t, c, tok))
		wantErr(t, name, err, ErrInvalidVerification)
	}
	if got := h.e.earnedACR(acrPhone, methodsEmail); got != "" {
		t.Errorf("an email code earned the possession-based acr: %q", got)
	}
	if got := h.e.earnedACR(acrPhone, methodsSMS); got != acrPhone {
		t.Errorf("an SMS code did not earn it: %q", got)
	}
}

// TestACRConfig: acr values that could not stand in a header, and a
// possession-based acr nothing configured can earn, fail New.
func TestACRConfig(t *testing.T) {
	emailOnly := &DirectPolicy{GrantMode: GrantSingleUse, GrantedFor: 60 * time.Second,
		Steps: []DirectStep{{Key: StepVerifyEmail, Expiration: 60 * time.Second}}}
	for name, tc := range map[string]struct {
		change func(*Config)
		want   string
	}{
		"space in a scope acr":        {func(c *Config) { c.Scopes[scopeSMS] = ScopePolicy{Direct: emailOnly, ACR: "urn:a b"} }, "printable ASCII"},
		"quote in the login acr":      {func(c *Config) { c.LoginACR = `urn:"x"` }, "printable ASCII"},
		"non-ASCII":                   {func(c *Config) { c.PossessionACR = []string{"urn:é"} }, "printable ASCII"},
		"too long":                    {func(c *Config) { c.LoginACR = strings.Repeat("a", 256) }, "printable ASCII"},
		"possession login with email": {func(c *Config) { c.PossessionACR = []string{DefaultLoginACR} }, "email login never earns"},
		"possession scope, email step": {func(c *Config) {
			c.PossessionACR = []string{acrPhone}
			c.Scopes[scopeSMS] = ScopePolicy{Direct: emailOnly, ACR: acrPhone}
		}, "none of its steps proves possession"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := validConfig(t)
			tc.change(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// A possession-based acr on an email login is fine when email is not a
	// login method, and on a scope whose steps include a custom one.
	ok := validConfig(t)
	ok.LoginIdentifiers, ok.LoginACR, ok.PossessionACR = []string{IdentifierPhone}, acrPhone, []string{acrPhone}
	ok.Scopes["x"] = ScopePolicy{ACR: acrPhone, Direct: &DirectPolicy{Steps: []DirectStep{{Key: StepVerifyEmail}, {Key: "kyc_review"}}}}
	if _, err := New(ok); err != nil {
		t.Fatalf("a valid acr config: %v", err)
	}
}

// validConfig is the harness's configuration, with a scope map of its own.
func validConfig(t *testing.T) Config {
	var cfg Config
	newHarness(t, nil, func(c *Config) { cfg = *c })
	cfg.Scopes = maps.Clone(cfg.Scopes)
	return cfg
}
