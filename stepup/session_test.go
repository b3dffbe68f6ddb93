package stepup

import (
	"context"
	"testing"
	"time"
)

func TestRefreshRotation(t *testing.T) {
	ctx := context.Background()
	phone := "+33612345678"

	t.Run("rotates and mints a token for the session", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phone)
		old := c.tokens
		tok, err := h.refresh(t, c, "")
		noErr(t, "refresh", err)
		if tok.RefreshToken == old.RefreshToken || tok.AccessToken == old.AccessToken {
			t.Fatal("refresh did not rotate the tokens")
		}
		ac := accessOf(t, tok.AccessToken)
		if ac.Sub != old.UserID || ac.Sid != old.SessionID || ac.Iss != testIssuer || len(ac.Aud) != 1 || ac.Aud[0] != testIssuer {
			t.Fatalf("access token claims %+v", ac)
		}
		if ac.Exp != h.clk.Now().Add(15*time.Minute).Unix() {
			t.Fatalf("exp %d: want now + 15m", ac.Exp)
		}
	})
	t.Run("the previous token works within the grace period only", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phone)
		t0 := c.tokens.RefreshToken
		_, err := h.refresh(t, c, "")
		noErr(t, "refresh", err)
		h.clk.Advance(19 * time.Second)
		retry, err := h.e.Refresh(ctx, RefreshRequest{RefreshToken: t0, Proof: proofFor(t, c.jkt)})
		noErr(t, "retry with the previous token within the grace period", err)
		c.tokens = retry
		h.clk.Advance(2 * time.Second)
		_, err = h.e.Refresh(ctx, RefreshRequest{RefreshToken: t0, Proof: proofFor(t, c.jkt)})
		wantErr(t, "previous token after the grace period", err, ErrUnauthorized)
		// Reuse after the grace period ended the session: the current token
		// is dead too.
		_, err = h.refresh(t, c, "")
		wantErr(t, "current token after a reuse", err, ErrUnauthorized)
		list, _, err := h.e.ListSessions(ctx, c.tokens.UserID, 10, 0)
		noErr(t, "ListSessions", err)
		if len(list) != 0 {
			t.Fatalf("the reused session is still listed: %+v", list)
		}
	})
	t.Run("reuse after the grace period revokes the session", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phone)
		t0 := c.tokens.RefreshToken
		_, err := h.refresh(t, c, "")
		noErr(t, "refresh", err)
		h.clk.Advance(21 * time.Second)
		_, err = h.e.Refresh(ctx, RefreshRequest{RefreshToken: t0, Proof: proofFor(t, c.jkt)})
		wantErr(t, "reuse", err, ErrUnauthorized)
		_, err = h.refresh(t, c, "")
		wantErr(t, "current token after a reuse", err, ErrUnauthorized)
	})
	t.Run("wrong DPoP key", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phone)
		_, err := h.e.Refresh(ctx, RefreshRequest{RefreshToken: c.tokens.RefreshToken, Proof: proofFor(t, newJKT(t))})
		wantErr(t, "another key", err, ErrDPoPKeyMismatch)
		_, err = h.refresh(t, c, "")
		noErr(t, "the session's key still works", err)
	})
	t.Run("missing proof", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phone)
		_, err := h.e.Refresh(ctx, RefreshRequest{RefreshToken: c.tokens.RefreshToken})
		wantErr(t, "no proof", err, ErrMissingDPoP)
	})
	t.Run("replayed proof", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phone)
		proof := proofFor(t, c.jkt)
		tok, err := h.e.Refresh(ctx, RefreshRequest{RefreshToken: c.tokens.RefreshToken, Proof: proof})
		noErr(t, "refresh", err)
		_, err = h.e.Refresh(ctx, RefreshRequest{RefreshToken: tok.RefreshToken, Proof: proof})
		wantErr(t, "replayed proof", err, ErrInvalidDPoP)
		c.tokens = tok
		_, err = h.refresh(t, c, "")
		noErr(t, "a fresh proof", err)
	})
	t.Run("a token two rotations old revokes the session, also within the grace period", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phone)
		t0 := c.tokens.RefreshToken
		_, err := h.refresh(t, c, "")
		noErr(t, "first rotation", err)
		_, err = h.refresh(t, c, "")
		noErr(t, "second rotation", err)
		_, err = h.e.Refresh(ctx, RefreshRequest{RefreshToken: t0, Proof: proofFor(t, c.jkt)})
		wantErr(t, "a token two rotations old", err, ErrUnauthorized)
		_, err = h.refresh(t, c, "")
		wantErr(t, "the current token after it", err, ErrUnauthorized)
	})
	t.Run("retries of a lost answer, then the lost answer itself: revoked, not taken over", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phone)
		t0 := c.tokens.RefreshToken
		lost, err := h.refresh(t, c, "") // the answer never reached the client...
		noErr(t, "refresh", err)
		// ...which re-sends t0, up to its third attempt: each retry works
		// and retires the answer before it.
		r1, err := h.e.Refresh(ctx, RefreshRequest{RefreshToken: t0, Proof: proofFor(t, c.jkt)})
		noErr(t, "first retry", err)
		r2, err := h.e.Refresh(ctx, RefreshRequest{RefreshToken: t0, Proof: proofFor(t, c.jkt)})
		noErr(t, "second retry", err)
		// Whoever did receive a retired answer and uses it: the session ends
		// for everyone, instead of changing hands.
		_, err = h.e.Refresh(ctx, RefreshRequest{RefreshToken: r1.RefreshToken, Proof: proofFor(t, c.jkt)})
		wantErr(t, "a retired answer", err, ErrUnauthorized)
		_, err = h.e.Refresh(ctx, RefreshRequest{RefreshToken: r2.RefreshToken, Proof: proofFor(t, c.jkt)})
		wantErr(t, "the last answer after the reuse", err, ErrUnauthorized)
		_, err = h.e.Refresh(ctx, RefreshRequest{RefreshToken: lost.RefreshToken, Proof: proofFor(t, c.jkt)})
		wantErr(t, "the lost answer", err, ErrUnauthorized)
	})
	t.Run("only the current token rotates", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phone)
		t0 := c.tokens.RefreshToken
		t1, err := h.refresh(t, c, "")
		noErr(t, "refresh", err)
		// The client that got t1 uses it: t0 can no longer be retried.
		_, err = h.refresh(t, c, "")
		noErr(t, "refresh with t1", err)
		_, err = h.e.Refresh(ctx, RefreshRequest{RefreshToken: t0, Proof: proofFor(t, c.jkt)})
		wantErr(t, "t0 after t1 was used", err, ErrUnauthorized)
		_, err = h.e.Refresh(ctx, RefreshRequest{RefreshToken: t1.RefreshToken, Proof: proofFor(t, c.jkt)})
		wantErr(t, "the session ended", err, ErrUnauthorized)
	})
	t.Run("a proof is single use however many refreshes happen", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phone)
		first := proofFor(t, c.jkt)
		tok, err := h.e.Refresh(ctx, RefreshRequest{RefreshToken: c.tokens.RefreshToken, Proof: first})
		noErr(t, "refresh", err)
		c.tokens = tok
		for i := 0; i < 20; i++ {
			_, err := h.refresh(t, c, "")
			noErr(t, "refresh", err)
			h.clk.Advance(time.Second)
		}
		_, err = h.e.Refresh(ctx, RefreshRequest{RefreshToken: c.tokens.RefreshToken, Proof: first})
		wantErr(t, "the first proof after 20 refreshes, within its iat window", err, ErrInvalidDPoP)
	})
	t.Run("a session refreshes at most 64 times within a proof's window", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phone)
		for i := 0; i < maxLiveProofs; i++ {
			_, err := h.refresh(t, c, "")
			noErr(t, "refresh", err)
		}
		_, err := h.refresh(t, c, "")
		wantErr(t, "the 65th refresh within two minutes", err, ErrRateLimited)
		h.clk.Advance(proofMemory)
		_, err = h.refresh(t, c, "")
		noErr(t, "a refresh once the proofs aged out", err)
	})
	t.Run("malformed and unknown tokens", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.login(t, IdentifierPhone, phone)
		sid, _, secret, _ := splitRefreshToken(c.tokens.RefreshToken)
		for _, tok := range []string{"", "x", sid, sid + ".", sid + ".1." + secret[1:], newID(prefixSession) + ".1." + secret,
			sid + ".1." + newSecret(), sid + ".0." + secret, sid + ".2." + secret, sid + ".01." + secret, sid + ".-1." + secret,
			sid + ". 1." + secret, sid + "." + secret} {
			_, err := h.e.Refresh(ctx, RefreshRequest{RefreshToken: tok, Proof: proofFor(t, c.jkt)})
			wantErr(t, "token "+tok, err, ErrUnauthorized)
		}
		_, err := h.refresh(t, c, "")
		noErr(t, "a wrong secret does not revoke the session", err)
	})
	t.Run("expired session", func(t *testing.T) {
		h := newHarness(t, nil, func(c *Config) { c.RefreshTokenTTL = time.Hour })
		c := h.login(t, IdentifierPhone, phone)
		h.clk.Advance(time.Hour)
		_, err := h.refresh(t, c, "")
		wantErr(t, "expired session", err, ErrUnauthorized)
	})
	t.Run("access tokens never outlive the session", func(t *testing.T) {
		h := newHarness(t, nil, func(c *Config) { c.RefreshTokenTTL = time.Hour })
		c := h.login(t, IdentifierPhone, phone)
		h.clk.Advance(time.Hour - 5*time.Minute)
		tok, err := h.refresh(t, c, "")
		noErr(t, "refresh", err)
		if exp := accessOf(t, tok.AccessToken).Exp; exp != tok.RefreshExpiresAt.Unix() {
			t.Fatalf("access token exp %d past the session end %d", exp, tok.RefreshExpiresAt.Unix())
		}
	})
}

func TestRevoke(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	c := h.login(t, IdentifierPhone, "+33612345678")
	other := h.login(t, IdentifierPhone, "+33612345678")

	wantErr(t, "revoke with another key", h.e.Revoke(ctx, c.tokens.RefreshToken, proofFor(t, newJKT(t))), ErrDPoPKeyMismatch)
	sid, _, _, _ := splitRefreshToken(c.tokens.RefreshToken)
	wantErr(t, "revoke with a wrong secret", h.e.Revoke(ctx, sid+".1."+newSecret(), proofFor(t, c.jkt)), ErrUnauthorized)
	wantErr(t, "revoke garbage", h.e.Revoke(ctx, "garbage", proofFor(t, c.jkt)), ErrUnauthorized)
	wantErr(t, "revoke with the refresh token alone", h.e.Revoke(ctx, c.tokens.RefreshToken, nil), ErrMissingDPoP)
	_, err := h.refresh(t, c, "")
	noErr(t, "refused revocations left the session alive", err)

	noErr(t, "revoke", h.e.Revoke(ctx, c.tokens.RefreshToken, proofFor(t, c.jkt)))
	_, err = h.refresh(t, c, "")
	wantErr(t, "refresh after revoke", err, ErrUnauthorized)
	list, total, err := h.e.ListSessions(ctx, c.tokens.UserID, 10, 0)
	noErr(t, "ListSessions", err)
	if total != 1 || len(list) != 1 || list[0].ID != other.tokens.SessionID {
		t.Fatalf("sessions after revoke: %+v (total %d), want only the other one", list, total)
	}
	_, err = h.refresh(t, other, "")
	noErr(t, "the other session", err)
}

func TestListSessions(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	var ids []string
	var user string
	for i := 0; i < 3; i++ {
		c := h.login(t, IdentifierPhone, "+33612345678")
		ids = append(ids, c.tokens.SessionID)
		user = c.tokens.UserID
		h.clk.Advance(time.Second)
	}
	h.login(t, IdentifierPhone, "+33699999999") // someone else

	for _, tt := range []struct {
		limit, offset int
		want          error
	}{{0, 0, ErrInvalidPagination}, {101, 0, ErrInvalidPagination}, {-1, 0, ErrInvalidPagination}, {10, -1, ErrInvalidOffset}} {
		_, _, err := h.e.ListSessions(ctx, user, tt.limit, tt.offset)
		wantErr(t, "pagination", err, tt.want)
	}
	_, _, err := h.e.ListSessions(ctx, "usr_bad", 10, 0)
	wantErr(t, "malformed user", err, ErrUnauthorized)

	for _, tt := range []struct {
		limit, offset int
		want          []string
	}{
		{10, 0, []string{ids[2], ids[1], ids[0]}}, // newest first
		{2, 0, []string{ids[2], ids[1]}},
		{2, 2, []string{ids[0]}},
		{100, 3, nil},
		{1, 50, nil},
	} {
		list, total, err := h.e.ListSessions(ctx, user, tt.limit, tt.offset)
		noErr(t, "ListSessions", err)
		if total != 3 {
			t.Fatalf("total %d, want 3", total)
		}
		var got []string
		for _, s := range list {
			got = append(got, s.ID)
			if s.UserAgent != "test" || s.ExpiresAt.IsZero() {
				t.Fatalf("session info %+v", s)
			}
		}
		if len(got) != len(tt.want) {
			t.Fatalf("limit %d offset %d: %v, want %v", tt.limit, tt.offset, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Fatalf("limit %d offset %d: %v, want %v", tt.limit, tt.offset, got, tt.want)
			}
		}
	}
}

func TestRevokeSessions(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		target   string
		byID     int    // for RevokeSession: index of the session named
		survives []bool // sessions 0 (the caller), 1, 2
	}{
		{RevokeAll, 0, []bool{false, false, false}},
		{RevokeOthers, 0, []bool{true, false, false}},
		{RevokeMine, 0, []bool{false, true, true}},
		{RevokeSession, 2, []bool{true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			h := newHarness(t, nil)
			var cs []*client
			for i := 0; i < 3; i++ {
				cs = append(cs, h.login(t, IdentifierPhone, "+33612345678"))
			}
			stranger := h.login(t, IdentifierPhone, "+33699999999")
			caller := cs[0].caller()
			noErr(t, "RevokeSessions", h.e.RevokeSessions(ctx, caller.UserID, caller.SessionID, tt.target, cs[tt.byID].tokens.SessionID))
			for i, c := range cs {
				_, err := h.refresh(t, c, "")
				if alive := err == nil; alive != tt.survives[i] {
					t.Fatalf("session %d alive=%v, want %v (%v)", i, alive, tt.survives[i], err)
				}
			}
			_, err := h.refresh(t, stranger, "")
			noErr(t, "another user's session", err)
		})
	}
	t.Run("refusals", func(t *testing.T) {
		h := newHarness(t, nil)
		a := h.login(t, IdentifierPhone, "+33612345678")
		b := h.login(t, IdentifierPhone, "+33699999999")
		ca := a.caller()
		wantErr(t, "unknown target", h.e.RevokeSessions(ctx, ca.UserID, ca.SessionID, "everything", ""), ErrBadRequest)
		wantErr(t, "malformed session id", h.e.RevokeSessions(ctx, ca.UserID, ca.SessionID, RevokeSession, "ses_x"), ErrSessionNotFound)
		wantErr(t, "unknown session", h.e.RevokeSessions(ctx, ca.UserID, ca.SessionID, RevokeSession, newID(prefixSession)), ErrSessionNotFound)
		wantErr(t, "another user's session", h.e.RevokeSessions(ctx, ca.UserID, ca.SessionID, RevokeSession, b.tokens.SessionID), ErrSessionNotFound)
		_, err := h.refresh(t, b, "")
		noErr(t, "the other user's session is untouched", err)
	})
}
