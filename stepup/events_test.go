package stepup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
)

// eventLog collects the engine's events.
type eventLog struct {
	mu          sync.Mutex
	events, all []Event
}

func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
	l.all = append(l.all, ev)
}

// take returns the names collected since the last take.
func (l *eventLog) take() ([]string, []Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	evs := l.events
	l.events = nil
	names := make([]string, len(evs))
	for i, ev := range evs {
		names[i] = ev.Name
	}
	return names, evs
}

// TestEventsOfAWholeFlow: every security event of a login, a step-up, a
// grant's use, a refresh token's reuse and a logout, by name and with the
// same fields; none carries a code or a token.
func TestEventsOfAWholeFlow(t *testing.T) {
	log := &eventLog{}
	h := newHarness(t, nil, func(c *Config) { c.Events = log.add })
	ctx := context.Background()
	want := func(step string, names ...string) []Event {
		t.Helper()
		got, evs := log.take()
		if !slices.Equal(got, names) {
			t.Fatalf("%s: events %v, want %v", step, got, names)
		}
		return evs
	}
	var secrets []string

	flow, err := h.e.StartLogin(ctx, IdentifierPhone, phoneA, testClient)
	noErr(t, "start", err)
	want("login start", EventLoginCodeSent)
	_, err = h.e.CheckLogin(ctx, flow, "000000", proofFor(t, newJKT(t)), testClient)
	wantErr(t, "wrong code", err, ErrBadCheckCode)
	if evs := want("wrong code", EventLoginFailed); evs[0].Reason != "bad_code" || evs[0].ClientIP != testClient.IP {
		t.Errorf("login.failed %+v", evs[0])
	}
	c := &client{jkt: newJKT(t)}
	secrets = append(secrets, h.sender.last(t).Code)
	c.tokens, err = h.e.CheckLogin(ctx, flow, h.sender.last(t).Code, proofFor(t, c.jkt), testClient)
	noErr(t, "check", err)
	secrets = append(secrets, c.tokens.AccessToken, c.tokens.RefreshToken)
	if evs := want("login", EventLoginSucceeded); evs[0].UserID != c.tokens.UserID || evs[0].SessionID != c.tokens.SessionID || evs[0].Method != "otp" {
		t.Errorf("login.succeeded %+v", evs[0])
	}

	res := h.stepUp(t, c, scopeSMS, map[string]string{"amount": "5"})
	want("request", EventStepUpRequested)
	_, err = h.e.SendStepOTP(ctx, res.ChallengeToken, false, testClient)
	noErr(t, "send", err)
	want("send", EventStepUpCodeSent)
	_, err = h.e.CheckStepOTP(ctx, res.ChallengeToken, "000000", challengeProof(t, c, res.ChallengeToken), testClient)
	wantErr(t, "wrong step code", err, ErrBadCheckCode)
	if evs := want("wrong step code", EventStepUpCheckFailed); evs[0].Step != StepVerifySMS || evs[0].Reason != "" {
		t.Errorf("stepup.check_failed %+v: the step in Step, no Reason", evs[0])
	}
	secrets = append(secrets, h.sender.last(t).Code)
	done, err := h.e.CheckStepOTP(ctx, res.ChallengeToken, h.sender.last(t).Code, challengeProof(t, c, res.ChallengeToken), testClient)
	noErr(t, "step", err)
	if evs := want("step", EventStepUpStepDone); evs[0].Scope != scopeSMS || evs[0].Step != StepVerifySMS || evs[0].Reason != "" {
		t.Errorf("stepup.step_completed %+v", evs[0])
	}
	retired := c.tokens.RefreshToken
	tok, err := h.refresh(t, c, done)
	noErr(t, "redeem", err)
	secrets = append(secrets, tok.AccessToken, tok.RefreshToken)
	if evs := want("redeem", EventRefreshRotated, EventStepUpGranted); evs[1].GrantMode != GrantSingleUse || evs[1].Scope != scopeSMS || evs[1].Reason != "" {
		t.Errorf("stepup.granted %+v", evs[1])
	}
	grant := accessOf(t, tok.AccessToken).Grant[scopeSMS]
	_, err = h.e.ConsumeGrant(ctx, grant, c.tokens.UserID, c.tokens.SessionID, scopeSMS)
	noErr(t, "consume", err)
	if evs := want("consume", EventGrantConsumed); evs[0].GrantMode != GrantSingleUse || evs[0].Scope != scopeSMS {
		t.Errorf("grant.consumed %+v", evs[0])
	}

	// A client-made scope name is never a label.
	_, err = h.e.RequestStepUp(ctx, c.caller(), "made:up", nil, Signals{})
	wantErr(t, "unknown scope", err, ErrScopeNotAllowed)
	want("unknown scope")
	blocked, err := h.e.RequestStepUp(ctx, c.caller(), scopeBlocked, nil, Signals{IP: "192.0.2.9"})
	noErr(t, "blocked", err)
	if evs := want("blocked", EventStepUpRequested); blocked.Status != StatusBlock || evs[0].Outcome != StatusBlock || evs[0].ClientIP != "192.0.2.9" {
		t.Errorf("stepup.requested %+v", evs[0])
	}

	// The retired refresh token again, after the retry window: reuse.
	h.clk.Advance(h.e.cfg.RefreshGrace + time.Second)
	_, err = h.e.Refresh(ctx, RefreshRequest{RefreshToken: retired, Proof: proofFor(t, c.jkt)})
	wantErr(t, "reuse", err, ErrUnauthorized)
	_, evs := log.take()
	if len(evs) == 0 || evs[len(evs)-1].Name != EventRefreshReuse || evs[len(evs)-1].SessionID != c.tokens.SessionID {
		t.Fatalf("reuse events %+v", evs)
	}

	other := h.login(t, IdentifierPhone, "+33600000001")
	log.take()
	noErr(t, "logout", h.e.Revoke(ctx, other.tokens.RefreshToken, proofFor(t, other.jkt)))
	if evs := want("logout", EventSessionRevoked); evs[0].Reason != "logout" || evs[0].SessionID != other.tokens.SessionID {
		t.Errorf("session.revoked %+v", evs[0])
	}

	// Nothing secret in any event of the whole run: no code, token or
	// identifier's value.
	secrets = append(secrets, phoneA, "+33600000001", other.tokens.RefreshToken, other.tokens.AccessToken)
	log.mu.Lock()
	defer log.mu.Unlock()
	for _, ev := range log.all {
		text := fmt.Sprintf("%+v", ev)
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("event %s carries a secret or an identifier: %s", ev.Name, text)
			}
		}
	}
}

// refusingSender is a code sender that is down.
type refusingSender struct{}

func (refusingSender) Send(context.Context, otp.Message) error { return errors.New("sender down") }

// TestSendFailureEvent: a code the sender failed to deliver is reported with
// its channel and purpose, and no reason (the sender's error stays in the
// logs).
func TestSendFailureEvent(t *testing.T) {
	log := &eventLog{}
	h := newHarness(t, nil, func(c *Config) { c.Events = log.add; c.Sender = refusingSender{} })
	_, err := h.e.StartLogin(context.Background(), IdentifierEmail, "alice@example.com", testClient)
	wantErr(t, "send", err, ErrUnavailable)
	_, evs := log.take()
	if len(evs) != 1 || evs[0].Name != EventCodeSendFailed || evs[0].Channel != otp.ChannelEmail || evs[0].Purpose != otp.PurposeLogin || evs[0].Reason != "" {
		t.Fatalf("events %+v, want one otp.send_failed on email for login", evs)
	}
}
