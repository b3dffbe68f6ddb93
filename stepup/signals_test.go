package stepup

import (
	"context"
	"strings"
	"testing"
)

// TestSignalsFindUsersAndEndTheirSessions: a signal reaches the user an
// identifier counts for, ends their sessions (all, or one by ID) and
// revokes their grants; what names nobody reaches nobody.
func TestSignalsFindUsersAndEndTheirSessions(t *testing.T) {
	ctx := context.Background()
	var events []Event
	h := newHarness(t, nil, func(c *Config) { c.Events = func(ev Event) { events = append(events, ev) } })
	alice := h.login(t, IdentifierEmail, "alice@example.com")
	alice2 := h.login(t, IdentifierEmail, "alice@example.com")
	bob := h.login(t, IdentifierPhone, "+33612345678")

	for _, tc := range []struct{ typ, value, want string }{
		{IdentifierEmail, "alice@example.com", alice.tokens.UserID},
		{IdentifierEmail, "ALICE@example.com", alice.tokens.UserID},
		{IdentifierPhone, "+33612345678", bob.tokens.UserID},
		{IdentifierEmail, "nobody@example.com", ""},
		{IdentifierPhone, "+33 6 12 34 56 78", ""},
		{IdentifierEmail, "not an address", ""},
	} {
		got, err := h.e.UserByIdentifier(ctx, tc.typ, tc.value)
		if err != nil || got != tc.want {
			t.Errorf("UserByIdentifier(%s, %q) = %q, %v; want %q", tc.typ, tc.value, got, err, tc.want)
		}
	}
	if got, err := h.e.UserByProvider(ctx, "https://idp.example.com", "nobody"); err != nil || got != "" {
		t.Errorf("UserByProvider of nobody: %q %v", got, err)
	}

	// One session by ID: alice's other session and bob's live on.
	owner, err := h.e.SignalEndSession(ctx, alice.tokens.SessionID)
	if err != nil || owner != alice.tokens.UserID {
		t.Fatalf("SignalEndSession: %q %v", owner, err)
	}
	if _, err := h.refresh(t, alice, ""); err == nil {
		t.Fatal("the ended session refreshed")
	}
	noErrRefresh(t, h, alice2, "alice's other session")
	if owner, err := h.e.SignalEndSession(ctx, "ses_"+strings.Repeat("A", 22)); err != nil || owner != "" {
		t.Fatalf("an unknown session: %q %v", owner, err)
	}

	// Grants: the session-bound scope leaves the session.
	bound, err := h.e.RequestStepUp(ctx, bob.caller(), scopeSession, nil, Signals{})
	noErr(t, "RequestStepUp", err)
	_, err = h.refresh(t, bob, h.passSMS(t, bob, bound.ChallengeToken))
	noErr(t, "redeeming", err)
	if !strings.Contains(accessOf(t, bob.tokens.AccessToken).Scope, scopeSession) {
		t.Fatal("the step-up did not grant its scope")
	}
	sids, err := h.e.SignalRevokeGrants(ctx, bob.tokens.UserID)
	if err != nil || len(sids) != 1 || sids[0] != bob.tokens.SessionID {
		t.Fatalf("SignalRevokeGrants: %v %v", sids, err)
	}
	noErrRefresh(t, h, bob, "refresh after the grants went")
	if strings.Contains(accessOf(t, bob.tokens.AccessToken).Scope, scopeSession) {
		t.Fatal("the session-bound scope outlived the signal")
	}

	// Every session of a user.
	n, err := h.e.SignalEndSessions(ctx, alice2.tokens.UserID)
	if err != nil || n != 1 {
		t.Fatalf("SignalEndSessions: %d %v", n, err)
	}
	if _, err := h.refresh(t, alice2, ""); err == nil {
		t.Fatal("a session outlived SignalEndSessions")
	}
	noErrRefresh(t, h, bob, "bob's session")
	for _, id := range []string{"", "usr_nope", bob.tokens.SessionID} {
		if n, err := h.e.SignalEndSessions(ctx, id); err != nil || n != 0 {
			t.Errorf("SignalEndSessions(%q): %d %v", id, n, err)
		}
	}

	revoked := 0
	for _, ev := range events {
		if ev.Name == EventSessionRevoked {
			if ev.Reason != ReasonSignal {
				t.Errorf("revocation reason %q", ev.Reason)
			}
			revoked++
		}
		if ev.Name == EventGrantRevoked && ev.Reason != ReasonSignal {
			t.Errorf("grant revocation reason %q", ev.Reason)
		}
	}
	if revoked != 2 {
		t.Errorf("%d sessions revoked in the audit, want 2", revoked)
	}
}

func noErrRefresh(t *testing.T, h *harness, c *client, what string) {
	t.Helper()
	if _, err := h.refresh(t, c, ""); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
