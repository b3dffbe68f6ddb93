package revocation_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/revocation"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// BenchmarkCheck is one token checked against a list of 0, 1,000 and
// 100,000 entries of its issuer, none naming it (the common case: a miss
// on sid, jti and sub), and against a list that names its session.
func BenchmarkCheck(b *testing.B) {
	tok := revocation.TokenFacts{Issuer: gateway, Subject: "usr_0123456789abcdef", SessionID: "ses_0123456789abcdef",
		ID: "tok_0123456789abcdef", IssuedAt: time.Now()}
	for _, n := range []int{0, 1_000, 100_000} {
		b.Run(fmt.Sprintf("miss/entries=%d", n), func(b *testing.B) {
			l := filledList(b, n)
			for b.Loop() {
				if e, err := l.Check(tok); e != nil || err != nil {
					b.Fatal(e, err)
				}
			}
		})
	}
	b.Run("hit/entries=100000", func(b *testing.B) {
		l := filledList(b, 100_000)
		if err := l.Revoke(ctx, revocation.Entry{Kind: revocation.Session, Issuer: gateway, Value: tok.SessionID, Until: time.Now().Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if e, err := l.Check(tok); e == nil || err != nil {
				b.Fatal(e, err)
			}
		}
	})
}

// filledList is a started list holding n entries of the gateway's issuer.
func filledList(b *testing.B, n int) *revocation.List {
	l, err := revocation.New(revocation.Options{Ledger: store.NewMemoryLedger(nil)})
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l.Stop)
	until := time.Now().Add(time.Hour)
	for i := range n {
		k := revocation.Kinds[i%3]
		if err := l.Revoke(ctx, revocation.Entry{Kind: k, Issuer: gateway, Value: fmt.Sprintf("v-%s-%d", k, i), Until: until}); err != nil {
			b.Fatal(err)
		}
	}
	// The reader has every write to catch up with; done before timing.
	if err := l.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	return l
}
