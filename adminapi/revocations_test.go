package adminapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/revocation"
	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

const idp = "https://idp.test"

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

// revocationAPI is the admin API over a real revocation list, with the
// gateway's issuer and one trusted issuer.
func revocationAPI(t *testing.T, now time.Time) (*API, *revocation.List) {
	t.Helper()
	clock := func() time.Time { return now }
	list, err := revocation.New(revocation.Options{Ledger: store.NewMemoryLedger(clock), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := list.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(list.Stop)
	return New(Config{Revocations: list, GatewayIssuer: origin, Now: clock,
		RevocationIssuers: RevocationIssuers{origin: 16 * time.Minute, idp: 24 * time.Hour}}), list
}

func refusedBy(t *testing.T, l *revocation.List, tok revocation.TokenFacts) bool {
	t.Helper()
	e, err := l.Check(tok)
	if err != nil {
		t.Fatal(err)
	}
	return e != nil
}

func TestRevokeBySubjectSessionAndToken(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	api, list := revocationAPI(t, now)
	for _, tc := range []struct {
		body   string
		tok    revocation.TokenFacts
		issuer string
		until  time.Time
	}{
		{`{"kind":"sub","value":"alice","issuer":"` + idp + `"}`,
			revocation.TokenFacts{Issuer: idp, Subject: "alice", IssuedAt: now.Add(-time.Minute)}, idp, now.Add(24 * time.Hour)},
		{`{"kind":"sid","value":"ses_1"}`,
			revocation.TokenFacts{Issuer: origin, Subject: "usr_1", SessionID: "ses_1"}, origin, now.Add(16 * time.Minute)},
		{`{"kind":"jti","value":"tok_1","issuer":"` + origin + `","until":"` + now.Add(time.Hour).Format(time.RFC3339) + `"}`,
			revocation.TokenFacts{Issuer: origin, Subject: "usr_1", ID: "tok_1"}, origin, now.Add(time.Hour)},
	} {
		if refusedBy(t, list, tc.tok) {
			t.Fatalf("refused before %s", tc.body)
		}
		status, _, out := call(t, api, "POST", "/stepup/revocations", jsonHeader, tc.body)
		rev, _ := out["revocation"].(map[string]any)
		if status != 201 || rev == nil || rev["issuer"] != tc.issuer || rev["reason"] != "admin" ||
			rev["until"] != tc.until.UTC().Format(time.RFC3339) {
			t.Fatalf("POST %s: %d %v", tc.body, status, out)
		}
		if !refusedBy(t, list, tc.tok) {
			t.Fatalf("after POST %s the token passes", tc.body)
		}
	}
	// A subject revocation leaves the subject's later tokens alone.
	if refusedBy(t, list, revocation.TokenFacts{Issuer: idp, Subject: "alice", IssuedAt: now.Add(time.Second)}) {
		t.Fatal("a token issued after the revocation was refused")
	}

	status, _, out := call(t, api, "GET", "/stepup/revocations", nil, "")
	if revs, _ := out["revocations"].([]any); status != 200 || len(revs) != 3 || out["total"] != 3.0 {
		t.Fatalf("GET: %d %v", status, out)
	}
	status, _, out = call(t, api, "GET", "/stepup/revocations?kind=sub&issuer="+idp+"&value=alice", nil, "")
	revs, _ := out["revocations"].([]any)
	if status != 200 || len(revs) != 1 || revs[0].(map[string]any)["value"] != "alice" {
		t.Fatalf("GET the subject: %d %v", status, out)
	}
	status, _, out = call(t, api, "GET", "/stepup/revocations?limit=1", nil, "")
	if revs, _ := out["revocations"].([]any); status != 200 || len(revs) != 1 || out["total"] != 3.0 {
		t.Fatalf("GET limit=1: %d %v", status, out)
	}
}

// Every refused call changes nothing: the list stays empty.
func TestBadRevocationsChangeNothing(t *testing.T) {
	now := time.Now()
	api, list := revocationAPI(t, now)
	for name, body := range map[string]string{
		"no kind":              `{"value":"alice"}`,
		"unknown kind":         `{"kind":"user","value":"alice"}`,
		"kind in another case": `{"kind":"SUB","value":"alice"}`,
		"no value":             `{"kind":"sub"}`,
		"empty value":          `{"kind":"sub","value":""}`,
		"value not a string":   `{"kind":"sub","value":7}`,
		"null value":           `{"kind":"sub","value":null}`,
		"an unknown issuer":    `{"kind":"sub","value":"alice","issuer":"https://evil.test"}`,
		"issuer with a slash":  `{"kind":"sub","value":"alice","issuer":"` + idp + `/"}`,
		"duplicate kind":       `{"kind":"jti","kind":"sub","value":"alice"}`,
		"case-variant member":  `{"kind":"sub","Kind":"jti","value":"alice"}`,
		"unknown member":       `{"kind":"sub","value":"alice","reason":"x"}`,
		"until past":           `{"kind":"sub","value":"alice","until":"` + now.Add(-time.Minute).Format(time.RFC3339) + `"}`,
		"until too far":        `{"kind":"sub","value":"alice","until":"` + now.Add(revocation.MaxDuration+time.Hour).Format(time.RFC3339) + `"}`,
		"until not RFC 3339":   `{"kind":"sub","value":"alice","until":"tomorrow"}`,
		"value too long":       `{"kind":"sub","value":"` + strings.Repeat("a", revocation.MaxValueLength+1) + `"}`,
		"not an object":        `["sub","alice"]`,
		"two objects":          `{"kind":"sub","value":"a"}{"kind":"sub","value":"b"}`,
		"empty":                ``,
	} {
		status, _, out := call(t, api, "POST", "/stepup/revocations", jsonHeader, body)
		refusal(t, name, status, out, 400)
	}
	status, _, out := call(t, api, "POST", "/stepup/revocations", http.Header{"Content-Type": {"text/plain"}}, `{"kind":"sub","value":"alice"}`)
	refusal(t, "text/plain", status, out, 400)
	status, _, out = call(t, api, "POST", "/stepup/revocations", jsonHeader, `{"kind":"sub","value":"`+strings.Repeat("a", MaxBodyBytes)+`"}`)
	refusal(t, "a body over the limit", status, out, 413)
	for _, q := range []string{"kind=user", "kind=sub&kind=sid", "limit=0", "limit=1001", "limit=x", "user=alice"} {
		status, _, out := call(t, api, "GET", "/stepup/revocations?"+q, nil, "")
		refusal(t, "GET ?"+q, status, out, 400)
	}
	if list.Len() != 0 {
		t.Fatalf("%d revocations after refused calls", list.Len())
	}
}

func TestRevocationRoutesWithoutAList(t *testing.T) {
	api := New(Config{})
	for _, method := range []string{"GET", "POST"} {
		status, _, out := call(t, api, method, "/stepup/revocations", jsonHeader, `{"kind":"sub","value":"a"}`)
		refusal(t, method+" without a list", status, out, 503)
	}
	status, hdr, out := call(t, api, "DELETE", "/stepup/revocations", nil, "")
	if refusal(t, "DELETE", status, out, 405); hdr.Get("Allow") != "GET, POST" {
		t.Errorf("Allow %q", hdr.Get("Allow"))
	}
}

func TestRevocationRoutesNeedTheKey(t *testing.T) {
	_, list := revocationAPI(t, time.Now())
	api := New(Config{Revocations: list, GatewayIssuer: origin, RevocationIssuers: RevocationIssuers{origin: time.Minute},
		Key: "0123456789abcdef0123"})
	status, _, out := call(t, api, "POST", "/stepup/revocations", jsonHeader, `{"kind":"sub","value":"alice"}`)
	refusal(t, "without the key", status, out, 401)
	if list.Len() != 0 {
		t.Fatal("a call without the key revoked")
	}
	hdr := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer 0123456789abcdef0123"}}
	if status, _, out := call(t, api, "POST", "/stepup/revocations", hdr, `{"kind":"sub","value":"alice"}`); status != 201 {
		t.Fatalf("with the key: %d %v", status, out)
	}
}

// Ending sessions through the admin API revokes their access tokens.
func TestDeletingSessionsRevokesTheirTokens(t *testing.T) {
	_, list := revocationAPI(t, time.Now())
	g := newGateway(t, func(c *stepup.Config) { c.Revocations = list })
	api := New(Config{Engine: g.engine})
	user, first := g.login(t, "+33612345611")
	_, second := g.login(t, "+33612345611")
	tok := func(sid string) revocation.TokenFacts {
		return revocation.TokenFacts{Issuer: origin, Subject: user, SessionID: sid}
	}
	if status, _, out := call(t, api, "DELETE", "/stepup/users/"+user+"/sessions/"+first, nil, ""); status != 200 {
		t.Fatalf("DELETE one session: %d %v", status, out)
	}
	if !refusedBy(t, list, tok(first)) || refusedBy(t, list, tok(second)) {
		t.Fatal("after ending the first session, its tokens pass or the second's are refused")
	}
	if status, _, out := call(t, api, "DELETE", "/stepup/users/"+user+"/sessions", nil, ""); status != 200 {
		t.Fatalf("DELETE all sessions: %d %v", status, out)
	}
	if !refusedBy(t, list, tok(second)) {
		t.Fatal("after ending every session, the second's tokens pass")
	}
}
