package stepup

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// testProvider plays the OpenID provider's side of the wire for the
// engine: it hands out one code per login and answers Exchange with the
// identity registered for that code.
type testProvider struct {
	mu     sync.Mutex
	nonces map[string]string // state → nonce of the login
	codes  map[string]*OAuthIdentity
	fail   error
	// exchanges counts the codes the engine asked to redeem.
	exchanges int
}

func newTestProvider() *testProvider {
	return &testProvider{nonces: map[string]string{}, codes: map[string]*OAuthIdentity{}}
}

func (p *testProvider) AuthCodeURL(_ context.Context, state, nonce, verifier string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nonces[state] = nonce
	return "https://idp.test/authorize?state=" + url.QueryEscape(state), nil
}

func (p *testProvider) Exchange(_ context.Context, code, verifier, nonce string) (*OAuthIdentity, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.exchanges++
	if p.fail != nil {
		return nil, p.fail
	}
	id, ok := p.codes[code]
	if !ok {
		return nil, fmt.Errorf("%w: unknown code", ErrOAuthRefused)
	}
	return id, nil
}

// login registers identity for a new code and returns the state and code
// the provider would send the browser back with.
func (p *testProvider) login(authURL string, id *OAuthIdentity) (state, code string) {
	u, _ := url.Parse(authURL)
	state = u.Query().Get("state")
	p.mu.Lock()
	defer p.mu.Unlock()
	code = "code-" + state[:8]
	p.codes[code] = id
	return state, code
}

const appOrigin = "https://gateway.test"

// appRedirects are the redirect URIs of the "okta" provider.
var appRedirects = []string{appOrigin + "/app", appOrigin + "/app?x=1"}

func withOAuth(p *testProvider, acr string) func(*Config) {
	return func(cfg *Config) {
		cfg.OAuth = map[string]OAuthLogin{"okta": {Provider: p, Issuer: "https://idp.test", ACR: acr, RedirectURIs: appRedirects}}
	}
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// oauthLogin runs a whole login for id and returns the finalized tokens.
func (h *harness) oauthLogin(t *testing.T, p *testProvider, id *OAuthIdentity) *Tokens {
	t.Helper()
	ctx := context.Background()
	verifier := newSecret()
	start, err := h.e.BeginOAuth(ctx, "okta", appOrigin+"/app", s256(verifier), "S256", "", testClient)
	noErr(t, "begin", err)
	state, code := p.login(start.AuthorizationURL, id)
	back, err := h.e.CompleteOAuth(ctx, "okta", state, code, "", start.Browser)
	noErr(t, "complete", err)
	if back.Ticket == "" || !strings.HasPrefix(back.Location(), appOrigin+"/app?challenge_token=lgn_") {
		t.Fatalf("callback %+v → %s", back, back.Location())
	}
	fin, err := h.e.FinalizeLogin(ctx, back.Ticket, verifier, proofFor(t, newJKT(t)), testClient)
	noErr(t, "finalize", err)
	return fin.Tokens
}

// trustOkta trusts the "okta" provider with its verified addresses.
func trustOkta(cfg *Config) {
	p := cfg.OAuth["okta"]
	p.TrustVerifiedIdentifiers = true
	cfg.OAuth["okta"] = p
}

// withHook adds scopeHooked, decided by the hook at hs.
func withHook(hs *hookServer) func(*Config) {
	return func(c *Config) { c.Scopes[scopeHooked] = ScopePolicy{HookURL: hs.srv.URL} }
}

// oauthClient logs id in through the provider and returns its client.
func (h *harness) oauthClient(t *testing.T, p *testProvider, id *OAuthIdentity) *client {
	t.Helper()
	tokens := h.oauthLogin(t, p, id)
	return &client{jkt: "", tokens: tokens}
}

// userByID reads a user record.
func (h *harness) userByID(t *testing.T, id string) userRecord {
	t.Helper()
	var u userRecord
	if _, err := h.e.load(context.Background(), userKey(id), &u); err != nil {
		t.Fatal(err)
	}
	return u
}

// indexOwner is the user an identifier's index names, or "".
func (h *harness) indexOwner(t *testing.T, typ, value string) string {
	t.Helper()
	var id string
	if _, err := h.e.load(context.Background(), identKey(typ, value), &id); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return id
}

// hookIdentifiers is the identifiers member of the hook's last request.
func hookIdentifiers(t *testing.T, hs *hookServer) string {
	t.Helper()
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if len(hs.bodies) == 0 {
		t.Fatal("the hook was not called")
	}
	var fields map[string]json.RawMessage
	noErr(t, "decoding the hook body", json.Unmarshal(hs.bodies[len(hs.bodies)-1], &fields))
	return string(fields["identifiers"])
}

// TestOAuthUsers: the provider's (issuer, subject) is the user; the
// addresses it says are verified are contact data, which nothing reaches:
// no index, no step-up code, nothing for the hook. Unverified ones are not
// kept.
func TestOAuthUsers(t *testing.T) {
	p := newTestProvider()
	hs := newHookServer(t, answer(`{"status":"block"}`))
	h := newHarness(t, nil, withOAuth(p, ""), withHook(hs))
	carol := &OAuthIdentity{Issuer: "https://idp.test", Subject: "carol", Email: "Carol@Example.com", EmailVerified: true,
		Phone: "+15555550142", PhoneVerified: true, AMR: []string{"pwd", "mfa"}, ACR: "urn:idp:loa2"}
	c := h.oauthClient(t, p, carol)
	first := accessOf(t, c.tokens.AccessToken)
	if first.ACR != "urn:idp:loa2" || strings.Join(first.AMR, " ") != "pwd mfa" {
		t.Errorf("event: acr %q amr %v", first.ACR, first.AMR)
	}
	u := h.userByID(t, first.Sub)
	want := []userIdentifier{
		{Identifier: Identifier{Type: IdentifierEmail, Value: "carol@example.com"}, Issuer: "https://idp.test"},
		{Identifier: Identifier{Type: IdentifierPhone, Value: "+15555550142"}, Issuer: "https://idp.test"},
	}
	if fmt.Sprint(u.Identifiers) != fmt.Sprint(want) {
		t.Errorf("identifiers %+v, want contact data %+v", u.Identifiers, want)
	}
	for _, id := range want {
		if owner := h.indexOwner(t, id.Type, id.Value); owner != "" {
			t.Errorf("%s is indexed to %s", id.Value, owner)
		}
	}
	if again := accessOf(t, h.oauthLogin(t, p, carol).AccessToken); again.Sub != first.Sub {
		t.Error("the same subject became another user")
	}
	// No step-up code goes to an address the gateway never proved.
	sent := h.sender.count()
	res := h.stepUp(t, c, scopeSMS, nil)
	_, err := h.e.SendStepOTP(context.Background(), res.ChallengeToken, false, testClient)
	wantErr(t, "an SMS step for a provider's phone", err, ErrNoVerifiedIdentifier)
	if h.sender.count() != sent {
		t.Error("a code was sent")
	}
	if _, err := h.e.RequestStepUp(context.Background(), c.caller(), scopeHooked, nil, Signals{}); err != nil {
		t.Fatal(err)
	}
	if got := hookIdentifiers(t, hs); got != "[]" {
		t.Errorf("the hook heard of %s", got)
	}
	// An unverified address is not kept at all.
	eve := accessOf(t, h.oauthLogin(t, p, &OAuthIdentity{Issuer: "https://idp.test", Subject: "eve", Email: "eve@example.com"}).AccessToken)
	if ids := h.userByID(t, eve.Sub).Identifiers; len(ids) != 0 {
		t.Errorf("eve's unverified address was kept: %+v", ids)
	}
	// Same subject at another issuer: another user.
	other := accessOf(t, h.oauthLogin(t, p, &OAuthIdentity{Issuer: "https://other.test", Subject: "carol"}).AccessToken)
	if other.Sub == first.Sub {
		t.Error("subjects of two issuers are one user")
	}
}

// TestOAuthPreHijack: a provider vouches for a victim's email address and
// phone number before the victim has an account. The victim's code login,
// sign-up and password login land in the victim's own user; the attacker's
// user never sends a code to the victim's phone, and the hook never hears
// of the victim's addresses from it.
func TestOAuthPreHijack(t *testing.T) {
	p := newTestProvider()
	hs := newHookServer(t, answer(`{"status":"block"}`))
	h := newHarness(t, nil, withOAuth(p, ""), withHook(hs), withPasswords)
	const victimEmail, victimPhone, victimPwdEmail = "victim@example.com", "+15555550199", "victim.pwd@example.com"
	attacker := h.oauthClient(t, p, &OAuthIdentity{Issuer: "https://idp.test", Subject: "attacker-1",
		Email: victimEmail, EmailVerified: true, Phone: victimPhone, PhoneVerified: true})
	attacker2 := h.oauthLogin(t, p, &OAuthIdentity{Issuer: "https://idp.test", Subject: "attacker-2", Email: victimPwdEmail, EmailVerified: true})
	attackerSub := attacker.tokens.UserID

	byEmail := h.login(t, IdentifierEmail, victimEmail)
	byPhone := h.login(t, IdentifierPhone, victimPhone)
	signedUp, err := h.signUp(t, victimPwdEmail, goodPassword)
	noErr(t, "sign-up", err)
	byPassword, err := h.passwordLogin(t, victimPwdEmail, goodPassword, "")
	noErr(t, "password login", err)
	for name, c := range map[string]*client{"code login by email": byEmail, "code login by phone": byPhone,
		"sign-up": signedUp, "password login": byPassword} {
		if c.tokens.UserID == attackerSub || c.tokens.UserID == attacker2.UserID {
			t.Errorf("%s landed in an attacker's user", name)
		}
	}
	if signedUp.tokens.UserID != byPassword.tokens.UserID {
		t.Error("the password login did not reach the account the sign-up made")
	}
	// The attacker, back through the provider: the same user, still
	// without the victim's addresses.
	again := h.oauthClient(t, p, &OAuthIdentity{Issuer: "https://idp.test", Subject: "attacker-1",
		Email: victimEmail, EmailVerified: true, Phone: victimPhone, PhoneVerified: true})
	if again.tokens.UserID != attackerSub {
		t.Fatal("the attacker's subject became another user")
	}
	sent := h.sender.count()
	res := h.stepUp(t, again, scopeSMS, nil)
	_, err = h.e.SendStepOTP(context.Background(), res.ChallengeToken, false, testClient)
	wantErr(t, "the attacker's SMS step", err, ErrNoVerifiedIdentifier)
	if h.sender.count() != sent {
		t.Errorf("a code went to %s", h.sender.last(t).To)
	}
	if _, err := h.e.RequestStepUp(context.Background(), again.caller(), scopeHooked, nil, Signals{}); err != nil {
		t.Fatal(err)
	}
	if got := hookIdentifiers(t, hs); got != "[]" {
		t.Errorf("the hook heard of %s for the attacker", got)
	}
	// The victim's own step-up code goes to the victim's phone.
	res = h.stepUp(t, byPhone, scopeSMS, nil)
	if _, err := h.e.SendStepOTP(context.Background(), res.ChallengeToken, false, testClient); err != nil {
		t.Fatal(err)
	}
	if msg := h.sender.last(t); msg.To != victimPhone || msg.Purpose != "step_up" {
		t.Errorf("the victim's step-up code: %+v", msg)
	}
}

// TestOAuthTrustedProvider: with trust_verified_identifiers the provider's
// verified addresses count as proven (code login, step-up codes, the hook),
// except one someone else holds. Once the trust is withdrawn they stop
// counting: a code login with one moves its index to the code's prover,
// and trusting the provider again does not move it back.
func TestOAuthTrustedProvider(t *testing.T) {
	p := newTestProvider()
	hs := newHookServer(t, answer(`{"status":"block"}`))
	st := store.NewMemory()
	h := newHarness(t, st, withOAuth(p, ""), trustOkta, withHook(hs))
	ctx := context.Background()
	carolID := &OAuthIdentity{Issuer: "https://idp.test", Subject: "carol", Email: "carol@example.com", EmailVerified: true,
		Phone: "+15555550142", PhoneVerified: true}
	carol := h.oauthClient(t, p, carolID)
	if byCode := h.login(t, IdentifierEmail, "carol@example.com"); byCode.tokens.UserID != carol.tokens.UserID {
		t.Error("a code login with the trusted provider's verified email did not reach its user")
	}
	res := h.stepUp(t, carol, scopeSMS, nil)
	if _, err := h.e.SendStepOTP(ctx, res.ChallengeToken, false, testClient); err != nil {
		t.Fatal(err)
	}
	if msg := h.sender.last(t); msg.To != "+15555550142" {
		t.Errorf("the step-up code went to %s", msg.To)
	}
	if _, err := h.e.RequestStepUp(ctx, carol.caller(), scopeHooked, nil, Signals{}); err != nil {
		t.Fatal(err)
	}
	if got := hookIdentifiers(t, hs); got != `[{"type":"email_address","value":"carol@example.com"},{"type":"phone_number","value":"+15555550142"}]` {
		t.Errorf("the hook heard of %s", got)
	}
	// Someone holding an address already keeps it, trust or not.
	dave := h.login(t, IdentifierPhone, "+15555550111")
	mallory := h.oauthClient(t, p, &OAuthIdentity{Issuer: "https://idp.test", Subject: "mallory",
		Phone: "+15555550111", PhoneVerified: true})
	if mallory.tokens.UserID == dave.tokens.UserID || h.indexOwner(t, IdentifierPhone, "+15555550111") != dave.tokens.UserID {
		t.Fatal("a trusted provider took over an address someone held")
	}
	res = h.stepUp(t, mallory, scopeSMS, nil)
	_, err := h.e.SendStepOTP(ctx, res.ChallengeToken, false, testClient)
	wantErr(t, "mallory's SMS step", err, ErrNoVerifiedIdentifier)

	// A challenge made while carol's phone counted for her...
	pending := h.stepUp(t, carol, scopeSMS, nil)
	// ...then the trust is withdrawn (another configuration, same store).
	untrusting := newHarness(t, st, withOAuth(p, ""))
	carolAgain := untrusting.oauthClient(t, p, carolID)
	res = untrusting.stepUp(t, carolAgain, scopeSMS, nil)
	_, err = untrusting.e.SendStepOTP(ctx, res.ChallengeToken, false, testClient)
	wantErr(t, "an SMS step once the provider is no longer trusted", err, ErrNoVerifiedIdentifier)
	owner := untrusting.login(t, IdentifierPhone, "+15555550142")
	if owner.tokens.UserID == carol.tokens.UserID || untrusting.indexOwner(t, IdentifierPhone, "+15555550142") != owner.tokens.UserID {
		t.Fatal("the code's prover did not get the phone number")
	}
	// The challenge made before sends nothing now, even where the
	// provider is still trusted: the number is someone else's.
	sent := h.sender.count()
	_, err = h.e.SendStepOTP(ctx, pending.ChallengeToken, false, testClient)
	wantErr(t, "a challenge made before the number moved", err, ErrNoVerifiedIdentifier)
	if h.sender.count() != sent {
		t.Error("a code was sent")
	}
	// Trusted again, the provider does not take the number back.
	h.oauthLogin(t, p, carolID)
	if h.indexOwner(t, IdentifierPhone, "+15555550142") != owner.tokens.UserID {
		t.Error("the provider took the number back")
	}
	carolUser := h.userByID(t, carol.tokens.UserID)
	if held := carolUser.find(Identifier{Type: IdentifierPhone, Value: "+15555550142"}); held == nil || h.e.proven(held) {
		t.Errorf("carol's entry for the number: %+v, want contact data", held)
	}
}

// TestOAuthRefusals: begin, callback and finalize refusals.
func TestOAuthRefusals(t *testing.T) {
	p := newTestProvider()
	h := newHarness(t, nil, withOAuth(p, ""))
	ctx := context.Background()
	verifier := newSecret()
	challenge := s256(verifier)
	for name, tc := range map[string]struct {
		provider, redirect, challenge, method string
		want                                  error
	}{
		"unknown provider":   {"google", appOrigin + "/app", challenge, "S256", ErrOAuthNotConfigured},
		"another origin":     {"okta", "https://evil.test/app", challenge, "S256", ErrInvalidRedirectURI},
		"a fragment":         {"okta", appOrigin + "/app#t", challenge, "S256", ErrInvalidRedirectURI},
		"user info":          {"okta", "https://x@gateway.test/app", challenge, "S256", ErrInvalidRedirectURI},
		"javascript":         {"okta", "javascript:alert(1)", challenge, "S256", ErrInvalidRedirectURI},
		"plain":              {"okta", appOrigin + "/app", verifier, "plain", ErrBadRequest},
		"challenge too long": {"okta", appOrigin + "/app", challenge + "A", "S256", ErrBadRequest},
	} {
		_, err := h.e.BeginOAuth(ctx, tc.provider, tc.redirect, tc.challenge, tc.method, "", testClient)
		wantErr(t, name, err, tc.want)
	}
	id := &OAuthIdentity{Issuer: "https://idp.test", Subject: "carol"}
	start, err := h.e.BeginOAuth(ctx, "okta", appOrigin+"/app?x=1", challenge, "S256", "", testClient)
	noErr(t, "begin", err)
	state, code := p.login(start.AuthorizationURL, id)
	_, err = h.e.CompleteOAuth(ctx, "other", state, code, "", start.Browser)
	wantErr(t, "another provider's callback", err, ErrOAuthNotConfigured)
	back, err := h.e.CompleteOAuth(ctx, "okta", state, code, "", start.Browser)
	noErr(t, "complete", err)
	if loc, _ := url.Parse(back.Location()); loc.Query().Get("x") != "1" {
		t.Errorf("the app's own query was lost: %s", back.Location())
	}
	_, err = h.e.CompleteOAuth(ctx, "okta", state, code, "", start.Browser)
	wantErr(t, "the state again", err, ErrOAuthState)
	_, err = h.e.CompleteOAuth(ctx, "okta", "short", code, "", start.Browser)
	wantErr(t, "a malformed state", err, ErrOAuthState)
	jkt := newJKT(t)
	_, err = h.e.FinalizeLogin(ctx, back.Ticket, "", proofFor(t, jkt), testClient)
	wantErr(t, "without the verifier", err, ErrInvalidLoginTicket)
	_, err = h.e.FinalizeLogin(ctx, back.Ticket, verifier, proofFor(t, jkt), testClient)
	wantErr(t, "the verifier after a failed try", err, ErrInvalidLoginTicket)

	for name, tc := range map[string]struct {
		fail, providerErr string
		want              string
	}{
		"denied at the provider": {"", "access_denied", "access_denied"},
		"a refused code":         {"refused", "", "access_denied"},
		"provider down":          {"down", "", "server_error"},
	} {
		start, _ := h.e.BeginOAuth(ctx, "okta", appOrigin+"/app", challenge, "S256", "", testClient)
		state, code := p.login(start.AuthorizationURL, id)
		switch tc.fail {
		case "refused":
			p.fail = fmt.Errorf("%w: invalid_grant", ErrOAuthRefused)
		case "down":
			p.fail = errors.New("connection refused")
		}
		back, err := h.e.CompleteOAuth(ctx, "okta", state, code, tc.providerErr, start.Browser)
		p.fail = nil
		noErr(t, name, err)
		if back.Ticket != "" || back.Error != tc.want || strings.Contains(back.Location(), "challenge_token") {
			t.Errorf("%s: %+v", name, back)
		}
	}
}

// TestOAuthRedirectURIs: the app's redirect URI is one of the configured
// ones, byte for byte. URLs on the gateway's own origin, paths that
// browsers or proxies would read as another host, and spellings that
// normalise to a listed URI are refused before anything is stored.
func TestOAuthRedirectURIs(t *testing.T) {
	p := newTestProvider()
	h := newHarness(t, nil, withOAuth(p, ""))
	ctx := context.Background()
	challenge := s256(newSecret())
	for _, redirect := range []string{
		"//evil.example/", "%2f%2fevil.example", "/%2f%2fevil.example", "/\\evil.example", "https:evil.example",
		appOrigin + "/legacy/api", appOrigin + "/", appOrigin, appOrigin + "/app/", appOrigin + "/App", "HTTPS://gateway.test/app",
		"https://GATEWAY.test/app", appOrigin + ":443/app", appOrigin + "/./app", appOrigin + "/%61pp", appOrigin + "/app?",
		appOrigin + "/app?x=1&x=2", appOrigin + "/app?x=2", appOrigin + "/app#", appOrigin + "/app ", " " + appOrigin + "/app",
		appOrigin + "/app\x00", appOrigin + "/app\r\nLocation: https://evil.example", "",
	} {
		_, err := h.e.BeginOAuth(ctx, "okta", redirect, challenge, "S256", "", testClient)
		wantErr(t, fmt.Sprintf("redirect %q", redirect), err, ErrInvalidRedirectURI)
	}
	if n := len(p.nonces); n != 0 {
		t.Errorf("%d logins reached the provider", n)
	}
	for _, redirect := range appRedirects {
		if _, err := h.e.BeginOAuth(ctx, "okta", redirect, challenge, "S256", "", testClient); err != nil {
			t.Errorf("%s: %v", redirect, err)
		}
	}
	// A provider without redirect URIs is a configuration error.
	_, err := New(Config{Issuer: testIssuer, Signer: h.signer, Store: h.st,
		OAuth: map[string]OAuthLogin{"okta": {Provider: p, Issuer: "https://idp.test"}}})
	if err == nil || !strings.Contains(err.Error(), "redirect_uris") {
		t.Errorf("an engine without redirect URIs: %v", err)
	}
}

// flipFirstLetter changes the case of the first letter of s.
func flipFirstLetter(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			b[i] = c ^ 0x20
			break
		}
	}
	return string(b)
}

// TestOAuthBrowserBinding: the callback must come from the browser that
// started the login (the binding it holds in a cookie). Another browser's
// callback, or one without the binding, spends the state and redeems no
// code; one browser may have several logins under way.
func TestOAuthBrowserBinding(t *testing.T) {
	p := newTestProvider()
	h := newHarness(t, nil, withOAuth(p, ""))
	ctx := context.Background()
	id := &OAuthIdentity{Issuer: "https://idp.test", Subject: "carol"}
	challenge := s256(newSecret())
	attackers, err := h.e.BeginOAuth(ctx, "okta", appOrigin+"/app", challenge, "S256", "", testClient)
	noErr(t, "begin", err)
	victims, err := h.e.BeginOAuth(ctx, "okta", appOrigin+"/app", challenge, "S256", "", testClient)
	noErr(t, "begin", err)
	if attackers.Browser == victims.Browser || !isBase64URL(attackers.Browser, 43) {
		t.Fatalf("bindings %q and %q", attackers.Browser, victims.Browser)
	}
	for name, browser := range map[string]string{
		"no binding":             "",
		"another browser's":      victims.Browser,
		"malformed":              attackers.Browser[:42],
		"its digest":             browserDigest(attackers.Browser)[:43],
		"a case variant":         flipFirstLetter(attackers.Browser),
		"with a trailing letter": attackers.Browser + "A",
	} {
		start, err := h.e.BeginOAuth(ctx, "okta", appOrigin+"/app", challenge, "S256", attackers.Browser, testClient)
		noErr(t, name, err)
		if start.Browser != attackers.Browser {
			t.Fatalf("%s: the browser's binding was not reused", name)
		}
		state, code := p.login(start.AuthorizationURL, id)
		if browser == attackers.Browser {
			continue // a case variant of a lower-case-only binding
		}
		back, err := h.e.CompleteOAuth(ctx, "okta", state, code, "", browser)
		if back != nil {
			t.Errorf("%s: sent the browser to %s", name, back.Location())
		}
		wantErr(t, name, err, ErrOAuthBrowser)
		// The state is spent: the right browser cannot use it afterwards
		// either, and no code was redeemed.
		_, err = h.e.CompleteOAuth(ctx, "okta", state, code, "", attackers.Browser)
		wantErr(t, name+", then the right browser", err, ErrOAuthState)
	}
	if n := p.exchanges; n != 0 {
		t.Errorf("%d codes were redeemed", n)
	}
	// Two logins under way in one browser both complete.
	first, _ := h.e.BeginOAuth(ctx, "okta", appOrigin+"/app", challenge, "S256", victims.Browser, testClient)
	second, _ := h.e.BeginOAuth(ctx, "okta", appOrigin+"/app", challenge, "S256", victims.Browser, testClient)
	for i, start := range []*OAuthStart{first, second} {
		state, code := p.login(start.AuthorizationURL, id)
		if back, err := h.e.CompleteOAuth(ctx, "okta", state, code, "", victims.Browser); err != nil || back.Ticket == "" {
			t.Errorf("login %d: %+v %v", i, back, err)
		}
	}
}

// TestOAuthEvent: the acr mapped from the ID token's, else the
// configured one, else the ID token's own unless the gateway awards it
// itself, else the default; the possession rule; an auth_time in the
// future is not believed.
func TestOAuthEvent(t *testing.T) {
	h := newHarness(t, nil, withPasswords, func(c *Config) {
		c.PossessionACR = []string{acrPhone}
		c.Scopes["mail:write"] = ScopePolicy{ACR: "urn:gw:mail", Direct: &DirectPolicy{
			Steps: []DirectStep{{Key: StepVerifyEmail, Expiration: 300 * time.Second}}}}
	})
	now := h.clk.Now()
	mapped := map[string]string{"urn:idp:loa3": acrPhone, DefaultLoginACR: DefaultLoginACR, "urn:idp:loa1": "urn:gw:low"}
	for name, tc := range map[string]struct {
		configured string
		acrMap     map[string]string
		id         OAuthIdentity
		acr        string
		at         time.Time
	}{
		"from the token":                 {"", nil, OAuthIdentity{ACR: "urn:idp:loa2", AuthTime: now.Add(-time.Minute)}, "urn:idp:loa2", now.Add(-time.Minute)},
		"configured":                     {"urn:gw:sso", nil, OAuthIdentity{ACR: "urn:idp:loa2"}, "urn:gw:sso", now},
		"none":                           {"", nil, OAuthIdentity{}, DefaultOAuthACR, now},
		"token acr unusable":             {"", nil, OAuthIdentity{ACR: "a b"}, DefaultOAuthACR, now},
		"the login acr, unmapped":        {"", nil, OAuthIdentity{ACR: DefaultLoginACR}, DefaultOAuthACR, now},
		"the password acr, unmapped":     {"", nil, OAuthIdentity{ACR: DefaultPasswordACR}, DefaultOAuthACR, now},
		"a scope's acr, unmapped":        {"", nil, OAuthIdentity{ACR: "urn:gw:mail"}, DefaultOAuthACR, now},
		"possession, unmapped, with hwk": {"", nil, OAuthIdentity{ACR: acrPhone, AMR: []string{"hwk"}}, DefaultOAuthACR, now},
		"a configured acr, unmapped":     {"urn:gw:sso", nil, OAuthIdentity{ACR: DefaultLoginACR}, "urn:gw:sso", now},
		"mapped to the login acr":        {"", mapped, OAuthIdentity{ACR: DefaultLoginACR}, DefaultLoginACR, now},
		"mapped to another":              {"urn:gw:sso", mapped, OAuthIdentity{ACR: "urn:idp:loa1"}, "urn:gw:low", now},
		"mapped to possession, no proof": {"", mapped, OAuthIdentity{ACR: "urn:idp:loa3", AMR: []string{"pwd"}}, "", now},
		"mapped to possession, hwk":      {"", mapped, OAuthIdentity{ACR: "urn:idp:loa3", AMR: []string{"hwk"}}, acrPhone, now},
		"a map value, unmapped":          {"", mapped, OAuthIdentity{ACR: "urn:gw:low"}, DefaultOAuthACR, now},
		"not in the map":                 {"", mapped, OAuthIdentity{ACR: "urn:idp:loa2"}, "urn:idp:loa2", now},
		"future auth_time":               {"", nil, OAuthIdentity{AuthTime: now.Add(time.Hour)}, DefaultOAuthACR, now},
	} {
		e := h.e
		if tc.acrMap != nil || tc.configured != "" {
			// The engine's own acrs include every provider's mapped and
			// configured ones.
			e = newHarness(t, h.st, withPasswords, func(c *Config) {
				c.PossessionACR = []string{acrPhone}
				c.Scopes["mail:write"] = ScopePolicy{ACR: "urn:gw:mail", Direct: &DirectPolicy{
					Steps: []DirectStep{{Key: StepVerifyEmail, Expiration: 300 * time.Second}}}}
				c.OAuth = map[string]OAuthLogin{"okta": {Provider: newTestProvider(), Issuer: "https://idp.test",
					RedirectURIs: appRedirects, ACR: tc.configured, ACRMap: tc.acrMap}}
			}).e
			e.cfg.Now = h.clk.Now
		}
		ev := e.oauthEvent(OAuthLogin{ACR: tc.configured, ACRMap: tc.acrMap}, &tc.id)
		if ev.ACR != tc.acr || ev.At != tc.at.Unix() {
			t.Errorf("%s: acr %q at %d, want %q %d", name, ev.ACR, ev.At, tc.acr, tc.at.Unix())
		}
	}
	// An acr_map entry must be an acr on both sides.
	for _, m := range []map[string]string{{"": acrPhone}, {"urn:idp:loa3": ""}, {"a b": acrPhone}} {
		_, err := New(Config{Issuer: testIssuer, Signer: h.signer, Store: h.st, OAuth: map[string]OAuthLogin{"okta": {
			Provider: newTestProvider(), Issuer: "https://idp.test", RedirectURIs: appRedirects, ACRMap: m}}})
		if err == nil || !strings.Contains(err.Error(), "acr_map") {
			t.Errorf("acr_map %q: %v", m, err)
		}
	}
}
