package stepup

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/revocation"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// revocationHarness is an engine whose ended sessions are revoked in a
// real revocation list.
func revocationHarness(t *testing.T) (*harness, *revocation.List) {
	t.Helper()
	var list *revocation.List
	h := newHarness(t, nil, func(c *Config) {
		var err error
		list, err = revocation.New(revocation.Options{Ledger: store.NewMemoryLedger(c.Now), Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		c.Revocations = list
	})
	if err := list.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(list.Stop)
	return h, list
}

// revokedEntry is the entry that refuses c's current access token, if any.
func revokedEntry(t *testing.T, list *revocation.List, c *client) *revocation.Entry {
	t.Helper()
	claims := accessOf(t, c.tokens.AccessToken)
	e, err := list.Check(revocation.TokenFacts{Issuer: claims.Iss, Subject: claims.Sub, SessionID: claims.Sid, ID: claims.Jti,
		IssuedAt: time.Unix(claims.Iat, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Every way a session ends revokes its sid until its last access token
// (minted just before) has expired, and touches no other session.
func TestEndedSessionsRevokeTheirTokens(t *testing.T) {
	ctx := context.Background()
	ends := map[string]func(t *testing.T, h *harness, c, bystander *client){
		"logout": func(t *testing.T, h *harness, c, _ *client) {
			noErr(t, "Revoke", h.e.Revoke(ctx, c.tokens.RefreshToken, proofFor(t, c.jkt)))
		},
		"user": func(t *testing.T, h *harness, c, bystander *client) {
			caller := c.caller()
			noErr(t, "RevokeSessions", h.e.RevokeSessions(ctx, caller.UserID, caller.SessionID, RevokeMine, ""))
		},
		"admin": func(t *testing.T, h *harness, c, _ *client) {
			n, err := h.e.AdminRevokeSessions(ctx, c.tokens.UserID, c.tokens.SessionID)
			noErr(t, "AdminRevokeSessions", err)
			if n != 1 {
				t.Fatalf("ended %d sessions", n)
			}
		},
		"reuse": func(t *testing.T, h *harness, c, _ *client) {
			retired := *c.tokens
			_, err := h.refresh(t, c, "")
			noErr(t, "refresh", err)
			h.clk.Advance(time.Minute) // past the retry window
			_, err = h.e.Refresh(ctx, RefreshRequest{RefreshToken: retired.RefreshToken, Proof: proofFor(t, c.jkt)})
			wantErr(t, "reuse", err, ErrUnauthorized)
		},
		"relogin": func(t *testing.T, h *harness, c, _ *client) {
			fresh := h.login(t, IdentifierPhone, "+33612345678")
			noErr(t, "EndPreviousSession", h.e.EndPreviousSession(ctx, c.tokens.RefreshToken, proofFor(t, c.jkt), fresh.tokens.SessionID))
		},
	}
	for reason, end := range ends {
		t.Run(reason, func(t *testing.T) {
			h, list := revocationHarness(t)
			c := h.login(t, IdentifierPhone, "+33612345678")
			bystander := h.login(t, IdentifierPhone, "+33612345678")
			if revokedEntry(t, list, c) != nil {
				t.Fatal("refused before the session ended")
			}
			before := *c.tokens
			end(t, h, c, bystander)
			c.tokens = &before // the token the client still holds
			e := revokedEntry(t, list, c)
			if e == nil {
				t.Fatal("the ended session's access token is not revoked")
			}
			if e.Kind != revocation.Session || e.Value != c.tokens.SessionID || e.Issuer != testIssuer || e.Reason != reason {
				t.Fatalf("entry %+v", e)
			}
			// Until the longest token of the session has expired, and not
			// much longer.
			latestExp := h.clk.Now().Add(15*time.Minute + 30*time.Second)
			if e.Until.Before(latestExp) || e.Until.After(latestExp.Add(2*time.Second)) {
				t.Fatalf("until %v, want about %v", e.Until, latestExp)
			}
			if revokedEntry(t, list, bystander) != nil {
				t.Fatal("another session's token was revoked")
			}
		})
	}
}

// failingRevoker refuses every revocation.
type failingRevoker struct{}

func (failingRevoker) Revoke(context.Context, revocation.Entry) error {
	return revocation.ErrUnavailable
}

// A session whose tokens cannot be revoked is not ended: the caller gets
// 503 and may try again, and the session is never over while its tokens
// pass.
func TestUnrevokableSessionStays(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil, func(c *Config) { c.Revocations = failingRevoker{} })
	c := h.login(t, IdentifierPhone, "+33612345678")
	err := h.e.Revoke(ctx, c.tokens.RefreshToken, proofFor(t, c.jkt))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("logout with a failing revocation list: %v, want ErrUnavailable", err)
	}
	caller := c.caller()
	wantErr(t, "user revocation", h.e.RevokeSessions(ctx, caller.UserID, caller.SessionID, RevokeAll, ""), ErrUnavailable)
	_, err = h.e.AdminRevokeSessions(ctx, caller.UserID, "")
	wantErr(t, "admin revocation", err, ErrUnavailable)
	_, err = h.refresh(t, c, "")
	noErr(t, "the session still refreshes", err)
}
