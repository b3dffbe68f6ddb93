package caddystepup

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-stepup/caddy-stepup/revocation"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

// withRevocations gives app's runtime a started revocation list over
// ledger, and an audit log the test reads.
func withRevocations(t testing.TB, app *App, ledger store.Ledger, opts revocation.Options) (*revocation.List, *observer.ObservedLogs) {
	t.Helper()
	opts.Ledger = ledger
	list, err := revocation.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := list.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(list.Stop)
	core, logs := observer.New(zapcore.InfoLevel)
	app.recorder = telemetry.NewRecorder(zap.New(core))
	rt := *app.runtime()
	rt.revocations = revoker{list: list, recorder: app.recorder}
	app.rt.Store(&rt)
	return list, logs
}

const revokedChallenge = `Bearer error="invalid_token", error_description="The access token has been revoked"`

func TestRevokedTokensAreRefused(t *testing.T) {
	app := testApp(t)
	list, logs := withRevocations(t, app, store.NewMemoryLedger(nil), revocation.Options{})
	h := testHandler(t, app, &Handler{})
	tok := mintToken(t, app, nil) // usr_alice, ses_1, tok1
	if rec, seen := serve(t, h, request("GET", "/x", "Bearer "+tok)); rec.Code != 200 || seen.calls != 1 {
		t.Fatalf("before any revocation: %d", rec.Code)
	}
	rt := app.runtime()
	for _, e := range []revocation.Entry{
		{Kind: revocation.Session, Issuer: testIssuer, Value: "ses_1", Reason: "logout"},
		{Kind: revocation.Token, Issuer: testIssuer, Value: "tok1", Reason: "admin"},
		{Kind: revocation.Subject, Issuer: testIssuer, Value: "usr_alice", Reason: "admin"},
	} {
		t.Run(string(e.Kind), func(t *testing.T) {
			fresh := testApp(t)
			fresh.rt.Store(rt) // the same keys and verifier
			_, logs := withRevocations(t, fresh, store.NewMemoryLedger(nil), revocation.Options{})
			h := testHandler(t, fresh, &Handler{})
			e.Until = time.Now().Add(time.Hour)
			if err := fresh.runtime().revocations.Revoke(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			rec, seen := serve(t, h, request("GET", "/x", "Bearer "+tok))
			assertRefused(t, rec, seen, 401, revokedChallenge, "unauthorized")
			if got := logs.FilterField(zap.String("event", telemetry.EventRevocationEnforced)).All(); len(got) != 1 ||
				got[0].ContextMap()["reason"] != e.Reason || got[0].ContextMap()["op"] != string(e.Kind) ||
				got[0].ContextMap()["user"] != "usr_alice" || got[0].ContextMap()["session"] != "ses_1" {
				t.Fatalf("audit entries %v", got)
			}
			if got := logs.FilterField(zap.String("event", telemetry.EventRevocationRecorded)).Len(); got != 1 {
				t.Fatalf("%d revocation.recorded entries, want 1", got)
			}
		})
	}
	// A token of the same session from another issuer, another session,
	// another jti and a subject's later token all pass.
	if err := list.Revoke(context.Background(), revocation.Entry{Kind: revocation.Session, Issuer: "https://other.test", Value: "ses_1",
		Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if rec, seen := serve(t, h, request("GET", "/x", "Bearer "+tok)); rec.Code != 200 || seen.calls != 1 {
		t.Fatalf("a revocation of another issuer's ses_1 refused ours: %d", rec.Code)
	}
	if err := list.Revoke(context.Background(), revocation.Entry{Kind: revocation.Subject, Issuer: testIssuer, Value: "usr_alice",
		At: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if rec, seen := serve(t, h, request("GET", "/x", "Bearer "+tok)); rec.Code != 200 || seen.calls != 1 {
		t.Fatalf("a subject revocation older than the token refused it: %d", rec.Code)
	}
	if logs.FilterField(zap.String("event", telemetry.EventRevocationEnforced)).Len() != 0 {
		t.Fatal("a passing token was audited as refused")
	}
}

// A revoked DPoP-bound token is refused under the DPoP scheme before its
// proof is looked at (no replay marker spent).
func TestRevokedDPoPTokenIsRefusedUnderItsScheme(t *testing.T) {
	app := testApp(t)
	list, _ := withRevocations(t, app, store.NewMemoryLedger(nil), revocation.Options{})
	h := testHandler(t, app, &Handler{})
	tok := mintToken(t, app, func(c map[string]any) { c["cnf"] = map[string]any{"jkt": "abc"} })
	if err := list.Revoke(context.Background(), revocation.Entry{Kind: revocation.Session, Issuer: testIssuer, Value: "ses_1",
		Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	rec, seen := serve(t, h, request("GET", "/x", "DPoP "+tok))
	assertRefused(t, rec, seen, 401, `DPoP error="invalid_token", error_description="The access token has been revoked", `+dpopAlgs, "unauthorized")
}

// brokenLedger fails every read once broken.
type brokenLedger struct {
	store.Ledger
	broken atomic.Bool
}

func (b *brokenLedger) Read(ctx context.Context, from store.LedgerCursor, limit int) (store.LedgerPage, error) {
	if b.broken.Load() {
		return store.LedgerPage{}, errors.New("down")
	}
	return b.Ledger.Read(ctx, from, limit)
}

// A list that cannot be read for longer than its bound refuses every
// token with 503, and lets them through again once it can.
func TestStaleRevocationListFailsClosed(t *testing.T) {
	app := testApp(t)
	ledger := &brokenLedger{Ledger: store.NewMemoryLedger(nil)}
	withRevocations(t, app, ledger, revocation.Options{PollInterval: 10 * time.Millisecond, MaxStaleness: 50 * time.Millisecond})
	h := testHandler(t, app, &Handler{})
	tok := mintToken(t, app, nil)
	ledger.broken.Store(true)
	waitUntil(t, func() bool { return app.runtime().revocations.list.Stale() })
	rec, seen := serve(t, h, request("GET", "/x", "Bearer "+tok))
	assertRefused(t, rec, seen, 503, "", "internal")
	ledger.broken.Store(false)
	waitUntil(t, func() bool { return !app.runtime().revocations.list.Stale() })
	if rec, seen := serve(t, h, request("GET", "/x", "Bearer "+tok)); rec.Code != 200 || seen.calls != 1 {
		t.Fatalf("after the list is read again: %d", rec.Code)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
	}
}
