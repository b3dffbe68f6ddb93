package signals

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/revocation"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// fakeEngine is the gateway's users and sessions as the applier sees
// them, with what was done to them.
type fakeEngine struct {
	byEmail, byPhone map[string]string
	byProvider       map[string]string // issuer + " " + subject
	sessions         map[string]int    // user → live sessions
	sessionOwner     map[string]string // sid → user
	ended            []string
	grantsRevoked    []string
	fail             error
}

func (e *fakeEngine) UserByIdentifier(_ context.Context, typ, value string) (string, error) {
	switch typ {
	case stepup.IdentifierEmail:
		return e.byEmail[value], e.fail
	case stepup.IdentifierPhone:
		return e.byPhone[value], e.fail
	}
	return "", errors.New("unknown identifier type " + typ)
}

func (e *fakeEngine) UserByProvider(_ context.Context, issuer, subject string) (string, error) {
	return e.byProvider[issuer+" "+subject], e.fail
}

func (e *fakeEngine) SignalEndSessions(_ context.Context, userID string) (int, error) {
	e.ended = append(e.ended, userID)
	return e.sessions[userID], e.fail
}

func (e *fakeEngine) SignalEndSession(_ context.Context, sid string) (string, error) {
	e.ended = append(e.ended, sid)
	return e.sessionOwner[sid], e.fail
}

func (e *fakeEngine) SignalRevokeGrants(_ context.Context, userID string) ([]string, error) {
	e.grantsRevoked = append(e.grantsRevoked, userID)
	return nil, e.fail
}

// fakeRevoker keeps the revocations recorded, or fails.
type fakeRevoker struct {
	entries []revocation.Entry
	fail    error
}

func (r *fakeRevoker) Revoke(_ context.Context, e revocation.Entry) error {
	if r.fail != nil {
		return r.fail
	}
	r.entries = append(r.entries, e)
	return nil
}

var applyNow = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func testGateway(e *fakeEngine, r *fakeRevoker) Gateway {
	lifetimes := map[string]time.Duration{gatewayIssuer: 15 * time.Minute, testIssuer: time.Hour}
	g := Gateway{Revocations: r, Issuer: gatewayIssuer, Now: func() time.Time { return applyNow },
		Lifetime: func(iss string) (time.Duration, bool) { d, ok := lifetimes[iss]; return d, ok }}
	if e != nil {
		g.Engine = e
	}
	return g
}

func newEngine() *fakeEngine {
	return &fakeEngine{
		byEmail:      map[string]string{"a@example.com": "usr_a"},
		byPhone:      map[string]string{"+12065550100": "usr_p"},
		byProvider:   map[string]string{testIssuer + " u1": "usr_1"},
		sessions:     map[string]int{"usr_a": 2, "usr_1": 1, "usr_p": 1},
		sessionOwner: map[string]string{"ses_1": "usr_a"},
	}
}

func entry(kind revocation.Kind, iss, value, event string, lifetime time.Duration) revocation.Entry {
	return revocation.Entry{Kind: kind, Issuer: iss, Value: value, At: applyNow, Until: applyNow.Add(lifetime), Reason: "signal:" + event}
}

// TestApply applies each action to each kind of target and checks what
// was revoked, ended and dropped, and the effect audited.
func TestApply(t *testing.T) {
	ctx := context.Background()
	users := func(u ...UserRef) Targets { return Targets{Users: u} }
	for name, tc := range map[string]struct {
		action   Action
		targets  Targets
		entries  []revocation.Entry
		ended    []string
		dropped  []string
		effect   string
		noEngine bool
	}{
		"revoke access, a trusted issuer's subject linked to a user": {
			action: ActionRevokeAccess, targets: users(UserRef{Issuer: testIssuer, Subject: "u1"}),
			entries: []revocation.Entry{entry(revocation.Subject, testIssuer, "u1", "x", time.Hour), entry(revocation.Subject, gatewayIssuer, "usr_1", "x", 15*time.Minute)},
			ended:   []string{"usr_1"}, effect: "sessions_ended=1 revocations=2 grants_dropped_users=0 unmatched=0",
		},
		"revoke access, an email": {
			action: ActionRevokeAccess, targets: users(UserRef{Email: "a@example.com"}),
			entries: []revocation.Entry{entry(revocation.Subject, gatewayIssuer, "usr_a", "x", 15*time.Minute)},
			ended:   []string{"usr_a"}, effect: "sessions_ended=2 revocations=1 grants_dropped_users=0 unmatched=0",
		},
		"revoke access, an unknown email": {
			action: ActionRevokeAccess, targets: users(UserRef{Email: "nobody@example.com"}),
			effect: "sessions_ended=0 revocations=0 grants_dropped_users=0 unmatched=1",
		},
		"revoke access, sessions and tokens": {
			action: ActionRevokeAccess, targets: Targets{Sessions: []SessionRef{{Issuer: gatewayIssuer, SID: "ses_1"}, {Issuer: testIssuer, SID: "idp-s"}, {Issuer: "https://untrusted.example/", SID: "s"}},
				Tokens: []TokenRef{{Issuer: testIssuer, JTI: "t1"}, {Issuer: testIssuer, JTI: longString(revocation.MaxValueLength + 1)}}},
			entries: []revocation.Entry{entry(revocation.Session, gatewayIssuer, "ses_1", "x", 15*time.Minute), entry(revocation.Session, testIssuer, "idp-s", "x", time.Hour), entry(revocation.Token, testIssuer, "t1", "x", time.Hour)},
			ended:   []string{"ses_1"}, effect: "sessions_ended=1 revocations=3 grants_dropped_users=0 unmatched=0",
		},
		"end sessions, a phone number": {
			action: ActionEndSessions, targets: users(UserRef{Phone: "+12065550100"}),
			ended: []string{"usr_p"}, effect: "sessions_ended=1 revocations=0 grants_dropped_users=0 unmatched=0",
		},
		"drop step-ups, a gateway user": {
			action: ActionDropStepUps, targets: users(UserRef{Issuer: gatewayIssuer, Subject: "usr_a"}),
			entries: []revocation.Entry{entry(revocation.Subject, gatewayIssuer, "usr_a", "x", 15*time.Minute)},
			dropped: []string{"usr_a"}, effect: "sessions_ended=0 revocations=1 grants_dropped_users=1 unmatched=0",
		},
		"drop step-ups, a trusted issuer's unlinked subject": {
			action: ActionDropStepUps, targets: users(UserRef{Issuer: testIssuer, Subject: "u2"}),
			entries: []revocation.Entry{entry(revocation.Subject, testIssuer, "u2", "x", time.Hour)},
			effect:  "sessions_ended=0 revocations=1 grants_dropped_users=0 unmatched=0",
		},
		"revoke access without an engine": {
			action: ActionRevokeAccess, targets: Targets{Users: []UserRef{{Email: "a@example.com"}, {Issuer: testIssuer, Subject: "u1"}}, Sessions: []SessionRef{{Issuer: gatewayIssuer, SID: "ses_1"}}},
			entries:  []revocation.Entry{entry(revocation.Subject, testIssuer, "u1", "x", time.Hour), entry(revocation.Session, gatewayIssuer, "ses_1", "x", 15*time.Minute)},
			noEngine: true, effect: "sessions_ended=0 revocations=2 grants_dropped_users=0 unmatched=1",
		},
		"nothing": {action: ActionNone, targets: users(UserRef{Email: "a@example.com"}), effect: "sessions_ended=0 revocations=0 grants_dropped_users=0 unmatched=0"},
	} {
		e, r := newEngine(), &fakeRevoker{}
		g := testGateway(e, r)
		if tc.noEngine {
			g = testGateway(nil, r)
		}
		effect, err := Apply(ctx, g, nil, &Accepted{Decision: &Decision{Name: "x", Action: tc.action, Targets: tc.targets}})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if effect.String() != tc.effect || !reflect.DeepEqual(r.entries, tc.entries) ||
			!reflect.DeepEqual(e.ended, tc.ended) || !reflect.DeepEqual(e.grantsRevoked, tc.dropped) {
			t.Errorf("%s: effect %s entries %+v ended %v dropped %v", name, effect, r.entries, e.ended, e.grantsRevoked)
		}
	}
}

// TestApplyStopsAtAFailure: a failure of the list or the engine is the
// answer, for the transmitter to deliver the SET again.
func TestApplyStopsAtAFailure(t *testing.T) {
	ctx := context.Background()
	down := errors.New("down")
	d := &Decision{Name: "x", Action: ActionRevokeAccess, Targets: Targets{Users: []UserRef{{Email: "a@example.com"}}}}
	e, r := newEngine(), &fakeRevoker{fail: down}
	if _, err := Apply(ctx, testGateway(e, r), nil, &Accepted{Decision: d}); !errors.Is(err, down) || len(e.ended) != 0 {
		t.Fatalf("list down: %v, ended %v", err, e.ended)
	}
	e, r = newEngine(), &fakeRevoker{}
	e.fail = down
	if _, err := Apply(ctx, testGateway(e, r), nil, &Accepted{Decision: d}); !errors.Is(err, down) || len(r.entries) != 0 {
		t.Fatalf("engine down: %v, entries %v", err, r.entries)
	}
}
