package stepup

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// testProvider plays the OpenID provider's side of the wire for the
// engine: it hands out one code per login and answers Exchange with the
// identity registered for that code.
type testProvider struct {
	mu     sync.Mutex
	nonces map[string]string // state → nonce of the login
	codes  map[string]*OAuthIdentity
	fail   error
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

func withOAuth(p *testProvider, acr string) func(*Config) {
	return func(cfg *Config) {
		cfg.OAuth = map[string]OAuthLogin{"okta": {Provider: p, ACR: acr}}
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
	authURL, err := h.e.BeginOAuth(ctx, "okta", appOrigin+"/app", s256(verifier), "S256", appOrigin, testClient)
	noErr(t, "begin", err)
	state, code := p.login(authURL, id)
	back, err := h.e.CompleteOAuth(ctx, "okta", state, code, "")
	noErr(t, "complete", err)
	if back.Ticket == "" || !strings.HasPrefix(back.Location(), appOrigin+"/app?challenge_token=lgn_") {
		t.Fatalf("callback %+v → %s", back, back.Location())
	}
	fin, err := h.e.FinalizeLogin(ctx, back.Ticket, verifier, proofFor(t, newJKT(t)), testClient)
	noErr(t, "finalize", err)
	return fin.Tokens
}

// TestOAuthUsers: the provider's subject is the user; its verified
// identifiers are the user's unless someone else holds them; unverified
// ones are ignored.
func TestOAuthUsers(t *testing.T) {
	p := newTestProvider()
	h := newHarness(t, nil, withOAuth(p, ""))
	carol := &OAuthIdentity{Issuer: "https://idp.test", Subject: "carol", Email: "Carol@Example.com", EmailVerified: true,
		Phone: "+15555550142", PhoneVerified: true, AMR: []string{"pwd", "mfa"}, ACR: "urn:idp:loa2"}
	first := accessOf(t, h.oauthLogin(t, p, carol).AccessToken)
	if first.ACR != "urn:idp:loa2" || strings.Join(first.AMR, " ") != "pwd mfa" {
		t.Errorf("event: acr %q amr %v", first.ACR, first.AMR)
	}
	u := h.storedUser(t, "carol@example.com")
	if u.ID != first.Sub || len(u.Identifiers) != 2 {
		t.Fatalf("user %+v for sub %s", u, first.Sub)
	}
	if again := accessOf(t, h.oauthLogin(t, p, carol).AccessToken); again.Sub != first.Sub {
		t.Error("the same subject became another user")
	}
	if byCode := h.login(t, IdentifierPhone, "+15555550142"); accessOf(t, byCode.tokens.AccessToken).Sub != first.Sub {
		t.Error("the provider-verified phone does not reach the user by code")
	}
	// Someone holding dave@example.com already keeps it.
	dave := h.login(t, IdentifierEmail, "dave@example.com")
	mallory := accessOf(t, h.oauthLogin(t, p, &OAuthIdentity{Issuer: "https://idp.test", Subject: "mallory",
		Email: "dave@example.com", EmailVerified: true}).AccessToken)
	if mallory.Sub == accessOf(t, dave.tokens.AccessToken).Sub {
		t.Fatal("a provider's verified email took over an account")
	}
	if h.storedUser(t, "dave@example.com").ID != accessOf(t, dave.tokens.AccessToken).Sub {
		t.Error("the address changed owner")
	}
	// An unverified address is not the user's.
	h.oauthLogin(t, p, &OAuthIdentity{Issuer: "https://idp.test", Subject: "eve", Email: "eve@example.com"})
	var id string
	if _, err := h.e.load(context.Background(), identKey(IdentifierEmail, "eve@example.com"), &id); err == nil {
		t.Error("an unverified address was indexed")
	}
	// Same subject at another issuer: another user.
	other := accessOf(t, h.oauthLogin(t, p, &OAuthIdentity{Issuer: "https://other.test", Subject: "carol"}).AccessToken)
	if other.Sub == first.Sub {
		t.Error("subjects of two issuers are one user")
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
		_, err := h.e.BeginOAuth(ctx, tc.provider, tc.redirect, tc.challenge, tc.method, appOrigin, testClient)
		wantErr(t, name, err, tc.want)
	}
	id := &OAuthIdentity{Issuer: "https://idp.test", Subject: "carol"}
	authURL, err := h.e.BeginOAuth(ctx, "okta", appOrigin+"/app?x=1", challenge, "S256", appOrigin, testClient)
	noErr(t, "begin", err)
	state, code := p.login(authURL, id)
	_, err = h.e.CompleteOAuth(ctx, "other", state, code, "")
	wantErr(t, "another provider's callback", err, ErrOAuthNotConfigured)
	back, err := h.e.CompleteOAuth(ctx, "okta", state, code, "")
	noErr(t, "complete", err)
	if loc, _ := url.Parse(back.Location()); loc.Query().Get("x") != "1" {
		t.Errorf("the app's own query was lost: %s", back.Location())
	}
	_, err = h.e.CompleteOAuth(ctx, "okta", state, code, "")
	wantErr(t, "the state again", err, ErrOAuthState)
	_, err = h.e.CompleteOAuth(ctx, "okta", "short", code, "")
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
		authURL, _ := h.e.BeginOAuth(ctx, "okta", appOrigin+"/app", challenge, "S256", appOrigin, testClient)
		state, code := p.login(authURL, id)
		switch tc.fail {
		case "refused":
			p.fail = fmt.Errorf("%w: invalid_grant", ErrOAuthRefused)
		case "down":
			p.fail = errors.New("connection refused")
		}
		back, err := h.e.CompleteOAuth(ctx, "okta", state, code, tc.providerErr)
		p.fail = nil
		noErr(t, name, err)
		if back.Ticket != "" || back.Error != tc.want || strings.Contains(back.Location(), "challenge_token") {
			t.Errorf("%s: %+v", name, back)
		}
	}
}

// TestOAuthEvent: the acr of the configuration, else of the ID token,
// else the default; the possession rule; an auth_time in the future is
// not believed.
func TestOAuthEvent(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.PossessionACR = []string{acrPhone} })
	now := h.clk.Now()
	for name, tc := range map[string]struct {
		configured string
		id         OAuthIdentity
		acr        string
		at         time.Time
	}{
		"from the token":       {"", OAuthIdentity{ACR: "urn:idp:loa2", AuthTime: now.Add(-time.Minute)}, "urn:idp:loa2", now.Add(-time.Minute)},
		"configured":           {"urn:gw:sso", OAuthIdentity{ACR: "urn:idp:loa2"}, "urn:gw:sso", now},
		"none":                 {"", OAuthIdentity{}, DefaultOAuthACR, now},
		"token acr unusable":   {"", OAuthIdentity{ACR: "a b"}, DefaultOAuthACR, now},
		"possession, no proof": {"", OAuthIdentity{ACR: acrPhone, AMR: []string{"pwd"}}, "", now},
		"possession, hwk":      {"", OAuthIdentity{ACR: acrPhone, AMR: []string{"hwk"}}, acrPhone, now},
		"future auth_time":     {"", OAuthIdentity{AuthTime: now.Add(time.Hour)}, DefaultOAuthACR, now},
	} {
		ev := h.e.oauthEvent(OAuthLogin{ACR: tc.configured}, &tc.id)
		if ev.ACR != tc.acr || ev.At != tc.at.Unix() {
			t.Errorf("%s: acr %q at %d, want %q %d", name, ev.ACR, ev.At, tc.acr, tc.at.Unix())
		}
	}
}
