package stepup

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testResource = "https://api.example.com/payments"

func withResources(cfg *Config) { cfg.Resources = []string{testResource, "http://127.0.0.1:9/mcp"} }

// A step-up names a resource only among those routes name, and its tokens
// name it in aud; a single-use grant's token carries its approval as an
// authorization_details entry.
func TestStepUpForAResource(t *testing.T) {
	h := newHarness(t, nil, withResources)
	c := h.login(t, IdentifierPhone, phoneA)
	for _, md := range []map[string]string{
		{"resource": "https://api.example.com/other"},
		{"resource": "https://api.example.com/payments/"},
		{"resource": "https://API.example.com/payments"},
		{"resource": ""},
		{"resource": "https://api.example.com/payments" + strings.Repeat("/x", 200)},
	} {
		_, err := h.e.RequestStepUp(context.Background(), c.caller(), scopeSMS, md, Signals{})
		wantErr(t, md["resource"], err, ErrInvalidMetadata)
	}

	md := map[string]string{"amount": "500", "currency": "USD", "resource": testResource}
	tok, err := h.refresh(t, c, h.passSMS(t, c, h.stepUp(t, c, scopeSMS, md).ChallengeToken))
	noErr(t, "redeem", err)
	claims := decodeClaims(t, tok.AccessToken)
	if !reflect.DeepEqual(claims["aud"], []any{testIssuer, testResource}) {
		t.Errorf("aud %v, want the gateway's and the resource", claims["aud"])
	}
	want := []any{map[string]any{"type": GrantDetailsType, "actions": []any{scopeSMS}, "locations": []any{testResource},
		"transaction": map[string]any{"amount": "500", "currency": "USD", "resource": testResource}}}
	if !reflect.DeepEqual(claims["authorization_details"], want) {
		t.Errorf("authorization_details %v, want %v", claims["authorization_details"], want)
	}
	// The next refresh carries no single-use grant, nor its resource.
	tok, err = h.refresh(t, c, "")
	noErr(t, "refresh", err)
	if claims := decodeClaims(t, tok.AccessToken); claims["aud"] != testIssuer || claims["authorization_details"] != nil {
		t.Errorf("a plain refresh: aud %v, details %v", claims["aud"], claims["authorization_details"])
	}

	// A grant without metadata still says what it was for.
	tok, err = h.refresh(t, c, h.passSMS(t, c, h.stepUp(t, c, scopeSMS, nil).ChallengeToken))
	noErr(t, "redeem", err)
	claims = decodeClaims(t, tok.AccessToken)
	if want := []any{map[string]any{"type": GrantDetailsType, "actions": []any{scopeSMS}}}; claims["aud"] != testIssuer || !reflect.DeepEqual(claims["authorization_details"], want) {
		t.Errorf("no metadata: aud %v, details %v", claims["aud"], claims["authorization_details"])
	}
}

// A session-bound grant stepped up for a resource names it in every token
// of the session until the grant ends.
func TestSessionBoundGrantForAResource(t *testing.T) {
	h := newHarness(t, nil, withResources)
	c := h.login(t, IdentifierPhone, phoneA)
	md := map[string]string{"resource": "http://127.0.0.1:9/mcp"}
	tok, err := h.refresh(t, c, h.passSMS(t, c, h.stepUp(t, c, scopeSession, md).ChallengeToken))
	noErr(t, "redeem", err)
	for i := 0; i < 2; i++ {
		claims := decodeClaims(t, tok.AccessToken)
		if !reflect.DeepEqual(claims["aud"], []any{testIssuer, "http://127.0.0.1:9/mcp"}) || claims["authorization_details"] != nil {
			t.Errorf("token %d: aud %v, details %v", i, claims["aud"], claims["authorization_details"])
		}
		tok, err = h.refresh(t, c, "")
		noErr(t, "refresh", err)
	}
	h.clk.Advance(11 * time.Minute) // the grant (600 s) has ended
	tok, err = h.refresh(t, c, "")
	noErr(t, "refresh", err)
	if claims := decodeClaims(t, tok.AccessToken); claims["aud"] != testIssuer {
		t.Errorf("after the grant: aud %v", claims["aud"])
	}
	// Stepped up again without a resource: the old one is gone.
	h2 := newHarness(t, nil, withResources)
	c2 := h2.login(t, IdentifierPhone, phoneA)
	_, err = h2.refresh(t, c2, h2.passSMS(t, c2, h2.stepUp(t, c2, scopeSession, md).ChallengeToken))
	noErr(t, "redeem", err)
	tok, err = h2.refresh(t, c2, h2.passSMS(t, c2, h2.stepUp(t, c2, scopeSession, nil).ChallengeToken))
	noErr(t, "redeem again", err)
	if claims := decodeClaims(t, tok.AccessToken); claims["aud"] != testIssuer {
		t.Errorf("stepped up again without a resource: aud %v", claims["aud"])
	}
}

// Without routes that name resources, no step-up names one.
func TestNoResourceWithoutRoutes(t *testing.T) {
	h := newHarness(t, nil)
	c := h.login(t, IdentifierPhone, phoneA)
	_, err := h.e.RequestStepUp(context.Background(), c.caller(), scopeSMS, map[string]string{"resource": testResource}, Signals{})
	wantErr(t, "resource", err, ErrInvalidMetadata)
}
