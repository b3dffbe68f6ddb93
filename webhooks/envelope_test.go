package webhooks

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

var eventTime = time.Date(2025, 3, 15, 10, 30, 0, 250e6, time.FixedZone("CET", 3600))

// bodyOf is the JSON body of ev, decoded generically.
func bodyOf(t *testing.T, ev stepup.UserEvent) map[string]any {
	t.Helper()
	event, ok := NewEvent(ev)
	if !ok {
		t.Fatalf("%s has no webhook event", ev.Kind)
	}
	var out map[string]any
	if err := json.Unmarshal(Body("app-1", event), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// onlyEvent is the one event of a body, with its payload.
func onlyEvent(t *testing.T, body map[string]any) (map[string]any, map[string]any) {
	t.Helper()
	events, _ := body["events"].([]any)
	if body["app_id"] != "app-1" || len(events) != 1 || len(body) != 2 {
		t.Fatalf("envelope %v, want {app_id, events: [one]}", body)
	}
	ev := events[0].(map[string]any)
	payload, _ := ev["payload"].(map[string]any)
	if len(ev) != 4 || payload == nil || !strings.HasPrefix(ev["id"].(string), "evt_") || len(ev["id"].(string)) != 26 {
		t.Fatalf("event %v, want {id: evt_…, type, created_at, payload}", ev)
	}
	return ev, payload
}

// keysOf fails unless m has exactly these members.
func keysOf(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	if len(m) != len(keys) {
		t.Errorf("%s has %d members %v, want %v", what, len(m), m, keys)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks %q: %v", what, k, m)
		}
	}
}

// TestEnvelopeOfEachEvent: Prelude's envelope and each event's payload,
// member by member; times in UTC with milliseconds.
func TestEnvelopeOfEachEvent(t *testing.T) {
	phone := stepup.Identifier{Type: stepup.IdentifierPhone, Value: "+33612345678"}
	email := stepup.Identifier{Type: stepup.IdentifierEmail, Value: "a@example.com"}

	ev, p := onlyEvent(t, bodyOf(t, stepup.UserEvent{Kind: stepup.UserCreated, UserID: "usr_1", Identifiers: []stepup.Identifier{phone, email}, At: eventTime}))
	if ev["type"] != "user.created" || ev["created_at"] != "2025-03-15T09:30:00.250Z" {
		t.Errorf("user.created event %v", ev)
	}
	keysOf(t, "user.created", p, "user_id", "identifiers", "profile", "source", "created_at")
	if raw, _ := json.Marshal(p["identifiers"]); p["user_id"] != "usr_1" || string(raw) != `[{"type":"phone_number","value":"+33612345678"},{"type":"email_address","value":"a@example.com"}]` ||
		p["source"] != "frontend" || p["created_at"] != "2025-03-15T09:30:00.250Z" || len(p["profile"].(map[string]any)) != 0 {
		t.Errorf("user.created payload %v", p)
	}
	// A user no identifier counts for (an OAuth login) has an empty list.
	_, p = onlyEvent(t, bodyOf(t, stepup.UserEvent{Kind: stepup.UserCreated, UserID: "usr_2", At: eventTime}))
	if ids, ok := p["identifiers"].([]any); !ok || len(ids) != 0 {
		t.Errorf("identifiers %#v, want []", p["identifiers"])
	}

	_, p = onlyEvent(t, bodyOf(t, stepup.UserEvent{Kind: stepup.IdentifierAdded, UserID: "usr_1", Identifiers: []stepup.Identifier{email}, At: eventTime}))
	keysOf(t, "user.identifier.created", p, "user_id", "identifier", "created_at")
	if id := p["identifier"].(map[string]any); id["type"] != "email_address" || id["value"] != "a@example.com" {
		t.Errorf("identifier %v", id)
	}

	_, p = onlyEvent(t, bodyOf(t, stepup.UserEvent{Kind: stepup.SessionCreated, UserID: "usr_1", SessionID: "ses_1", Identifiers: []stepup.Identifier{phone},
		Method: "otp", ClientIP: "203.0.113.42", UserAgent: "Mozilla/5.0", At: eventTime}))
	keysOf(t, "user.session.created", p, "user_id", "session_id", "identifier", "metadata", "created_at")
	if md := p["metadata"].(map[string]any); p["session_id"] != "ses_1" || p["identifier"].(map[string]any)["value"] != "+33612345678" ||
		md["login_method"] != "otp" || md["ip"] != "203.0.113.42" || md["user_agent"] != "Mozilla/5.0" {
		t.Errorf("user.session.created payload %v", p)
	}
	// An OAuth login proved no identifier: null, not an empty object.
	_, p = onlyEvent(t, bodyOf(t, stepup.UserEvent{Kind: stepup.SessionCreated, UserID: "usr_1", SessionID: "ses_2", Method: "oauth", At: eventTime}))
	if v, present := p["identifier"]; !present || v != nil {
		t.Errorf("an OAuth session's identifier: %#v", v)
	}

	_, p = onlyEvent(t, bodyOf(t, stepup.UserEvent{Kind: stepup.SessionRevoked, UserID: "usr_1", SessionID: "ses_1", Reason: "reuse", At: eventTime}))
	keysOf(t, "user.session.revoked", p, "user_id", "session_id", "revoked_at", "reason")
	if p["revoked_at"] != "2025-03-15T09:30:00.250Z" || p["reason"] != "reuse" {
		t.Errorf("user.session.revoked payload %v", p)
	}
	// Every reason the engine ends a session with is carried as it is.
	for _, reason := range []string{"logout", "user", "admin", "reuse", "relogin", "signal"} {
		_, p = onlyEvent(t, bodyOf(t, stepup.UserEvent{Kind: stepup.SessionRevoked, UserID: "usr_1", SessionID: "ses_1", Reason: reason, At: eventTime}))
		if p["reason"] != reason {
			t.Errorf("user.session.revoked of reason %q has reason %v", reason, p["reason"])
		}
	}

	for _, kind := range []string{"user.deleted", "session.revoked", ""} {
		if _, ok := NewEvent(stepup.UserEvent{Kind: kind, UserID: "usr_1"}); ok {
			t.Errorf("kind %q made an event", kind)
		}
	}
	if _, ok := NewEvent(stepup.UserEvent{Kind: stepup.IdentifierAdded, UserID: "usr_1"}); ok {
		t.Error("an identifier event without its identifier")
	}
}

// TestEventIDs: an event that happens once per user or session has one ID,
// whoever reports it and however often; other users and sessions, and
// identifier events, get their own.
func TestEventIDs(t *testing.T) {
	id := func(ev stepup.UserEvent) string {
		e, _ := NewEvent(ev)
		return e.ID
	}
	revoked := stepup.UserEvent{Kind: stepup.SessionRevoked, UserID: "usr_1", SessionID: "ses_1", Reason: "logout", At: eventTime}
	again := revoked
	again.Reason, again.At = "admin", eventTime.Add(time.Second)
	if id(revoked) != id(again) {
		t.Error("two reports of one session's end have two IDs")
	}
	other := revoked
	other.SessionID = "ses_2"
	created := revoked
	created.Kind = stepup.SessionCreated
	if id(other) == id(revoked) || id(created) == id(revoked) {
		t.Error("another session, or the session's start, shares the ID")
	}
	if id(stepup.UserEvent{Kind: stepup.UserCreated, UserID: "usr_1"}) == id(stepup.UserEvent{Kind: stepup.UserCreated, UserID: "usr_2"}) {
		t.Error("two users created share an ID")
	}
	added := stepup.UserEvent{Kind: stepup.IdentifierAdded, UserID: "usr_1", Identifiers: []stepup.Identifier{{Type: "email_address", Value: "a@example.com"}}}
	if a, b := id(added), id(added); a == b || strings.Contains(a, "example") {
		t.Errorf("identifier events %s %s: want random IDs", a, b)
	}
}

// TestClientTextStaysAString: a user agent written to look like more
// members stays the one string it is.
func TestClientTextStaysAString(t *testing.T) {
	ua := `x","user_id":"usr_evil","identifier":{"type":"email_address","value":"v@example.com"}}` + "\u0000\n</script>"
	_, p := onlyEvent(t, bodyOf(t, stepup.UserEvent{Kind: stepup.SessionCreated, UserID: "usr_1", SessionID: "ses_1", UserAgent: ua, At: eventTime}))
	if p["user_id"] != "usr_1" || p["identifier"] != nil || p["metadata"].(map[string]any)["user_agent"] != ua {
		t.Errorf("payload %v", p)
	}
}

func TestSessionMetadataBoundsTheUserAgent(t *testing.T) {
	ua := strings.Repeat("é", 200) // 400 bytes
	_, p := onlyEvent(t, bodyOf(t, stepup.UserEvent{Kind: stepup.SessionCreated, UserID: "usr_1", SessionID: "ses_1", UserAgent: ua, At: eventTime}))
	got := p["metadata"].(map[string]any)["user_agent"].(string)
	if len(got) > maxUserAgent || !utf8.ValidString(got) || !strings.HasPrefix(ua, got) {
		t.Errorf("user agent of %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}
