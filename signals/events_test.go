package signals

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

const gatewayIssuer = "https://api.example.com"

// TestDecisions sends each event the receiver acts on, with each subject
// form, and checks the action and what it reaches.
func TestDecisions(t *testing.T) {
	ctx := context.Background()
	key := newECKey(t, "k")
	r := newTestReceiver(t, store.NewMemory(), keySource(t, key), func(tr *Transmitter) { tr.SubjectIssuers = []string{gatewayIssuer} })
	issSub := func(iss, sub string) map[string]any {
		return map[string]any{"format": "iss_sub", "iss": iss, "sub": sub}
	}
	opaque := func(id string) map[string]any { return map[string]any{"format": "opaque", "id": id} }
	user := func(iss, sub string) Targets { return Targets{Users: []UserRef{{Issuer: iss, Subject: sub}}} }
	for name, tc := range map[string]struct {
		event   string
		payload map[string]any
		subject map[string]any
		action  Action
		targets Targets
	}{
		"session-revoked, a user":               {EventSessionRevoked, map[string]any{}, issSub(testIssuer, "u1"), ActionRevokeAccess, user(testIssuer, "u1")},
		"session-revoked, an opaque session":    {EventSessionRevoked, map[string]any{}, opaque("sid-1"), ActionRevokeAccess, Targets{Sessions: []SessionRef{{Issuer: testIssuer, SID: "sid-1"}}}},
		"session-revoked, user and session":     {EventSessionRevoked, map[string]any{"initiating_entity": "policy", "reason_admin": map[string]any{"en": "x"}}, map[string]any{"format": "complex", "user": issSub(testIssuer, "u1"), "session": opaque("sid-1"), "tenant": opaque("t")}, ActionRevokeAccess, Targets{Sessions: []SessionRef{{Issuer: testIssuer, SID: "sid-1"}}}},
		"session-revoked, user and device":      {EventSessionRevoked, map[string]any{}, map[string]any{"format": "complex", "user": issSub(testIssuer, "u1"), "device": opaque("d")}, ActionRevokeAccess, user(testIssuer, "u1")},
		"session-revoked, a gateway session":    {EventSessionRevoked, map[string]any{}, map[string]any{"format": "complex", "session": issSub(gatewayIssuer, "ses_1")}, ActionRevokeAccess, Targets{Sessions: []SessionRef{{Issuer: gatewayIssuer, SID: "ses_1"}}}},
		"session-revoked, an email":             {EventSessionRevoked, map[string]any{}, emailSubject("a@example.com"), ActionRevokeAccess, Targets{Users: []UserRef{{Email: "a@example.com"}}}},
		"session-revoked, a phone number":       {EventSessionRevoked, map[string]any{}, map[string]any{"format": "phone_number", "phone_number": "+12065550100"}, ActionRevokeAccess, Targets{Users: []UserRef{{Phone: "+12065550100"}}}},
		"session-revoked, another issuer's sub": {EventSessionRevoked, map[string]any{}, issSub("https://other.example/", "u1"), ActionRevokeAccess, Targets{}},
		"session-revoked, a gateway user":       {EventSessionRevoked, map[string]any{}, issSub(gatewayIssuer, "usr_1"), ActionRevokeAccess, user(gatewayIssuer, "usr_1")},
		"session-revoked, a token":              {EventSessionRevoked, map[string]any{}, map[string]any{"format": "jwt_id", "iss": testIssuer, "jti": "t1"}, ActionRevokeAccess, Targets{Tokens: []TokenRef{{Issuer: testIssuer, JTI: "t1"}}}},
		"session-revoked, aliases":              {EventSessionRevoked, map[string]any{}, map[string]any{"format": "aliases", "identifiers": []any{emailSubject("a@example.com"), issSub(testIssuer, "u1")}}, ActionRevokeAccess, Targets{Users: []UserRef{{Email: "a@example.com"}, {Issuer: testIssuer, Subject: "u1"}}}},
		"session-revoked, a proprietary format": {EventSessionRevoked, map[string]any{}, map[string]any{"format": "catalog_item", "catalog_id": "c"}, ActionRevokeAccess, Targets{}},
		"credential-change":                     {EventCredentialChange, map[string]any{"credential_type": "password", "change_type": "update"}, issSub(testIssuer, "u1"), ActionEndSessions, user(testIssuer, "u1")},
		"credential-change, user and session":   {EventCredentialChange, map[string]any{"credential_type": "fido2-roaming", "change_type": "create"}, map[string]any{"format": "complex", "user": issSub(testIssuer, "u1"), "session": opaque("s")}, ActionEndSessions, user(testIssuer, "u1")},
		"assurance-level-change, decrease":      {EventAssuranceLevelChange, map[string]any{"namespace": "NIST-AAL", "current_level": "nist-aal1", "previous_level": "nist-aal2", "change_direction": "decrease"}, issSub(testIssuer, "u1"), ActionDropStepUps, user(testIssuer, "u1")},
		"assurance-level-change, no direction":  {EventAssuranceLevelChange, map[string]any{"namespace": "Retinal Scan", "current_level": "lo-res"}, issSub(testIssuer, "u1"), ActionDropStepUps, user(testIssuer, "u1")},
		"assurance-level-change, increase":      {EventAssuranceLevelChange, map[string]any{"namespace": "NIST-AAL", "current_level": "nist-aal2", "change_direction": "increase"}, issSub(testIssuer, "u1"), ActionNone, Targets{}},
		"account-disabled":                      {EventAccountDisabled, map[string]any{"reason": "hijacking"}, emailSubject("a@example.com"), ActionRevokeAccess, Targets{Users: []UserRef{{Email: "a@example.com"}}}},
		"account-disabled, user and session":    {EventAccountDisabled, map[string]any{}, map[string]any{"format": "complex", "user": opaque("u1"), "session": opaque("s")}, ActionRevokeAccess, user(testIssuer, "u1")},
		"account-purged":                        {EventAccountPurged, map[string]any{}, opaque("u1"), ActionRevokeAccess, user(testIssuer, "u1")},
		"sessions-revoked":                      {EventSessionsRevoked, map[string]any{}, issSub(testIssuer, "u1"), ActionRevokeAccess, user(testIssuer, "u1")},
		"credential-compromise":                 {EventCredentialCompromise, map[string]any{"credential_type": "password", "event_timestamp": 1615304991}, issSub(testIssuer, "u1"), ActionRevokeAccess, user(testIssuer, "u1")},
		"an unknown event":                      {"https://schemas.openid.net/secevent/caep/event-type/device-compliance-change", map[string]any{"anything": []any{1}}, issSub(testIssuer, "u1"), ActionNone, Targets{}},
		"an unknown event, any subject":         {"urn:example:event", map[string]any{}, map[string]any{"format": "catalog_item"}, ActionNone, Targets{}},
		"account-enabled (not acted on)":        {"https://schemas.openid.net/secevent/risc/event-type/account-enabled", map[string]any{}, emailSubject("a@example.com"), ActionNone, Targets{}},
	} {
		a, err := r.Receive(ctx, push(key.sign(claims(tc.event, tc.payload, tc.subject))))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if a.Decision.Action != tc.action || !reflect.DeepEqual(a.Decision.Targets, tc.targets) {
			t.Errorf("%s: action %d targets %+v, want %d %+v", name, a.Decision.Action, a.Decision.Targets, tc.action, tc.targets)
		}
	}
}

func TestEventPayloadsAreChecked(t *testing.T) {
	ctx := context.Background()
	key := newECKey(t, "k")
	r := newTestReceiver(t, store.NewMemory(), keySource(t, key))
	sub := emailSubject("a@example.com")
	for name, tc := range map[string]struct {
		event   string
		payload map[string]any
	}{
		"credential-change without change_type":      {EventCredentialChange, map[string]any{"credential_type": "password"}},
		"credential-change without credential_type":  {EventCredentialChange, map[string]any{"change_type": "update"}},
		"credential-change of an unknown change":     {EventCredentialChange, map[string]any{"credential_type": "password", "change_type": "rotate"}},
		"assurance-level-change without namespace":   {EventAssuranceLevelChange, map[string]any{"current_level": "x"}},
		"assurance-level-change without level":       {EventAssuranceLevelChange, map[string]any{"namespace": "x"}},
		"assurance-level-change sideways":            {EventAssuranceLevelChange, map[string]any{"namespace": "x", "current_level": "y", "change_direction": "sideways"}},
		"assurance-level-change, level a number":     {EventAssuranceLevelChange, map[string]any{"namespace": "x", "current_level": 2}},
		"credential-compromise without type":         {EventCredentialCompromise, map[string]any{}},
		"account-disabled, reason a number":          {EventAccountDisabled, map[string]any{"reason": 1}},
		"event_timestamp a string":                   {EventSessionRevoked, map[string]any{"event_timestamp": "1615304991"}},
		"initiating_entity unknown":                  {EventSessionRevoked, map[string]any{"initiating_entity": "attacker"}},
		"reason_admin a string":                      {EventSessionRevoked, map[string]any{"reason_admin": "x"}},
		"reason_user empty":                          {EventSessionRevoked, map[string]any{"reason_user": map[string]any{}}},
		"reason_user of numbers":                     {EventSessionRevoked, map[string]any{"reason_user": map[string]any{"en": 1}}},
		"verification state a number":                {EventVerification, map[string]any{"state": 1}},
		"stream-updated, status of another spelling": {EventStreamUpdated, map[string]any{"status": "Enabled"}},
	} {
		_, err := r.Receive(ctx, push(key.sign(claims(tc.event, tc.payload, sub))))
		if !errors.Is(err, ErrEventPayload) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSubjects(t *testing.T) {
	for name, tc := range map[string]struct {
		raw  string
		want *Subject
		err  bool
	}{
		"email":                  {raw: `{"format":"email","email":"a@example.com"}`, want: &Subject{Format: "email", Email: "a@example.com"}},
		"iss_sub":                {raw: `{"format":"iss_sub","iss":"i","sub":"s"}`, want: &Subject{Format: "iss_sub", Issuer: "i", Subject: "s"}},
		"opaque":                 {raw: `{"format":"opaque","id":"x"}`, want: &Subject{Format: "opaque", ID: "x"}},
		"account":                {raw: `{"format":"account","uri":"acct:a@example.com"}`, want: &Subject{Format: "account", URI: "acct:a@example.com"}},
		"did":                    {raw: `{"format":"did","url":"did:example:1"}`, want: &Subject{Format: "did", URL: "did:example:1"}},
		"jwt_id":                 {raw: `{"format":"jwt_id","iss":"i","jti":"j"}`, want: &Subject{Format: "jwt_id", Issuer: "i", JTI: "j"}},
		"unknown format":         {raw: `{"format":"x-custom","a":1}`, want: &Subject{Format: "x-custom"}},
		"ip-addresses":           {raw: `{"format":"ip-addresses","ip-addresses":["10.0.0.1"]}`, want: &Subject{Format: "ip-addresses"}},
		"extra members ignored":  {raw: `{"format":"email","email":"a@example.com","x":1}`, want: &Subject{Format: "email", Email: "a@example.com"}},
		"format absent":          {raw: `{"email":"a@example.com"}`, err: true},
		"format empty":           {raw: `{"format":""}`, err: true},
		"format a number":        {raw: `{"format":1}`, err: true},
		"email empty":            {raw: `{"format":"email","email":""}`, err: true},
		"email null":             {raw: `{"format":"email","email":null}`, err: true},
		"iss_sub, iss absent":    {raw: `{"format":"iss_sub","sub":"s"}`, err: true},
		"aliases empty":          {raw: `{"format":"aliases","identifiers":[]}`, err: true},
		"aliases nested":         {raw: `{"format":"aliases","identifiers":[{"format":"aliases","identifiers":[{"format":"opaque","id":"x"}]}]}`, err: true},
		"aliases of strings":     {raw: `{"format":"aliases","identifiers":["x"]}`, err: true},
		"complex member string":  {raw: `{"format":"complex","user":"x"}`, err: true},
		"complex member invalid": {raw: `{"format":"complex","user":{"format":"email"}}`, err: true},
		"ip-addresses empty":     {raw: `{"format":"ip-addresses","ip-addresses":[]}`, err: true},
		"a value too long":       {raw: `{"format":"opaque","id":"` + string(make([]byte, 0)) + longString(1025) + `"}`, err: true},
	} {
		m, err := parseTop(tc.raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := parseSubject(m, false)
		if tc.err {
			if err == nil {
				t.Errorf("%s: accepted %+v", name, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v %v", name, got, err)
		}
	}
}
