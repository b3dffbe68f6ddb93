package revocation

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Kind is what an entry names: a session, a subject or one token.
type Kind string

const (
	// Session revokes every token whose sid is the entry's value.
	Session Kind = "sid"
	// Subject revokes every token whose sub is the entry's value and that
	// was issued (iat) at or before the entry's At; a token without iat is
	// refused too. Tokens issued later pass: a user may log in again.
	Subject Kind = "sub"
	// Token revokes the one token whose jti is the entry's value.
	Token Kind = "jti"
)

// Kinds lists every kind.
var Kinds = []Kind{Session, Subject, Token}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	return k == Session || k == Subject || k == Token
}

// Entry is one revocation.
type Entry struct {
	Kind Kind `json:"kind"`
	// Issuer is the iss of the tokens it applies to, exactly.
	Issuer string `json:"issuer"`
	// Value is the sid, sub or jti, exactly.
	Value string `json:"value"`
	// At is when it was revoked (Revoke sets it when zero). For a Subject,
	// tokens issued after At pass.
	At time.Time `json:"revoked_at"`
	// Until is when the entry is forgotten: no token it refuses may be
	// accepted after it (the longest such token's exp plus leeway).
	Until time.Time `json:"until"`
	// Reason says why, for the audit log and the listing: logout, user,
	// admin, reuse, relogin, a signal's event. At most 64 bytes.
	Reason string `json:"reason,omitempty"`
}

// Bounds of an entry's fields. A value or issuer longer than a token may
// hold could never match, and is refused rather than stored.
const (
	MaxValueLength  = 1024
	MaxIssuerLength = 2048
	MaxReasonLength = 64
	// MaxDuration bounds how long an entry lasts.
	MaxDuration = 90 * 24 * time.Hour
)

// ErrInvalidEntry is an entry that cannot be recorded.
var ErrInvalidEntry = errors.New("revocation: invalid entry")

// check validates e against now.
func (e *Entry) check(now time.Time) error {
	switch {
	case !e.Kind.Valid():
		return fmt.Errorf("%w: kind must be sid, sub or jti", ErrInvalidEntry)
	case e.Issuer == "" || len(e.Issuer) > MaxIssuerLength || !utf8.ValidString(e.Issuer):
		return fmt.Errorf("%w: issuer must be 1 to %d bytes of UTF-8", ErrInvalidEntry, MaxIssuerLength)
	case e.Value == "" || len(e.Value) > MaxValueLength || !utf8.ValidString(e.Value):
		return fmt.Errorf("%w: value must be 1 to %d bytes of UTF-8", ErrInvalidEntry, MaxValueLength)
	case len(e.Reason) > MaxReasonLength || !utf8.ValidString(e.Reason):
		return fmt.Errorf("%w: reason must be at most %d bytes of UTF-8", ErrInvalidEntry, MaxReasonLength)
	case !e.Until.After(now):
		return fmt.Errorf("%w: until must be in the future", ErrInvalidEntry)
	case e.Until.Sub(now) > MaxDuration:
		return fmt.Errorf("%w: until must be within %s", ErrInvalidEntry, MaxDuration)
	case e.At.After(now.Add(time.Minute)):
		return fmt.Errorf("%w: revoked_at must not be in the future", ErrInvalidEntry)
	}
	return nil
}

// member is an entry as the ledger keeps it (its Until is the ledger's
// end): one JSON array, so that no value can be read as another field.
// The same revocation written twice is one member; a subject revoked again
// later is another (its At differs), and the later one covers more.
func (e *Entry) member() string {
	b, _ := json.Marshal([]any{e.Kind, e.Issuer, e.Value, e.At.UnixMilli(), e.Reason})
	return string(b)
}

// parseMember reads a ledger member back.
func parseMember(m string, until time.Time) (Entry, error) {
	var f [5]json.RawMessage
	if err := json.Unmarshal([]byte(m), &f); err != nil {
		return Entry{}, err
	}
	var e Entry
	var at int64
	for i, dst := range []any{&e.Kind, &e.Issuer, &e.Value, &at, &e.Reason} {
		if err := json.Unmarshal(f[i], dst); err != nil {
			return Entry{}, err
		}
	}
	if !e.Kind.Valid() || e.Issuer == "" || e.Value == "" {
		return Entry{}, errors.New("revocation: malformed ledger member")
	}
	e.At, e.Until = time.UnixMilli(at), until
	return e, nil
}
