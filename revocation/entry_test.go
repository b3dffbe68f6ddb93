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
	if n := ix.forget(now); n != 1 || ix.find(Token, "i", "c") == nil || ix.find(Session, "i", "a") != nil {
		t.Fatalf("after forgetting, %d left", n)
	}
}
