package revocation_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/caddy-stepup/caddy-stepup/revocation"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

const gateway = "https://gateway.example"

var ctx = context.Background()

// started returns a started list on ledger, stopped when the test ends.
func started(t *testing.T, ledger store.Ledger, opts revocation.Options) *revocation.List {
	t.Helper()
	opts.Ledger = ledger
	l, err := revocation.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	return l
}

func revoke(t *testing.T, l *revocation.List, e revocation.Entry) {
	t.Helper()
	if e.Until.IsZero() {
		e.Until = time.Now().Add(time.Hour)
	}
	if err := l.Revoke(ctx, e); err != nil {
		t.Fatal(err)
	}
}

// refused reports whether l refuses tok, failing on a check error.
func refused(t *testing.T, l *revocation.List, tok revocation.TokenFacts) bool {
	t.Helper()
	e, err := l.Check(tok)
	if err != nil {
		t.Fatal(err)
	}
	return e != nil
}

// eventually polls cond for up to bound.
func eventually(t *testing.T, bound time.Duration, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(bound); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, bound)
		}
	}
}

func TestUnstartedListIsStale(t *testing.T) {
	l, err := revocation.New(revocation.Options{Ledger: store.NewMemoryLedger(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Check(revocation.TokenFacts{Issuer: gateway, Subject: "u"}); !errors.Is(err, revocation.ErrStale) {
		t.Fatalf("check before Start: %v, want ErrStale", err)
	}
}

func TestRevokedTokensAreRefused(t *testing.T) {
	l := started(t, store.NewMemoryLedger(nil), revocation.Options{})
	now := time.Now()
	tok := revocation.TokenFacts{Issuer: gateway, Subject: "usr_1", SessionID: "ses_1", ID: "tok_1", IssuedAt: now.Add(-time.Minute)}
	if refused(t, l, tok) {
		t.Fatal("a token was refused by an empty list")
	}

	revoke(t, l, revocation.Entry{Kind: revocation.Session, Issuer: gateway, Value: "ses_1", Reason: "logout"})
	if !refused(t, l, tok) {
		t.Fatal("a token of a revoked session passed")
	}
	e, _ := l.Check(tok)
	if e.Kind != revocation.Session || e.Reason != "logout" || e.Value != "ses_1" {
		t.Fatalf("the refusing entry: %+v", e)
	}
	for name, other := range map[string]revocation.TokenFacts{
		"another session":              {Issuer: gateway, Subject: "usr_1", SessionID: "ses_2"},
		"same sid of another issuer":   {Issuer: "https://idp", Subject: "usr_1", SessionID: "ses_1"},
		"sid differing in case":        {Issuer: gateway, Subject: "usr_1", SessionID: "SES_1"},
		"issuer with a trailing slash": {Issuer: gateway + "/", Subject: "usr_1", SessionID: "ses_1"},
		"no sid":                       {Issuer: gateway, Subject: "usr_1"},
	} {
		if refused(t, l, other) {
			t.Errorf("%s: refused", name)
		}
	}

	revoke(t, l, revocation.Entry{Kind: revocation.Token, Issuer: gateway, Value: "tok_9"})
	if !refused(t, l, revocation.TokenFacts{Issuer: gateway, Subject: "usr_2", ID: "tok_9"}) {
		t.Fatal("a revoked jti passed")
	}
	if refused(t, l, revocation.TokenFacts{Issuer: gateway, Subject: "usr_2", ID: "tok_8"}) {
		t.Fatal("another jti was refused")
	}
}

func TestSubjectRevocationRefusesTokensIssuedUntilThen(t *testing.T) {
	l := started(t, store.NewMemoryLedger(nil), revocation.Options{})
	at := time.Now().Add(-10 * time.Second).Truncate(time.Second)
	revoke(t, l, revocation.Entry{Kind: revocation.Subject, Issuer: "https://idp", Value: "alice", At: at})
	for iat, want := range map[time.Time]bool{
		at.Add(-time.Hour):             true,
		at:                             true,
		at.Add(999 * time.Millisecond): true, // the same second: iat has no finer grain
		at.Add(time.Second):            false,
		{}:                             true, // no iat: nothing says it is newer
	} {
		got := refused(t, l, revocation.TokenFacts{Issuer: "https://idp", Subject: "alice", IssuedAt: iat})
		if got != want {
			t.Errorf("iat %v: refused %v, want %v", iat, got, want)
		}
	}
	if refused(t, l, revocation.TokenFacts{Issuer: gateway, Subject: "alice"}) {
		t.Error("the same sub of another issuer was refused")
	}
	// Revoking again later covers the tokens issued in between.
	revoke(t, l, revocation.Entry{Kind: revocation.Subject, Issuer: "https://idp", Value: "alice", At: at.Add(5 * time.Second)})
	if !refused(t, l, revocation.TokenFacts{Issuer: "https://idp", Subject: "alice", IssuedAt: at.Add(3 * time.Second)}) {
		t.Error("a later revocation did not cover a token issued before it")
	}
	// Revoking with an earlier At does not undo the later one.
	revoke(t, l, revocation.Entry{Kind: revocation.Subject, Issuer: "https://idp", Value: "alice", At: at})
	if !refused(t, l, revocation.TokenFacts{Issuer: "https://idp", Subject: "alice", IssuedAt: at.Add(3 * time.Second)}) {
		t.Error("an earlier revocation undid a later one")
	}
}

func TestRevokeRefusesBadEntriesAndChangesNothing(t *testing.T) {
	ledger := store.NewMemoryLedger(nil)
	l := started(t, ledger, revocation.Options{})
	for _, e := range []revocation.Entry{
		{Kind: "session", Issuer: gateway, Value: "ses_1", Until: time.Now().Add(time.Hour)},
		{Kind: revocation.Session, Issuer: gateway, Value: "ses_1", Until: time.Now().Add(-time.Second)},
		{Kind: revocation.Session, Issuer: gateway, Value: "", Until: time.Now().Add(time.Hour)},
	} {
		if err := l.Revoke(ctx, e); !errors.Is(err, revocation.ErrInvalidEntry) {
			t.Fatalf("Revoke(%+v) = %v, want ErrInvalidEntry", e, err)
		}
	}
	if l.Len() != 0 {
		t.Fatalf("%d entries after refusals", l.Len())
	}
	if p, _ := ledger.Read(ctx, store.LedgerCursor{}, 10); len(p.Records) != 0 {
		t.Fatalf("the ledger got %d members", len(p.Records))
	}
}

func TestFullListRefusesNewEntries(t *testing.T) {
	l := started(t, store.NewMemoryLedger(nil), revocation.Options{MaxEntries: 2})
	revoke(t, l, revocation.Entry{Kind: revocation.Session, Issuer: gateway, Value: "a"})
	revoke(t, l, revocation.Entry{Kind: revocation.Session, Issuer: gateway, Value: "b"})
	err := l.Revoke(ctx, revocation.Entry{Kind: revocation.Session, Issuer: gateway, Value: "c", Until: time.Now().Add(time.Hour)})
	if !errors.Is(err, revocation.ErrFull) {
		t.Fatalf("third entry: %v, want ErrFull", err)
	}
	// An entry already held may still be extended.
	revoke(t, l, revocation.Entry{Kind: revocation.Session, Issuer: gateway, Value: "a", Until: time.Now().Add(2 * time.Hour)})
}

func TestEntriesListing(t *testing.T) {
	l := started(t, store.NewMemoryLedger(nil), revocation.Options{})
	base := time.Now().Add(-time.Minute)
	for i, e := range []revocation.Entry{
		{Kind: revocation.Session, Issuer: gateway, Value: "ses_1"},
		{Kind: revocation.Subject, Issuer: "https://idp", Value: "alice"},
		{Kind: revocation.Token, Issuer: gateway, Value: "tok_1"},
		{Kind: revocation.Session, Issuer: gateway, Value: "ses_2"},
	} {
		e.At = base.Add(time.Duration(i) * time.Second)
		revoke(t, l, e)
	}
	all, n := l.Entries(revocation.Filter{}, 10)
	if n != 4 || len(all) != 4 || all[0].Value != "ses_2" || all[3].Value != "ses_1" {
		t.Fatalf("all: %d %+v", n, all)
	}
	sids, n := l.Entries(revocation.Filter{Kind: revocation.Session}, 1)
	if n != 2 || len(sids) != 1 || sids[0].Value != "ses_2" {
		t.Fatalf("sids, limit 1: %d %+v", n, sids)
	}
	idp, n := l.Entries(revocation.Filter{Issuer: "https://idp", Value: "alice"}, 10)
	if n != 1 || idp[0].Kind != revocation.Subject {
		t.Fatalf("idp: %d %+v", n, idp)
	}
}

// The instances' lists: each started on its own ledger handle of one shared
// ledger.
func twoInstances(t *testing.T, open func() store.Ledger, opts revocation.Options) (*revocation.List, *revocation.List) {
	return started(t, open(), opts), started(t, open(), opts)
}

func TestAnotherInstanceRefusesWithinASecond(t *testing.T) {
	backends := map[string]func(t *testing.T) func() store.Ledger{
		"memory": func(t *testing.T) func() store.Ledger {
			shared := store.NewMemoryLedger(nil)
			return func() store.Ledger { return shared }
		},
		"redis": func(t *testing.T) func() store.Ledger {
			srv := redistest.Start(t)
			return redisLedgers(t, store.RedisOptions{Addrs: []string{srv.Addr}})
		},
		"cluster": func(t *testing.T) func() store.Ledger {
			c := redistest.StartCluster(t, 3)
			return redisLedgers(t, store.RedisOptions{Addrs: c.Addrs, Cluster: true})
		},
		"sentinel": func(t *testing.T) func() store.Ledger {
			d := redistest.StartSentinel(t, redistest.SentinelOptions{Sentinels: 2})
			return redisLedgers(t, store.RedisOptions{Addrs: d.Addrs, MasterName: d.MasterName})
		},
	}
	for name, backend := range backends {
		t.Run(name, func(t *testing.T) {
			// A poll far longer than the bound: only the wake-up can make it.
			a, b := twoInstances(t, backend(t), revocation.Options{PollInterval: time.Minute, MaxStaleness: 10 * time.Minute})
			for i := range 5 {
				sid := fmt.Sprint("ses_", i)
				tok := revocation.TokenFacts{Issuer: gateway, Subject: "usr_1", SessionID: sid}
				if refused(t, b, tok) {
					t.Fatal("refused before the revocation")
				}
				revoke(t, a, revocation.Entry{Kind: revocation.Session, Issuer: gateway, Value: sid})
				if !refused(t, a, tok) {
					t.Fatal("the revoking instance still accepts the token")
				}
				eventually(t, time.Second, func() bool { return refused(t, b, tok) }, "the other instance refuses "+sid)
			}
		})
	}
}

// redisLedgers opens a new connection (an instance) per call.
func redisLedgers(t *testing.T, opts store.RedisOptions) func() store.Ledger {
	prefix := fmt.Sprintf("t%d:", time.Now().UnixNano())
	return func() store.Ledger {
		conn, err := store.DialRedis(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return store.NewRedisLedger(conn, prefix, "revocations")
	}
}

// deafLedger never wakes its reader: every pub/sub message missed.
type deafLedger struct{ store.Ledger }

func (deafLedger) Watch(ctx context.Context, wake func()) { <-ctx.Done() }

func TestPollFindsWhatAMissedWakeUpWouldHaveBrought(t *testing.T) {
	srv := redistest.Start(t)
	open := redisLedgers(t, store.RedisOptions{Addrs: []string{srv.Addr}})
	a := started(t, open(), revocation.Options{})
	b := started(t, deafLedger{open()}, revocation.Options{PollInterval: 100 * time.Millisecond})
	tok := revocation.TokenFacts{Issuer: gateway, Subject: "usr_1", SessionID: "ses_1"}
	revoke(t, a, revocation.Entry{Kind: revocation.Session, Issuer: gateway, Value: "ses_1"})
	eventually(t, time.Second, func() bool { return refused(t, b, tok) }, "the deaf instance refuses")
}

// faultyLedger fails every call while broken is set.
type faultyLedger struct {
	store.Ledger
	broken atomic.Bool
}

func (f *faultyLedger) Read(ctx context.Context, from store.LedgerCursor, limit int) (store.LedgerPage, error) {
	if f.broken.Load() {
		return store.LedgerPage{}, store.ErrUnavailable
	}
	return f.Ledger.Read(ctx, from, limit)
}

func (f *faultyLedger) Put(ctx context.Context, member string, until time.Time) error {
	if f.broken.Load() {
		return store.ErrUnavailable
	}
	return f.Ledger.Put(ctx, member, until)
}

func TestUnreadableLedgerFailsClosedAfterTheBound(t *testing.T) {
	f := &faultyLedger{Ledger: store.NewMemoryLedger(nil)}
	var staleChanges []bool
	var mu sync.Mutex
	l := started(t, f, revocation.Options{PollInterval: 20 * time.Millisecond, MaxStaleness: 200 * time.Millisecond,
		OnStale: func(s bool) { mu.Lock(); staleChanges = append(staleChanges, s); mu.Unlock() }})
	tok := revocation.TokenFacts{Issuer: gateway, Subject: "usr_1"}
	f.broken.Store(true)
	if err := l.Revoke(ctx, revocation.Entry{Kind: revocation.Subject, Issuer: gateway, Value: "usr_2", Until: time.Now().Add(time.Hour)}); !errors.Is(err, revocation.ErrUnavailable) {
		t.Fatalf("Revoke on a broken ledger: %v", err)
	}
	if l.Len() != 0 {
		t.Fatal("a failed revocation was applied locally")
	}
	eventually(t, 2*time.Second, func() bool { _, err := l.Check(tok); return errors.Is(err, revocation.ErrStale) }, "stale")
	f.broken.Store(false)
	eventually(t, 2*time.Second, func() bool { _, err := l.Check(tok); return err == nil }, "fresh again")
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(staleChanges) != "[true false]" {
		t.Fatalf("stale changes %v, want [true false]", staleChanges)
	}
}

func TestStoppedRedisFailsClosedAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	open := redisLedgers(t, store.RedisOptions{Addrs: []string{srv.Addr}, Timeout: 100 * time.Millisecond})
	a := started(t, open(), revocation.Options{PollInterval: 50 * time.Millisecond, MaxStaleness: 300 * time.Millisecond})
	tok := revocation.TokenFacts{Issuer: gateway, Subject: "usr_1"}
	srv.Freeze()
	eventually(t, 3*time.Second, func() bool { _, err := a.Check(tok); return errors.Is(err, revocation.ErrStale) }, "stale while redis is stopped")
	srv.Thaw()
	eventually(t, 3*time.Second, func() bool { _, err := a.Check(tok); return err == nil }, "fresh after redis is back")
}

// An emptied ledger (flushed, failed over without its keys) resets the
// readers' cursors: they keep what they knew and read what comes next.
func TestFlushedLedgerKeepsKnownEntries(t *testing.T) {
	srv := redistest.Start(t)
	open := redisLedgers(t, store.RedisOptions{Addrs: []string{srv.Addr}})
	a, b := twoInstances(t, open, revocation.Options{PollInterval: 50 * time.Millisecond})
	revoke(t, a, revocation.Entry{Kind: revocation.Session, Issuer: gateway, Value: "ses_1"})
	eventually(t, time.Second, func() bool { return b.Len() == 1 }, "b reads ses_1")
	if _, err := redistest.Do(srv.Addr, "FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	revoke(t, a, revocation.Entry{Kind: revocation.Session, Issuer: gateway, Value: "ses_2"})
	eventually(t, time.Second, func() bool {
		return refused(t, b, revocation.TokenFacts{Issuer: gateway, Subject: "u", SessionID: "ses_2"})
	}, "b refuses ses_2 after the flush")
	if !refused(t, b, revocation.TokenFacts{Issuer: gateway, Subject: "u", SessionID: "ses_1"}) {
		t.Fatal("b forgot ses_1")
	}
}

// A large list is read whole at start, in pages.
func TestStartReadsALargeLedger(t *testing.T) {
	srv := redistest.Start(t)
	open := redisLedgers(t, store.RedisOptions{Addrs: []string{srv.Addr}})
	w := open()
	until := time.Now().Add(time.Hour)
	for i := range 4500 {
		e := fmt.Sprintf(`["jti",%q,"tok_%d",0,""]`, gateway, i)
		if err := w.Put(ctx, e, until); err != nil {
			t.Fatal(err)
		}
	}
	l := started(t, open(), revocation.Options{})
	if l.Len() != 4500 {
		t.Fatalf("read %d entries, want 4500", l.Len())
	}
	if !refused(t, l, revocation.TokenFacts{Issuer: gateway, Subject: "u", ID: "tok_4499"}) {
		t.Fatal("the last entry does not refuse")
	}
}

func TestConcurrentChecksAndRevocations(t *testing.T) {
	l := started(t, store.NewMemoryLedger(nil), revocation.Options{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 200 {
				revoke(t, l, revocation.Entry{Kind: revocation.Token, Issuer: gateway, Value: fmt.Sprint(w, "-", i)})
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 2000 {
				_, _ = l.Check(revocation.TokenFacts{Issuer: gateway, Subject: "u", ID: fmt.Sprint(w, "-", i%200)})
			}
		}()
	}
	wg.Wait()
	if l.Len() != 800 {
		t.Fatalf("%d entries, want 800", l.Len())
	}
}
