package stepup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

func TestStartLoginValidation(t *testing.T) {
	phoneOnly := func(c *Config) { c.LoginIdentifiers = []string{IdentifierPhone} }
	noLogin := func(c *Config) { c.LoginIdentifiers = nil }
	noSender := func(c *Config) { c.Sender = nil }
	tests := []struct {
		name       string
		opt        func(*Config)
		typ, value string
		want       error
	}{
		{"phone without plus", nil, IdentifierPhone, "0612345678", ErrInvalidIdentifier},
		{"phone with leading zero", nil, IdentifierPhone, "+0612345678", ErrInvalidIdentifier},
		{"phone with letters", nil, IdentifierPhone, "+33612ab678", ErrInvalidIdentifier},
		{"phone too short", nil, IdentifierPhone, "+336123", ErrInvalidIdentifier},
		{"phone too long", nil, IdentifierPhone, "+3361234567890123", ErrInvalidIdentifier},
		{"email without at", nil, IdentifierEmail, "user.example.com", ErrInvalidIdentifier},
		{"email without dot in domain", nil, IdentifierEmail, "user@localhost", ErrInvalidIdentifier},
		{"email with display name", nil, IdentifierEmail, "User <user@example.com>", ErrInvalidIdentifier},
		{"email with space", nil, IdentifierEmail, "us er@example.com", ErrInvalidIdentifier},
		{"unknown type", nil, "username", "alice", ErrInvalidIdentifier},
		{"type not enabled", phoneOnly, IdentifierEmail, "user@example.com", ErrInvalidIdentifier},
		{"login off", noLogin, IdentifierPhone, "+33612345678", ErrNotConfigured},
		{"no sender", noSender, IdentifierPhone, "+33612345678", ErrNotConfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []func(*Config)
			if tt.opt != nil {
				opts = append(opts, tt.opt)
			}
			h := newHarness(t, nil, opts...)
			_, err := h.e.StartLogin(context.Background(), tt.typ, tt.value, testClient)
			wantErr(t, "StartLogin", err, tt.want)
			if h.sender.count() != 0 {
				t.Fatal("a code was sent for a refused login")
			}
		})
	}
	t.Run("valid identifiers are accepted", func(t *testing.T) {
		h := newHarness(t, nil)
		for _, id := range [][2]string{{IdentifierPhone, "+33612345678"}, {IdentifierEmail, "User@Example.com"}} {
			if _, err := h.e.StartLogin(context.Background(), id[0], id[1], testClient); err != nil {
				t.Fatalf("%s %s: %v", id[0], id[1], err)
			}
		}
		if got := h.sender.last(t).To; got != "user@example.com" {
			t.Fatalf("email sent to %q, want the normalised address", got)
		}
	})
}

// The flow record holds the code's HMAC, never the code.
func TestLoginCodeStoredOnlyAsHMAC(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.OTP.Digits = 8 })
	flow, err := h.e.StartLogin(context.Background(), IdentifierPhone, "+33612345678", testClient)
	noErr(t, "StartLogin", err)
	code := h.sender.last(t).Code
	if len(code) != 8 {
		t.Fatalf("code %q: want 8 digits", code)
	}
	raw, err := h.st.Get(context.Background(), flowKey(flow))
	noErr(t, "reading the flow", err)
	var fields map[string]json.RawMessage
	noErr(t, "decoding the flow", json.Unmarshal(raw, &fields))
	for name, v := range fields {
		var s string
		if json.Unmarshal(v, &s) == nil && strings.Contains(s, code) {
			t.Fatalf("field %q holds the code", name)
		}
		if string(v) == code {
			t.Fatalf("field %q holds the code as a number", name)
		}
	}
	var f loginFlow
	noErr(t, "decoding the flow", json.Unmarshal(raw, &f))
	if string(f.OTP.Digest) != string(otp.Digest(h.e.codeKey, flow+":1", code)) {
		t.Fatal("the stored digest is not the HMAC of the code")
	}
}

func TestCheckLoginCodes(t *testing.T) {
	ctx := context.Background()

	t.Run("wrong code then right code", func(t *testing.T) {
		h := newHarness(t, nil)
		flow, code := startLogin(t, h)
		jkt := newJKT(t)
		_, err := h.e.CheckLogin(ctx, flow, wrongCode(code), proofFor(t, jkt), ClientInfo{})
		wantErr(t, "wrong code", err, ErrBadCheckCode)
		tok, err := h.e.CheckLogin(ctx, flow, code, proofFor(t, jkt), ClientInfo{})
		noErr(t, "right code", err)
		if tok.AccessToken == "" || tok.RefreshToken == "" {
			t.Fatal("no tokens")
		}
		// Usable once.
		_, err = h.e.CheckLogin(ctx, flow, code, proofFor(t, jkt), ClientInfo{})
		wantErr(t, "second use", err, ErrNoLoginFlow)
	})
	t.Run("four wrong codes leave the fifth attempt", func(t *testing.T) {
		h := newHarness(t, nil)
		flow, code := startLogin(t, h)
		for i := 0; i < 4; i++ {
			_, err := h.e.CheckLogin(ctx, flow, wrongCode(code), proofFor(t, newJKT(t)), ClientInfo{})
			wantErr(t, "wrong code", err, ErrBadCheckCode)
		}
		_, err := h.e.CheckLogin(ctx, flow, code, proofFor(t, newJKT(t)), ClientInfo{})
		noErr(t, "fifth attempt, right code", err)
	})
	t.Run("five wrong codes: even the right code fails", func(t *testing.T) {
		h := newHarness(t, nil)
		flow, code := startLogin(t, h)
		for i := 0; i < 5; i++ {
			_, err := h.e.CheckLogin(ctx, flow, wrongCode(code), proofFor(t, newJKT(t)), ClientInfo{})
			wantErr(t, "wrong code", err, ErrBadCheckCode)
		}
		_, err := h.e.CheckLogin(ctx, flow, code, proofFor(t, newJKT(t)), ClientInfo{})
		wantErr(t, "right code after 5 failures", err, ErrBadCheckCode)
	})
	t.Run("expired code", func(t *testing.T) {
		h := newHarness(t, nil)
		flow, code := startLogin(t, h)
		h.clk.Advance(5*time.Minute + time.Second)
		_, err := h.e.CheckLogin(ctx, flow, code, proofFor(t, newJKT(t)), ClientInfo{})
		wantErr(t, "expired code", err, ErrBadCheckCode)
	})
	t.Run("no proof", func(t *testing.T) {
		h := newHarness(t, nil)
		flow, code := startLogin(t, h)
		_, err := h.e.CheckLogin(ctx, flow, code, nil, ClientInfo{})
		wantErr(t, "no proof", err, ErrMissingDPoP)
	})
	t.Run("replayed proof jti", func(t *testing.T) {
		h := newHarness(t, nil)
		flow, code := startLogin(t, h)
		proof := proofFor(t, newJKT(t))
		_, err := h.e.CheckLogin(ctx, flow, code, proof, ClientInfo{})
		noErr(t, "first login", err)
		flow, code = startLogin(t, h)
		_, err = h.e.CheckLogin(ctx, flow, code, proof, ClientInfo{})
		wantErr(t, "replayed proof", err, ErrInvalidDPoP)
	})
	t.Run("unknown or malformed flow", func(t *testing.T) {
		h := newHarness(t, nil)
		for _, flow := range []string{"", "vfy_x", newID(prefixFlow), newID(prefixSession)} {
			_, err := h.e.CheckLogin(ctx, flow, "123456", proofFor(t, newJKT(t)), ClientInfo{})
			wantErr(t, "flow "+flow, err, ErrNoLoginFlow)
		}
	})
	t.Run("consecutive failures per identifier survive new flows", func(t *testing.T) {
		h := newHarness(t, nil, func(c *Config) { c.OTP.MaxUserFailures = 3 })
		for i := 0; i < 3; i++ {
			flow, code := startLogin(t, h)
			_, err := h.e.CheckLogin(ctx, flow, wrongCode(code), proofFor(t, newJKT(t)), ClientInfo{})
			wantErr(t, "wrong code", err, ErrBadCheckCode)
		}
		_, err := h.e.StartLogin(ctx, IdentifierPhone, "+33612345678", testClient)
		wantErr(t, "StartLogin after 3 failures", err, ErrRateLimited)
	})
}

func TestRetryLogin(t *testing.T) {
	ctx := context.Background()
	t.Run("cooldown and cap", func(t *testing.T) {
		h := newHarness(t, nil)
		flow, err := h.e.StartLogin(ctx, IdentifierPhone, "+33612345678", testClient)
		noErr(t, "StartLogin", err)
		wantErr(t, "resend within the cooldown", h.e.RetryLogin(ctx, flow, testClient), ErrResendTooSoon)
		h.clk.Advance(29 * time.Second)
		wantErr(t, "resend 1s before the cooldown ends", h.e.RetryLogin(ctx, flow, testClient), ErrResendTooSoon)
		for i := 0; i < 3; i++ {
			h.clk.Advance(30 * time.Second)
			noErr(t, "resend "+strconv.Itoa(i+1), h.e.RetryLogin(ctx, flow, testClient))
		}
		h.clk.Advance(30 * time.Second)
		wantErr(t, "fourth resend", h.e.RetryLogin(ctx, flow, testClient), ErrRateLimited)
		if n := h.sender.count(); n != 4 {
			t.Fatalf("%d codes sent, want 1 + 3 resends", n)
		}
	})
	t.Run("a resend invalidates the previous code", func(t *testing.T) {
		h := newHarness(t, nil)
		flow, err := h.e.StartLogin(ctx, IdentifierPhone, "+33612345678", testClient)
		noErr(t, "StartLogin", err)
		old := h.sender.last(t).Code
		h.clk.Advance(30 * time.Second)
		noErr(t, "resend", h.e.RetryLogin(ctx, flow, testClient))
		fresh := h.sender.last(t).Code
		if old != fresh {
			_, err = h.e.CheckLogin(ctx, flow, old, proofFor(t, newJKT(t)), ClientInfo{})
			wantErr(t, "old code", err, ErrBadCheckCode)
		}
		_, err = h.e.CheckLogin(ctx, flow, fresh, proofFor(t, newJKT(t)), ClientInfo{})
		noErr(t, "new code", err)
	})
	t.Run("resend of an unknown flow", func(t *testing.T) {
		h := newHarness(t, nil)
		wantErr(t, "unknown flow", h.e.RetryLogin(ctx, newID(prefixFlow), testClient), ErrNoLoginFlow)
		wantErr(t, "malformed flow", h.e.RetryLogin(ctx, "nope", testClient), ErrNoLoginFlow)
	})
}

func TestPerDestinationHourlyCap(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil, func(c *Config) { c.OTP.MaxPerHour = 4 })
	// Each from its own address: one client gets only a share of a
	// destination's codes (budgets_test.go).
	from := func(i int) ClientInfo { return ClientInfo{IP: fmt.Sprintf("192.0.2.%d", i+1)} }
	for i := 0; i < 4; i++ {
		_, err := h.e.StartLogin(ctx, IdentifierPhone, "+33612345678", from(i))
		noErr(t, "StartLogin", err)
	}
	_, err := h.e.StartLogin(ctx, IdentifierPhone, "+33612345678", from(4))
	wantErr(t, "fifth code to one destination", err, ErrRateLimited)
	if n := h.sender.count(); n != 4 {
		t.Fatalf("%d codes sent, want 4", n)
	}
	_, err = h.e.StartLogin(ctx, IdentifierPhone, "+33699999999", from(4))
	noErr(t, "another destination", err)
	// Email addresses count per normalised address.
	for i := 0; i < 4; i++ {
		_, err := h.e.StartLogin(ctx, IdentifierEmail, "Bob@Example.com", from(i))
		noErr(t, "StartLogin email", err)
	}
	_, err = h.e.StartLogin(ctx, IdentifierEmail, "bob@example.com", from(4))
	wantErr(t, "fifth code to one address, other case", err, ErrRateLimited)
}

func TestResendCountsTowardsTheHourlyCap(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil, func(c *Config) { c.OTP.MaxPerHour = 2 })
	flow, err := h.e.StartLogin(ctx, IdentifierPhone, "+33612345678", testClient)
	noErr(t, "StartLogin", err)
	// Resends from other addresses: one client gets only a share of a
	// destination's codes (budgets_test.go).
	h.clk.Advance(30 * time.Second)
	noErr(t, "first resend", h.e.RetryLogin(ctx, flow, ClientInfo{IP: "192.0.2.2"}))
	h.clk.Advance(30 * time.Second)
	wantErr(t, "resend over the hourly cap", h.e.RetryLogin(ctx, flow, ClientInfo{IP: "192.0.2.3"}), ErrRateLimited)
}

func TestUserCreatedOnce(t *testing.T) {
	h := newHarness(t, nil)
	a := h.login(t, IdentifierPhone, "+33612345678")
	b := h.login(t, IdentifierPhone, "+33612345678")
	if a.tokens.UserID != b.tokens.UserID {
		t.Fatalf("two users for one phone number: %s, %s", a.tokens.UserID, b.tokens.UserID)
	}
	if a.tokens.SessionID == b.tokens.SessionID {
		t.Fatal("two logins share a session")
	}
	c := h.login(t, IdentifierEmail, "Carol@Example.com")
	d := h.login(t, IdentifierEmail, "carol@example.com")
	if c.tokens.UserID != d.tokens.UserID {
		t.Fatal("the email address was not normalised to one user")
	}
	if c.tokens.UserID == a.tokens.UserID {
		t.Fatal("different identifiers share a user")
	}
	if !validID(prefixUser, a.tokens.UserID) || !validID(prefixSession, a.tokens.SessionID) {
		t.Fatal("identifiers are not 128-bit prefixed IDs")
	}
}

func TestFailureDelayGrows(t *testing.T) {
	for n, want := range map[int64]time.Duration{
		1: 0, 9: 0, 10: time.Second, 11: 2 * time.Second, 14: 16 * time.Second, 19: 512 * time.Second, 20: 15 * time.Minute, 99: 15 * time.Minute,
	} {
		if got := failureDelay(n); got != want {
			t.Errorf("failureDelay(%d) = %s, want %s", n, got, want)
		}
	}
}

// TestRepeatedFailuresMakeTheGuessingClientWait: past ten consecutive
// failures a client waits longer before each check; the wait is the
// client's own.
func TestRepeatedFailuresMakeTheGuessingClientWait(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	failKey := clientFailKey(clientKey(testClient.IP))
	// Nine earlier failures of this client (their codes and flows are long gone).
	noErr(t, "seed failures", h.st.Set(ctx, failKey, []byte("9"), time.Hour))
	flow, code := startLogin(t, h)
	_, err := h.e.CheckLogin(ctx, flow, wrongCode(code), proofFor(t, newJKT(t)), testClient)
	wantErr(t, "tenth failure", err, ErrBadCheckCode)
	_, err = h.e.CheckLogin(ctx, flow, code, proofFor(t, newJKT(t)), testClient)
	wantErr(t, "the right code right after", err, ErrRateLimited)
	// Another client is not held back.
	other := ClientInfo{IP: "198.51.100.7"}
	flow2, err := h.e.StartLogin(ctx, IdentifierPhone, "+33612345678", other)
	noErr(t, "another client's login", err)
	_, err = h.e.CheckLogin(ctx, flow2, h.sender.last(t).Code, proofFor(t, newJKT(t)), other)
	noErr(t, "another client's right code", err)
	// The wait is kept by the store's own clock: 1 s after the tenth failure.
	deadline := time.Now().Add(5 * time.Second)
	flow, code = startLogin(t, h)
	for {
		_, err = h.e.CheckLogin(ctx, flow, code, proofFor(t, newJKT(t)), testClient)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	noErr(t, "the right code after the wait", err)
	if _, err := h.st.Get(ctx, failKey); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a success left the client's failure counter: %v", err)
	}
}

// startLogin starts a phone login and returns its flow and the code sent.
func startLogin(t *testing.T, h *harness) (flow, code string) {
	t.Helper()
	flow, err := h.e.StartLogin(context.Background(), IdentifierPhone, "+33612345678", testClient)
	noErr(t, "StartLogin", err)
	return flow, h.sender.last(t).Code
}

// wrongCode returns a code that differs from code.
func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}
