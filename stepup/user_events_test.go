package stepup

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// userEventLog collects the engine's user events.
type userEventLog struct {
	mu     sync.Mutex
	events []UserEvent
}

func (l *userEventLog) add(ev UserEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

// take returns the events collected since the last take.
func (l *userEventLog) take() []UserEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	evs := l.events
	l.events = nil
	return evs
}

// wantKinds fails unless evs are of these kinds, in this order.
func wantKinds(t *testing.T, step string, evs []UserEvent, kinds ...string) {
	t.Helper()
	got := make([]string, len(evs))
	for i, ev := range evs {
		got[i] = ev.Kind
	}
	if !slices.Equal(got, kinds) {
		t.Fatalf("%s: user events %v, want %v (%+v)", step, got, kinds, evs)
	}
}

// TestUserEventsOfCodeLogins: a first login creates a user whose one
// identifier is the one its code proved, then opens a session; a second
// login opens a session only; every way a session ends says so once, with
// its reason; refusals report nothing.
func TestUserEventsOfCodeLogins(t *testing.T) {
	log := &userEventLog{}
	h := newHarness(t, nil, func(c *Config) { c.UserEvents = log.add })
	ctx := context.Background()

	flow, err := h.e.StartLogin(ctx, IdentifierPhone, phoneA, testClient)
	noErr(t, "start", err)
	_, err = h.e.CheckLogin(ctx, flow, "000000", proofFor(t, newJKT(t)), testClient)
	wantErr(t, "wrong code", err, ErrBadCheckCode)
	wantKinds(t, "a wrong code", log.take())

	c := &client{jkt: newJKT(t)}
	c.tokens, err = h.e.CheckLogin(ctx, flow, h.sender.last(t).Code, proofFor(t, c.jkt), testClient)
	noErr(t, "check", err)
	evs := log.take()
	wantKinds(t, "first login", evs, UserCreated, SessionCreated)
	phone := []Identifier{{Type: IdentifierPhone, Value: phoneA}}
	if created := evs[0]; created.UserID != c.tokens.UserID || !slices.Equal(created.Identifiers, phone) || created.SessionID != "" || created.At.IsZero() {
		t.Errorf("user.created %+v", created)
	}
	if opened := evs[1]; opened.UserID != c.tokens.UserID || opened.SessionID != c.tokens.SessionID || opened.Method != "otp" ||
		!slices.Equal(opened.Identifiers, phone) || opened.ClientIP != testClient.IP || opened.UserAgent != testClient.UserAgent {
		t.Errorf("user.session.created %+v", opened)
	}

	again := h.login(t, IdentifierPhone, phoneA)
	evs = log.take()
	wantKinds(t, "second login", evs, SessionCreated)
	if evs[0].UserID != c.tokens.UserID || evs[0].SessionID != again.tokens.SessionID {
		t.Errorf("second session %+v", evs[0])
	}

	// Logout, the user's own session management, the admin API, a
	// refresh token's reuse: one user.session.revoked each.
	noErr(t, "logout", h.e.Revoke(ctx, again.tokens.RefreshToken, proofFor(t, again.jkt)))
	if evs = log.take(); len(evs) != 1 || evs[0].Kind != SessionRevoked || evs[0].SessionID != again.tokens.SessionID || evs[0].Reason != "logout" {
		t.Errorf("logout: %+v", evs)
	}
	third, fourth := h.login(t, IdentifierPhone, phoneA), h.login(t, IdentifierPhone, phoneA)
	log.take()
	noErr(t, "revoke others", h.e.RevokeSessions(ctx, c.tokens.UserID, c.tokens.SessionID, RevokeOthers, ""))
	evs = log.take()
	wantKinds(t, "revoke others", evs, SessionRevoked, SessionRevoked)
	ended := []string{evs[0].SessionID, evs[1].SessionID}
	slices.Sort(ended)
	want := []string{third.tokens.SessionID, fourth.tokens.SessionID}
	slices.Sort(want)
	if !slices.Equal(ended, want) || evs[0].Reason != "user" || evs[1].Reason != "user" {
		t.Errorf("revoke others: %+v", evs)
	}
	fifth := h.login(t, IdentifierPhone, phoneA)
	log.take()
	n, err := h.e.AdminRevokeSessions(ctx, c.tokens.UserID, fifth.tokens.SessionID)
	noErr(t, "admin", err)
	if evs = log.take(); n != 1 || len(evs) != 1 || evs[0].SessionID != fifth.tokens.SessionID || evs[0].Reason != "admin" {
		t.Errorf("admin: %d %+v", n, evs)
	}
	retired := c.tokens.RefreshToken
	_, err = h.refresh(t, c, "")
	noErr(t, "refresh", err)
	h.clk.Advance(h.e.cfg.RefreshGrace + time.Second)
	_, err = h.e.Refresh(ctx, RefreshRequest{RefreshToken: retired, Proof: proofFor(t, c.jkt)})
	wantErr(t, "reuse", err, ErrUnauthorized)
	if evs = log.take(); len(evs) != 1 || evs[0].Kind != SessionRevoked || evs[0].SessionID != c.tokens.SessionID || evs[0].Reason != "reuse" {
		t.Errorf("reuse: %+v", evs)
	}
	// The ended session ends nothing twice.
	_, err = h.e.Refresh(ctx, RefreshRequest{RefreshToken: retired, Proof: proofFor(t, c.jkt)})
	wantErr(t, "reuse again", err, ErrUnauthorized)
	wantKinds(t, "an ended session's token again", log.take())
}

// TestUserEventsCarryNoSecret: no code, token or refresh token in any user
// event of a login, a step-up and a logout.
func TestUserEventsCarryNoSecret(t *testing.T) {
	log := &userEventLog{}
	h := newHarness(t, nil, func(c *Config) { c.UserEvents = log.add })
	c := h.login(t, IdentifierEmail, "erin@example.com")
	secrets := []string{h.sender.last(t).Code, c.tokens.AccessToken, c.tokens.RefreshToken, c.tokens.Device}
	res := h.stepUp(t, c, scopeSMS, nil)
	secrets = append(secrets, res.ChallengeToken)
	noErr(t, "logout", h.e.Revoke(context.Background(), c.tokens.RefreshToken, proofFor(t, c.jkt)))
	evs := log.take()
	wantKinds(t, "login, step-up, logout", evs, UserCreated, SessionCreated, SessionRevoked)
	for _, ev := range evs {
		text := fmt.Sprintf("%+v", ev)
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("%s carries a secret: %s", ev.Kind, text)
			}
		}
	}
}

// TestUserEventsOfOAuthLogins: what a provider asserted without trust is
// in no user event; a trusted provider's addresses are, unless someone
// else holds them; an address that comes to count for an existing user is
// reported as added, once.
func TestUserEventsOfOAuthLogins(t *testing.T) {
	log := &userEventLog{}
	p := newTestProvider()
	st := store.NewMemory()
	h := newHarness(t, st, withOAuth(p, ""), func(c *Config) { c.UserEvents = log.add })
	carolID := &OAuthIdentity{Issuer: "https://idp.test", Subject: "carol", Email: "carol@example.com", EmailVerified: true,
		Phone: "+15555550142", PhoneVerified: true}
	carol := h.oauthLogin(t, p, carolID)
	evs := log.take()
	wantKinds(t, "an untrusted provider's first login", evs, UserCreated, SessionCreated)
	if len(evs[0].Identifiers) != 0 || evs[0].Identifiers == nil || len(evs[1].Identifiers) != 0 || evs[1].Method != "oauth" || evs[1].SessionID != carol.SessionID {
		t.Errorf("an untrusted provider's word reached the events: %+v", evs)
	}

	// The provider is trusted now (another configuration, same store):
	// carol's addresses come to count, each reported once.
	trusting := newHarness(t, st, withOAuth(p, ""), trustOkta, func(c *Config) { c.UserEvents = log.add })
	trusting.oauthLogin(t, p, carolID)
	evs = log.take()
	wantKinds(t, "the trusted provider's login", evs, IdentifierAdded, IdentifierAdded, SessionCreated)
	added := []Identifier{evs[0].Identifiers[0], evs[1].Identifiers[0]}
	if !slices.Equal(added, []Identifier{{Type: IdentifierEmail, Value: "carol@example.com"}, {Type: IdentifierPhone, Value: "+15555550142"}}) ||
		evs[0].UserID != carol.UserID || evs[1].UserID != carol.UserID {
		t.Errorf("added %+v", evs)
	}
	trusting.oauthLogin(t, p, carolID)
	wantKinds(t, "the next login", log.take(), SessionCreated)

	// A trusted provider vouching for dave's number does not give it to
	// mallory: her user is created without it.
	dave := trusting.login(t, IdentifierPhone, "+15555550111")
	log.take()
	trusting.oauthLogin(t, p, &OAuthIdentity{Issuer: "https://idp.test", Subject: "mallory", Email: "mallory@example.com", EmailVerified: true,
		Phone: "+15555550111", PhoneVerified: true})
	evs = log.take()
	wantKinds(t, "mallory", evs, UserCreated, SessionCreated)
	if !slices.Equal(evs[0].Identifiers, []Identifier{{Type: IdentifierEmail, Value: "mallory@example.com"}}) || evs[0].UserID == dave.tokens.UserID {
		t.Errorf("mallory's user.created %+v", evs[0])
	}

	// Where the provider is no longer trusted, the code's prover of carol's
	// number gets a user of their own, created with it.
	owner := h.login(t, IdentifierPhone, "+15555550142")
	evs = log.take()
	wantKinds(t, "a code login with a number that no longer counts for carol", evs, UserCreated, SessionCreated)
	if evs[0].UserID != owner.tokens.UserID || evs[0].UserID == carol.UserID ||
		!slices.Equal(evs[0].Identifiers, []Identifier{{Type: IdentifierPhone, Value: "+15555550142"}}) {
		t.Errorf("the prover's user.created %+v", evs[0])
	}
}

// TestUserEventsOfPasswordLogins: a sign-up creates the user with the
// address its code proved; a password login opens a session naming it.
func TestUserEventsOfPasswordLogins(t *testing.T) {
	log := &userEventLog{}
	h := newHarness(t, nil, withPasswords, func(c *Config) { c.UserEvents = log.add })
	signed, err := h.signUp(t, "frank@example.com", goodPassword)
	noErr(t, "sign-up", err)
	email := []Identifier{{Type: IdentifierEmail, Value: "frank@example.com"}}
	evs := log.take()
	wantKinds(t, "sign-up", evs, UserCreated, SessionCreated)
	if !slices.Equal(evs[0].Identifiers, email) || evs[1].Method != "otp" {
		t.Errorf("sign-up events %+v", evs)
	}
	_, err = h.passwordLogin(t, "frank@example.com", "Wrong horse 42", "")
	wantErr(t, "wrong password", err, ErrBadCredentials)
	wantKinds(t, "a wrong password", log.take())
	c, err := h.passwordLogin(t, "frank@example.com", goodPassword, "")
	noErr(t, "password login", err)
	evs = log.take()
	wantKinds(t, "password login", evs, SessionCreated)
	if evs[0].Method != "password" || !slices.Equal(evs[0].Identifiers, email) || evs[0].UserID != signed.tokens.UserID || evs[0].SessionID != c.tokens.SessionID {
		t.Errorf("password session %+v", evs[0])
	}
}

// TestUserEventsOfReloginAndSignals: the two other ways a session ends
// say so with their own reason: a re-login that names the previous
// session ends it as relogin; a shared signal ending one session, or all
// of a user's, as signal.
func TestUserEventsOfReloginAndSignals(t *testing.T) {
	log := &userEventLog{}
	h := newHarness(t, nil, func(c *Config) { c.UserEvents = log.add })
	ctx := context.Background()
	wantRevoked := func(step string, reason string, sessions ...string) {
		t.Helper()
		evs := log.take()
		kinds := make([]string, len(sessions))
		for i := range kinds {
			kinds[i] = SessionRevoked
		}
		wantKinds(t, step, evs, kinds...)
		ended := []string{}
		for _, ev := range evs {
			if ev.Reason != reason || ev.UserID == "" {
				t.Errorf("%s: %+v, want reason %q", step, ev, reason)
			}
			ended = append(ended, ev.SessionID)
		}
		slices.Sort(ended)
		slices.Sort(sessions)
		if !slices.Equal(ended, sessions) {
			t.Errorf("%s: ended %v, want %v", step, ended, sessions)
		}
	}

	old := h.login(t, IdentifierPhone, phoneA)
	fresh := h.login(t, IdentifierPhone, phoneA)
	log.take()
	noErr(t, "relogin", h.e.EndPreviousSession(ctx, old.tokens.RefreshToken, proofFor(t, old.jkt), fresh.tokens.SessionID))
	wantRevoked("a re-login naming the previous session", "relogin", old.tokens.SessionID)

	user, err := h.e.SignalEndSession(ctx, fresh.tokens.SessionID)
	noErr(t, "signal of one session", err)
	if user != fresh.tokens.UserID {
		t.Errorf("SignalEndSession reported user %q, want %q", user, fresh.tokens.UserID)
	}
	wantRevoked("a signal ending one session", ReasonSignal, fresh.tokens.SessionID)

	a, b := h.login(t, IdentifierPhone, phoneA), h.login(t, IdentifierPhone, phoneA)
	log.take()
	n, err := h.e.SignalEndSessions(ctx, a.tokens.UserID)
	noErr(t, "signal of a user", err)
	if n != 2 {
		t.Errorf("SignalEndSessions ended %d sessions, want 2", n)
	}
	wantRevoked("a signal ending a user's sessions", ReasonSignal, a.tokens.SessionID, b.tokens.SessionID)
}
