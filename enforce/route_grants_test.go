package enforce

import (
	"io"
	"slices"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

// grantToken is a token whose scopes come from single-use grants (grt).
func (g *gateway) grantToken(scope string, grants map[string]string) string {
	return g.token(func(c map[string]any) {
		c["scope"] = scope
		if grants != nil {
			c["grt"] = grants
		}
	})
}

// TestDecideSpendsSingleUseGrants: the grant behind the route's scope is
// spent by the first request and refused after; another session's, or one
// the store cannot spend, never passes.
func TestDecideSpendsSingleUseGrants(t *testing.T) {
	g := newGateway(t)
	ro := newTestRoute(t, RouteConfig{Scopes: []string{"pay"}}, Catalogue{"pay": {Grantable: true}})
	g.grants.add("grt_1", "usr_alice", "ses_1", "pay", nil)
	tok := g.grantToken("pay", map[string]string{"pay": "grt_1"})

	r := bearer("POST", "/pay", tok, "")
	d := ro.Decide(r, g.deps)
	if d.Refusal != nil || d.Grant == nil || d.Grant.ID != "grt_1" || r.Header.Get("X-Stepup-Grant") != "grt_1" {
		t.Fatalf("first use: %+v", d)
	}
	d = ro.Decide(bearer("POST", "/pay", tok, ""), g.deps)
	if d.Refusal == nil || d.Refusal.Outcome != telemetry.StepUpRequired || readChallenge(t, d.Refusal).StepUp.Scope != "pay" {
		t.Fatalf("second use: %+v", d.Refusal)
	}

	g.grants.add("grt_2", "usr_alice", "ses_other", "pay", nil)
	d = ro.Decide(bearer("POST", "/pay", g.grantToken("pay", map[string]string{"pay": "grt_2"}), ""), g.deps)
	if d.Refusal == nil || d.Refusal.Outcome != telemetry.StepUpRequired {
		t.Fatalf("another session's grant: %+v", d.Refusal)
	}

	g.grants.add("grt_3", "usr_alice", "ses_1", "pay", nil)
	g.grants.down = true
	d = ro.Decide(bearer("POST", "/pay", g.grantToken("pay", map[string]string{"pay": "grt_3"}), ""), g.deps)
	if d.Refusal == nil || d.Refusal.Status != 503 {
		t.Fatalf("store down: %+v", d.Refusal)
	}
	g.grants.down = false

	// Without a grant spender (no issuer of its own), grt is not read: the
	// scope is held as the token says.
	noEngine := g.deps
	noEngine.Grants = nil
	if d = ro.Decide(bearer("POST", "/pay", g.grantToken("pay", map[string]string{"pay": "grt_3"}), ""), noEngine); d.Refusal != nil || d.Grant != nil {
		t.Fatalf("no spender: %+v", d)
	}
}

// TestDecideAnyPrefersAScopeHeldForGood: on an `any` route a token holding
// one scope for good spends none of its grants.
func TestDecideAnyPrefersAScopeHeldForGood(t *testing.T) {
	g := newGateway(t)
	ro := newTestRoute(t, RouteConfig{Scopes: []string{"a", "b"}, Any: true}, Catalogue{"a": {Grantable: true}, "b": {Grantable: true}})
	g.grants.add("grt_b", "usr_alice", "ses_1", "b", nil)
	d := ro.Decide(bearer("GET", "/x", g.grantToken("a b", map[string]string{"b": "grt_b"}), ""), g.deps)
	if d.Refusal != nil || d.Grant != nil || len(g.grants.spent) != 0 {
		t.Fatalf("decision %+v, spent %v", d, g.grants.spent)
	}
	d = ro.Decide(bearer("GET", "/x", g.grantToken("b", map[string]string{"b": "grt_b"}), ""), g.deps)
	if d.Refusal != nil || d.Grant == nil || d.Grant.ID != "grt_b" {
		t.Fatalf("only the grant: %+v", d)
	}
}

// TestDecideBinding: under bind a request passes only by spending a grant
// approved for exactly its body; a mismatch spends the grant, a scope held
// for good passes nothing, and a missing grant refuses before any other
// is spent.
func TestDecideBinding(t *testing.T) {
	g := newGateway(t)
	cat := Catalogue{"pay": {Grantable: true}, "confirm": {Grantable: true}}
	ro := newTestRoute(t, RouteConfig{Scopes: []string{"pay"}, Bind: []string{"amount", "currency"}}, cat)
	approved := map[string]string{"amount": "500", "currency": "USD"}
	post := func(tok, body string) Decision {
		r := bearer("POST", "/pay", tok, body)
		r.Header.Set("Content-Type", "application/json")
		d := ro.Decide(r, g.deps)
		if d.Refusal == nil {
			got, _ := io.ReadAll(r.Body)
			if string(got) != body || r.ContentLength != int64(len(body)) {
				t.Fatalf("the upstream gets %q (%d), not the %q checked", got, r.ContentLength, body)
			}
		}
		return d
	}

	g.grants.add("grt_ok", "usr_alice", "ses_1", "pay", approved)
	if d := post(g.grantToken("pay", map[string]string{"pay": "grt_ok"}), `{"amount":500,"currency":"USD"}`); d.Refusal != nil || d.Grant.ID != "grt_ok" {
		t.Fatalf("the approved body: %+v", d)
	}
	g.grants.add("grt_more", "usr_alice", "ses_1", "pay", approved)
	tok := g.grantToken("pay", map[string]string{"pay": "grt_more"})
	if d := post(tok, `{"amount":5000,"currency":"USD"}`); d.Refusal == nil || d.Refusal.Outcome != telemetry.StepUpRequired {
		t.Fatalf("ten times the amount: %+v", d.Refusal)
	}
	if d := post(tok, `{"amount":500,"currency":"USD"}`); d.Refusal == nil {
		t.Fatal("the grant tried with another body was not spent")
	}
	if d := post(g.grantToken("pay", nil), `{"amount":500,"currency":"USD"}`); d.Refusal == nil || d.Refusal.Outcome != telemetry.StepUpRequired {
		t.Fatalf("a scope held for good: %+v", d.Refusal)
	}
	big := newTestRoute(t, RouteConfig{Scopes: []string{"pay"}, Bind: []string{"amount"}, BodyLimit: 16}, cat)
	g.grants.add("grt_big", "usr_alice", "ses_1", "pay", approved)
	r := bearer("POST", "/pay", g.grantToken("pay", map[string]string{"pay": "grt_big"}), `{"amount":"500","memo":"more than sixteen bytes"}`)
	r.Header.Set("Content-Type", "application/json")
	if d := big.Decide(r, g.deps); d.Refusal == nil || d.Refusal.Status != 413 {
		t.Fatalf("a body over the limit: %+v", d.Refusal)
	}

	both := newTestRoute(t, RouteConfig{Scopes: []string{"pay", "confirm"}, Bind: []string{"amount"}}, cat)
	g.grants.add("grt_pay", "usr_alice", "ses_1", "pay", approved)
	spentBefore := slices.Clone(g.grants.spent)
	r = bearer("POST", "/pay", g.grantToken("pay confirm", map[string]string{"pay": "grt_pay"}), `{"amount":"500"}`)
	r.Header.Set("Content-Type", "application/json")
	d := both.Decide(r, g.deps)
	if d.Refusal == nil || readChallenge(t, d.Refusal).StepUp.Scope != "confirm" || !slices.Equal(g.grants.spent, spentBefore) {
		t.Fatalf("one grant missing: %+v, spent %v", d.Refusal, g.grants.spent)
	}
}
