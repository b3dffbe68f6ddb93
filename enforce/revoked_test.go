package enforce

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/revocation"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

// startedList is a started revocation list on its own memory ledger.
func startedList(t *testing.T) *revocation.List {
	t.Helper()
	l, err := revocation.New(revocation.Options{Ledger: store.NewMemoryLedger(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	return l
}

func revokeEntry(t *testing.T, l *revocation.List, kind revocation.Kind, issuer, value string) {
	t.Helper()
	if err := l.Revoke(context.Background(), revocation.Entry{Kind: kind, Issuer: issuer, Value: value, Reason: "logout",
		Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

const revokedBearer = `Bearer error="invalid_token", error_description="The access token has been revoked"`

func TestDecideRefusesRevokedTokens(t *testing.T) {
	g := newGateway(t)
	ro := newTestRoute(t, RouteConfig{}, nil)
	list := startedList(t)
	g.deps.Revocations = list
	tok := g.token(func(c map[string]any) { c["jti"] = "tok_1" })
	if d := ro.Decide(bearer("GET", "/x", tok, ""), g.deps); d.Refusal != nil || d.Revoked != nil {
		t.Fatalf("before any revocation: %+v", d.Refusal)
	}
	for _, kv := range []struct {
		kind  revocation.Kind
		value string
	}{{revocation.Session, "ses_1"}, {revocation.Token, "tok_1"}, {revocation.Subject, "usr_alice"}} {
		list := startedList(t)
		deps := g.deps
		deps.Revocations = list
		revokeEntry(t, list, kv.kind, testIssuer, kv.value)
		r := bearer("GET", "/x", tok, "")
		r.Header.Set("X-Stepup-Sub", "usr_mallory")
		d := ro.Decide(r, deps)
		if d.Refusal == nil || d.Refusal.Status != 401 || d.Refusal.WWWAuthenticate != revokedBearer || d.Refusal.Outcome != telemetry.Revoked {
			t.Fatalf("revoked by %s: %+v", kv.kind, d.Refusal)
		}
		if c := readChallenge(t, d.Refusal); c.Code != "unauthorized" {
			t.Fatalf("revoked by %s: code %q", kv.kind, c.Code)
		}
		if d.Revoked == nil || d.Revoked.Kind != kv.kind || d.Revoked.Reason != "logout" {
			t.Fatalf("revoked by %s: the decision names %+v", kv.kind, d.Revoked)
		}
		if r.Header.Get("X-Stepup-Sub") != "" {
			t.Fatal("a refused request kept the client's identity header")
		}
	}
	// Another issuer's revocation of the same values refuses nothing.
	other := startedList(t)
	for _, k := range revocation.Kinds {
		revokeEntry(t, other, k, "https://idp.test", map[revocation.Kind]string{revocation.Session: "ses_1", revocation.Token: "tok_1", revocation.Subject: "usr_alice"}[k])
	}
	deps := g.deps
	deps.Revocations = other
	if d := ro.Decide(bearer("GET", "/x", tok, ""), deps); d.Refusal != nil {
		t.Fatalf("another issuer's revocations refused the gateway's token: %s", d.Refusal.Body)
	}
}

// A revoked DPoP-bound token is refused under its scheme before its proof
// is checked: the proof's replay marker is not spent, so the very same
// proof passes where the token is not revoked.
func TestRevokedDPoPTokenSpendsNoProof(t *testing.T) {
	g := newGateway(t)
	ro := newTestRoute(t, RouteConfig{}, nil)
	key := newKey(t)
	bound := g.token(func(c map[string]any) { c["cnf"] = map[string]any{"jkt": sessionclient.JKT(key)} })
	proof := sessionclient.ResourceProof(key, "GET", "https://api.test/payments", bound, nil)
	request := func() *http.Request {
		r := bearer("GET", "https://api.test/payments", "", "")
		r.Header.Set("Authorization", "DPoP "+bound)
		r.Header.Set("DPoP", proof)
		return r
	}
	list := startedList(t)
	revokeEntry(t, list, revocation.Session, testIssuer, "ses_1")
	deps := g.deps
	deps.Revocations = list
	d := ro.Decide(request(), deps)
	if d.Refusal == nil || d.Refusal.WWWAuthenticate != `DPoP error="invalid_token", error_description="The access token has been revoked", algs="ES256"` {
		t.Fatalf("revoked DPoP token: %+v", d.Refusal)
	}
	if d := ro.Decide(request(), g.deps); d.Refusal != nil {
		t.Fatalf("the same proof where the token is not revoked: %s", d.Refusal.Body)
	}
}

// staleList is a revocation list that is out of date.
type staleList struct{}

func (staleList) Check(revocation.TokenFacts) (*revocation.Entry, error) {
	return nil, revocation.ErrStale
}

func TestDecideWithAStaleListFailsClosed(t *testing.T) {
	g := newGateway(t)
	ro := newTestRoute(t, RouteConfig{}, nil)
	g.deps.Revocations = staleList{}
	d := ro.Decide(bearer("GET", "/x", g.token(nil), ""), g.deps)
	if d.Refusal == nil || d.Refusal.Status != 503 || d.Refusal.Outcome != telemetry.Unavailable {
		t.Fatalf("a stale list: %+v", d.Refusal)
	}
}
