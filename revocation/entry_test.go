package revocation

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEntryChecks(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good := Entry{Kind: Session, Issuer: "https://gw", Value: "ses_1", Until: now.Add(time.Hour)}
	if err := good.check(now); err != nil {
		t.Fatalf("a good entry: %v", err)
	}
	bad := map[string]func(e *Entry){
		"unknown kind":             func(e *Entry) { e.Kind = "SID" },
		"empty kind":               func(e *Entry) { e.Kind = "" },
		"no issuer":                func(e *Entry) { e.Issuer = "" },
		"issuer too long":          func(e *Entry) { e.Issuer = strings.Repeat("i", MaxIssuerLength+1) },
		"issuer not UTF-8":         func(e *Entry) { e.Issuer = "https://\xff" },
		"no value":                 func(e *Entry) { e.Value = "" },
		"value too long":           func(e *Entry) { e.Value = strings.Repeat("v", MaxValueLength+1) },
		"value not UTF-8":          func(e *Entry) { e.Value = "\xc3" },
		"reason too long":          func(e *Entry) { e.Reason = strings.Repeat("r", MaxReasonLength+1) },
		"until now":                func(e *Entry) { e.Until = now },
		"until past":               func(e *Entry) { e.Until = now.Add(-time.Second) },
		"until too far":            func(e *Entry) { e.Until = now.Add(MaxDuration + time.Second) },
		"revoked in future":        func(e *Entry) { e.At = now.Add(2 * time.Minute) },
		"zero until":               func(e *Entry) { e.Until = time.Time{} },
		"issuer too long in bytes": func(e *Entry) { e.Issuer = strings.Repeat("é", MaxIssuerLength/2+1) },
	}
	for name, change := range bad {
		e := good
		change(&e)
		if err := e.check(now); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("%s: %v, want ErrInvalidEntry", name, err)
		}
	}
	atLimits := good
	atLimits.Issuer = strings.Repeat("i", MaxIssuerLength)
	atLimits.Value = strings.Repeat("v", MaxValueLength)
	atLimits.Reason = strings.Repeat("r", MaxReasonLength)
	atLimits.Until = now.Add(MaxDuration)
	if err := atLimits.check(now); err != nil {
		t.Fatalf("fields at their limits: %v", err)
	}
}

// A member is read back as exactly the entry written, whatever its values
// hold: no value can spill into another field.
func TestMemberRoundTrip(t *testing.T) {
	until := time.UnixMilli(1_800_000_000_123)
	for _, e := range []Entry{
		{Kind: Subject, Issuer: "https://idp", Value: `a","jti","b`, At: time.UnixMilli(1_799_999_999_001), Reason: "admin"},
		{Kind: Token, Issuer: "i\nj", Value: "\u0000\u2028]", At: time.UnixMilli(5)},
		{Kind: Session, Issuer: "ü", Value: "[1,2]", At: time.UnixMilli(0), Reason: "logout"},
	} {
		got, err := parseMember(e.member(), until)
		if err != nil {
			t.Fatal(err)
		}
		e.Until = until
		if got != e {
			t.Fatalf("read back %+v, want %+v", got, e)
		}
	}
	for _, m := range []string{``, `[]`, `["sid","i"]`, `["SID","i","v",0,""]`, `["sid","","v",0,""]`, `["sid","i","",0,""]`,
		`["sid","i","v","0",""]`, `{"kind":"sid"}`, `["sid","i","v",0,""`} {
		if _, err := parseMember(m, until); err == nil {
			t.Errorf("member %q was read", m)
		}
	}
}

func TestIndexForgetsEndedEntries(t *testing.T) {
	ix := newIndex()
	now := time.Unix(1_800_000_000, 0)
	ix.add(Entry{Kind: Session, Issuer: "i", Value: "a", Until: now.Add(-time.Second)})
	ix.add(Entry{Kind: Subject, Issuer: "i", Value: "b", Until: now})
	ix.add(Entry{Kind: Token, Issuer: "i", Value: "c", Until: now.Add(time.Second)})
	if n := ix.forget(now); n != 1 || !ix.has(Entry{Kind: Token, Issuer: "i", Value: "c"}) || ix.has(Entry{Kind: Session, Issuer: "i", Value: "a"}) {
		t.Fatalf("after forgetting, %d left", n)
	}
	// A forgotten slot is reused, and the entry in it is found.
	ix.add(Entry{Kind: Session, Issuer: "j", Value: "d", Until: now.Add(time.Hour)})
	if len(ix.recs) != 3 || !ix.has(Entry{Kind: Session, Issuer: "j", Value: "d"}) || ix.size.Load() != 2 {
		t.Fatalf("after reuse: %d records, size %d", len(ix.recs), ix.size.Load())
	}
}

// Two identities whose hashes collide are both kept, and each refuses
// only its own tokens. A collision of maphash's 64 bits is forced by
// giving the second identity the first one's slot in byHash by hand.
func TestIndexKeepsColliders(t *testing.T) {
	ix := newIndex()
	until := time.Now().Add(time.Hour)
	ix.add(Entry{Kind: Session, Issuer: "i", Value: "a", Until: until})
	// Make "b" collide: its hash is taken by "a"'s slot.
	iss, _ := ix.issuers.lookup("i")
	hb := ix.hash(identity{slotOf(Session), iss, "b"})
	ix.byHash[hb] = ix.byHash[ix.hash(identity{slotOf(Session), iss, "a"})]
	if grew := ix.add(Entry{Kind: Session, Issuer: "i", Value: "b", Until: until}); !grew || len(ix.overflow) != 1 {
		t.Fatalf("the collider was not kept apart: grew %v, overflow %d", grew, len(ix.overflow))
	}
	for _, v := range []string{"a", "b"} {
		if e := ix.match(&TokenFacts{Issuer: "i", Subject: "u", SessionID: v}); e == nil || e.Value != v {
			t.Fatalf("session %s: matched %+v", v, e)
		}
	}
	if e := ix.match(&TokenFacts{Issuer: "i", Subject: "u", SessionID: "c"}); e != nil {
		t.Fatalf("session c matched %+v", e)
	}
	ix.forget(until.Add(time.Second))
	if len(ix.overflow) != 0 || ix.size.Load() != 0 {
		t.Fatalf("after forgetting both: overflow %d, size %d", len(ix.overflow), ix.size.Load())
	}
}
