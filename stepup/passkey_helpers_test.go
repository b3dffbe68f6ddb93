package stepup

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/caddy-stepup/caddy-stepup/internal/softauthn"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// The relying party of the passkey tests: the quick start's.
const (
	pkRPID      = "localhost"
	pkOrigin    = "https://localhost:8443"
	pkIOS       = "https://localhost" // an iOS app's passkeys name https://<rp id>
	pkAndroid   = "android:apk-key-hash:OCPWMiMLxAl8oL5nZy2GqYXgSOUdq0rR8RmRq8u7TAo"
	acrPasskey  = "phr"
	acrHardware = "phrh"
)

// Scopes of the passkey tests.
const (
	scopePasskey      = "pay:confirm"    // verify_passkey, single-use
	scopeSMSPasskey   = "pay:large"      // verify_sms then verify_passkey
	scopeHardwareOnly = "pay:hardware"   // verify_passkey, acr phrh
	scopeEmailOnly    = "profile:notify" // verify_email, acr of the login
)

// withPasskeys turns passkeys on as the quick start does (login on, the
// passkey acr values set), with the scopes above and the enrolment scope.
func withPasskeys(mods ...func(*PasskeyPolicy)) func(*Config) {
	return func(cfg *Config) {
		p := &PasskeyPolicy{RPID: pkRPID, RPName: "Stepup tests", Origins: []string{pkOrigin, pkIOS, pkAndroid}, Login: true,
			ACR: acrPasskey, HardwareACR: acrHardware}
		for _, m := range mods {
			m(p)
		}
		cfg.Passkeys = p
		direct := func(acr string, keys ...string) ScopePolicy {
			d := &DirectPolicy{GrantMode: GrantSingleUse, GrantedFor: 300 * time.Second}
			for _, k := range keys {
				d.Steps = append(d.Steps, DirectStep{Key: k, Expiration: 300 * time.Second})
			}
			return ScopePolicy{Direct: d, ACR: acr}
		}
		cfg.Scopes[PasskeyWriteScope] = direct("", StepVerifySMS)
		cfg.Scopes[scopePasskey] = direct("", StepVerifyPasskey)
		cfg.Scopes[scopeSMSPasskey] = direct("", StepVerifySMS, StepVerifyPasskey)
		cfg.Scopes[scopeHardwareOnly] = direct(acrHardware, StepVerifyPasskey)
		cfg.Scopes[scopeEmailOnly] = direct("", StepVerifyEmail)
	}
}

// honest is a ceremony from the relying party's own web origin.
var honest = softauthn.Ceremony{Origin: pkOrigin}

// holdOf reads how an access token holds the enrolment scope, as the
// session API does.
func holdOf(t testing.TB, accessToken string) ScopeHold {
	t.Helper()
	claims := accessOf(t, accessToken)
	return ScopeHold{InToken: strings.Contains(" "+claims.Scope+" ", " "+PasskeyWriteScope+" "), GrantID: claims.Grant[PasskeyWriteScope]}
}

// grantWrite steps c up to the enrolment scope with an SMS code and
// returns the hold of its new access token.
func (h *harness) grantWrite(t testing.TB, c *client) ScopeHold {
	t.Helper()
	done := h.passSMS(t, c, h.stepUp(t, c, PasskeyWriteScope, nil).ChallengeToken)
	if _, err := h.refresh(t, c, done); err != nil {
		t.Fatalf("redeeming the enrolment scope: %v", err)
	}
	return holdOf(t, c.tokens.AccessToken)
}

// enrol runs a whole enrolment of a passkey of a for c, with a fresh
// enrolment scope.
func (h *harness) enrol(t testing.TB, c *client, a *softauthn.Authenticator, cer softauthn.Ceremony) (*softauthn.Credential, *Passkey) {
	t.Helper()
	hold := h.grantWrite(t, c)
	ctx := context.Background()
	start, err := h.e.BeginPasskeyRegistration(ctx, c.caller(), hold, "user@example.com", "", "laptop")
	if err != nil {
		t.Fatalf("BeginPasskeyRegistration: %v", err)
	}
	cred, answer, err := a.Create(start.Options, cer)
	if err != nil {
		t.Fatalf("authenticator: %v", err)
	}
	pk, already, err := h.e.FinishPasskeyRegistration(ctx, c.caller(), hold, start.Token, answer)
	if err != nil {
		t.Fatalf("FinishPasskeyRegistration: %v", err)
	}
	if already {
		t.Fatal("a new passkey was reported as already registered")
	}
	return cred, pk
}

// assert answers a step's options with cred, and hands the assertion to
// the engine with the access token's caller and a challenge-bound proof.
func (h *harness) assert(t testing.TB, c *client, token string, options []byte, a *softauthn.Authenticator, cred *softauthn.Credential, cer softauthn.Ceremony) (*StepAnswer, error) {
	t.Helper()
	assertion, err := a.Get(options, cred, cer)
	if err != nil {
		t.Fatalf("authenticator: %v", err)
	}
	caller := c.caller()
	return h.e.AdvanceByPasskey(context.Background(), &caller, token, assertion, challengeProof(t, c, token), testClient)
}

// passkeyLogin logs in with cred from a new client, through the ticket and
// /login/finalize.
func (h *harness) passkeyLogin(t testing.TB, a *softauthn.Authenticator, cred *softauthn.Credential, cer softauthn.Ceremony) (*client, error) {
	t.Helper()
	ctx := context.Background()
	start, err := h.e.BeginPasskeyLogin(ctx, testClient)
	if err != nil {
		t.Fatalf("BeginPasskeyLogin: %v", err)
	}
	assertion, err := a.Get(start.Options, cred, cer)
	if err != nil {
		t.Fatalf("authenticator: %v", err)
	}
	ticket, err := h.e.FinishPasskeyLogin(ctx, start.Token, assertion, testClient)
	if err != nil {
		return nil, err
	}
	c := &client{jkt: newJKT(t)}
	done, err := h.e.FinalizeLogin(ctx, ticket, "", proofFor(t, c.jkt), testClient)
	if err != nil {
		t.Fatalf("FinalizeLogin of a passkey ticket: %v", err)
	}
	c.tokens = done.Tokens
	return c, nil
}

// optionsOf decodes WebAuthn options for checks.
func optionsOf(t testing.TB, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("options are not a JSON object: %v (%s)", err, raw)
	}
	return m
}

// forEachStore runs f on the memory store, a Redis server and a 3-master
// Redis Cluster, each started for the test.
func forEachStore(t *testing.T, f func(t *testing.T, st func() store.Store)) {
	t.Run("memory", func(t *testing.T) {
		f(t, func() store.Store { return store.NewMemory() })
	})
	t.Run("redis", func(t *testing.T) {
		st := redisStore(t)
		f(t, func() store.Store { return st })
	})
	t.Run("cluster", func(t *testing.T) {
		cl := redistest.StartCluster(t, 3)
		conn, err := store.DialRedis(store.RedisOptions{Addrs: cl.Addrs, Cluster: true, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		st := store.NewRedis(conn, "test:")
		f(t, func() store.Store { return st })
	})
}

// named returns every event of that name collected so far.
func (l *eventLog) named(name string) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.all {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}
