// Package webhooks sends Prelude's session webhooks: what Prelude's Session
// product tells an app's backend about its users (user.created,
// user.identifier.created, user.session.created, user.session.revoked),
// in Prelude's envelope, signed as Prelude signs them (RSASSA-PSS SHA-256
// over the raw body, the key in the gateway's JWKS), delivered
// asynchronously from a bounded queue per endpoint and retried with
// exponential backoff and jitter. The request that caused an event never
// waits for its delivery.
//
// It is plain Go: the Caddy shell configures a Dispatcher, hands it the
// engine's user events (stepup.Config.UserEvents), and counts and audits
// what it reports.
package webhooks

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// Types are the event types the gateway sends, Prelude's names.
var Types = []string{stepup.UserCreated, stepup.IdentifierAdded, stepup.SessionCreated, stepup.SessionRevoked}

// Envelope is one request body: Prelude's batch, `{app_id, events}`. The
// gateway sends one event per request, so that each is retried on its own.
type Envelope struct {
	AppID  string  `json:"app_id"`
	Events []Event `json:"events"`
}

// Event is one event of a batch.
type Event struct {
	// ID is stable across retries (and across endpoints): a receiver
	// deduplicates with it. "evt_" + 128 bits, base64url.
	ID string `json:"id"`
	// Type is one of Types.
	Type string `json:"type"`
	// CreatedAt is when the event happened (RFC 3339, UTC, milliseconds).
	CreatedAt string `json:"created_at"`
	// Payload holds the fields Prelude documents for the type.
	Payload any `json:"payload"`
}

// identifier is an identifier as Prelude's payloads carry it.
type identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// The payloads, members as Prelude names them.
type (
	userCreated struct {
		UserID      string       `json:"user_id"`
		Identifiers []identifier `json:"identifiers"`
		Profile     struct{}     `json:"profile"`
		Source      string       `json:"source"`
		CreatedAt   string       `json:"created_at"`
	}
	identifierCreated struct {
		UserID     string     `json:"user_id"`
		Identifier identifier `json:"identifier"`
		CreatedAt  string     `json:"created_at"`
	}
	sessionCreated struct {
		UserID     string          `json:"user_id"`
		SessionID  string          `json:"session_id"`
		Identifier *identifier     `json:"identifier"`
		Metadata   sessionMetadata `json:"metadata"`
		CreatedAt  string          `json:"created_at"`
	}
	sessionMetadata struct {
		LoginMethod string `json:"login_method,omitempty"`
		IP          string `json:"ip,omitempty"`
		UserAgent   string `json:"user_agent,omitempty"`
	}
	sessionRevoked struct {
		UserID    string `json:"user_id"`
		SessionID string `json:"session_id"`
		RevokedAt string `json:"revoked_at"`
		Reason    string `json:"reason"`
	}
)

// sourceFrontend is user.created's `source`: the gateway creates users
// only through the session API (Prelude's Frontend API).
const sourceFrontend = "frontend"

// maxUserAgent bounds the user agent a session's metadata repeats.
const maxUserAgent = 256

// timestamp is t in RFC 3339, UTC, with milliseconds.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// NewEvent turns a user event into its webhook event; ok is false for a
// kind that has none.
func NewEvent(ev stepup.UserEvent) (out Event, ok bool) {
	at := timestamp(ev.At)
	idents := make([]identifier, 0, len(ev.Identifiers))
	for _, i := range ev.Identifiers {
		idents = append(idents, identifier{Type: i.Type, Value: i.Value})
	}
	out = Event{Type: ev.Kind, CreatedAt: at}
	switch ev.Kind {
	case stepup.UserCreated:
		out.ID = stableID(ev.Kind, ev.UserID, "")
		out.Payload = userCreated{UserID: ev.UserID, Identifiers: idents, Source: sourceFrontend, CreatedAt: at}
	case stepup.IdentifierAdded:
		if len(idents) != 1 {
			return Event{}, false
		}
		// An identifier can come to count for a user more than once (it
		// may stop counting in between): each time is its own event.
		out.ID = randomID()
		out.Payload = identifierCreated{UserID: ev.UserID, Identifier: idents[0], CreatedAt: at}
	case stepup.SessionCreated:
		p := sessionCreated{UserID: ev.UserID, SessionID: ev.SessionID, CreatedAt: at,
			Metadata: sessionMetadata{LoginMethod: ev.Method, IP: ev.ClientIP, UserAgent: truncate(ev.UserAgent, maxUserAgent)}}
		if len(idents) > 0 {
			p.Identifier = &idents[0]
		}
		out.ID = stableID(ev.Kind, ev.UserID, ev.SessionID)
		out.Payload = p
	case stepup.SessionRevoked:
		out.ID = stableID(ev.Kind, ev.UserID, ev.SessionID)
		out.Payload = sessionRevoked{UserID: ev.UserID, SessionID: ev.SessionID, RevokedAt: at, Reason: ev.Reason}
	default:
		return Event{}, false
	}
	return out, true
}

// Body is the request body of one event for the app appID.
func Body(appID string, ev Event) []byte {
	body, err := json.Marshal(Envelope{AppID: appID, Events: []Event{ev}})
	if err != nil {
		// Unreachable: every payload is made of strings.
		panic("webhooks: encoding an event: " + err.Error())
	}
	return body
}

// stableID is the ID of an event that happens once per user or session:
// two instances that both report it (two concurrent revocations of one
// session) send the same ID, and the receiver keeps one.
func stableID(kind, userID, sessionID string) string {
	sum := sha256.Sum256([]byte("caddy-stepup webhook event v1\x00" + kind + "\x00" + userID + "\x00" + sessionID))
	return "evt_" + base64.RawURLEncoding.EncodeToString(sum[:16])
}

// randomID is "evt_" + 128 bits from crypto/rand.
func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand panics otherwise)
	return "evt_" + base64.RawURLEncoding.EncodeToString(b)
}

// truncate cuts s to at most n bytes, on a UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
