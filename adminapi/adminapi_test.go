package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/sessionapi"
	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

const origin = "https://api.test"

// sentCodes is the OTP sender of the tests: it keeps the last code.
type sentCodes struct {
	mu   sync.Mutex
	last string
}

func (c *sentCodes) Send(_ context.Context, m otp.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = m.Code
	return nil
}

// gateway is a real engine on a memory store, with the session API in
// front of it so that tests log users in as the SDK does.
type gateway struct {
	engine *stepup.Engine
	codes  *sentCodes
	srv    *httptest.Server
}

func newGateway(t *testing.T, opts ...func(*stepup.Config)) *gateway {
	t.Helper()
	signer, err := jwks.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	mem := store.NewMemory()
	t.Cleanup(func() { _ = mem.Close() })
	verifier := func(typ string) *jwks.Verifier {
		v, err := jwks.NewVerifier(jwks.VerifierOptions{Issuers: []jwks.Issuer{{Issuer: origin, Audiences: []string{origin},
			Keys: signer.KeySource(), Algorithms: []string{"ES256"}, Types: []string{typ}}}})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	g := &gateway{codes: &sentCodes{}}
	cfg := stepup.Config{Issuer: origin, Signer: signer, Store: mem, Sender: g.codes,
		LoginIdentifiers: []string{stepup.IdentifierPhone}, ChallengeVerifier: verifier(stepup.ChallengeTokenType), HookSigner: signer}
	for _, o := range opts {
		o(&cfg)
	}
	g.engine, err = stepup.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.srv = httptest.NewServer(sessionapi.New(sessionapi.Config{Engine: g.engine, Tokens: verifier("at+jwt"), Issuer: origin,
		Nonces: dpop.NewNonces(nil, 0), ExternalOrigin: origin, JWKS: signer.PublicJWKS()}))
	t.Cleanup(g.srv.Close)
	return g
}

// login opens a session for phone and returns its user and session IDs.
func (g *gateway) login(t *testing.T, phone string) (user, sid string) {
	t.Helper()
	c := sessionclient.New(g.srv.URL)
	c.Origin = origin
	if r, err := c.StartLogin("phone_number", phone); err != nil || r.Status != 204 {
		t.Fatalf("login/otp: %v %v", r, err)
	}
	g.codes.mu.Lock()
	code := g.codes.last
	g.codes.mu.Unlock()
	if r, err := c.CheckLogin(code); err != nil || r.Status != 200 {
		t.Fatalf("login/otp/check: %v %v", r, err)
	}
	claims := sessionclient.Claims(c.AccessToken)
	return fmt.Sprint(claims["sub"]), fmt.Sprint(claims["sid"])
}

// call sends one request to api and returns the status, the header and
// the JSON body.
func call(t *testing.T, api *API, method, path string, header http.Header, body string) (int, http.Header, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, "http://localhost:2019"+path, strings.NewReader(body))
	for name, values := range header {
		r.Header[name] = values
	}
	w := httptest.NewRecorder()
	api.ServeHTTP(w, r)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: %d %q is not a JSON object", method, path, w.Code, w.Body.String())
	}
	return w.Code, w.Header(), out
}

// refusal checks a refusal's status and the SDK's error shape.
func refusal(t *testing.T, what string, status int, out map[string]any, want int) {
	t.Helper()
	if status != want || out["code"] == nil || out["message"] == nil || out["type"] == nil {
		t.Errorf("%s: %d %v, want %d in the SDK's error shape", what, status, out, want)
	}
}

func TestUserRoutesActOnTheEngine(t *testing.T) {
	g := newGateway(t)
	user, first := g.login(t, "+33612345601")
	_, second := g.login(t, "+33612345601")
	api := New(Config{Engine: g.engine})

	status, _, out := call(t, api, "GET", "/stepup/users/"+user+"/sessions", nil, "")
	sessions, _ := out["sessions"].([]any)
	if status != 200 || len(sessions) != 2 {
		t.Fatalf("GET sessions: %d %v", status, out)
	}
	for _, s := range sessions {
		s := s.(map[string]any)
		for _, field := range []string{"id", "user_agent", "created_at", "last_seen_at", "expires_at"} {
			if _, ok := s[field]; !ok {
				t.Errorf("a session without %s: %v", field, s)
			}
		}
	}
	if status, _, out := call(t, api, "DELETE", "/stepup/users/"+user+"/sessions/"+first, nil, ""); status != 200 || out["revoked"] != 1.0 {
		t.Fatalf("DELETE one session: %d %v", status, out)
	}
	if status, _, out := call(t, api, "DELETE", "/stepup/users/"+user+"/sessions/"+first, nil, ""); status != 404 {
		t.Errorf("DELETE the same session again: %d %v", status, out)
	}
	if status, _, out := call(t, api, "DELETE", "/stepup/users/"+user+"/grants", nil, ""); status != 200 || out["revoked"] != 0.0 {
		t.Errorf("DELETE grants of a user without any: %d %v", status, out)
	}
	if status, _, out := call(t, api, "DELETE", "/stepup/users/"+user+"/sessions", nil, ""); status != 200 || out["revoked"] != 1.0 {
		t.Fatalf("DELETE all sessions (only %s was left): %d %v", second, status, out)
	}
	if status, _, out := call(t, api, "GET", "/stepup/users/"+user+"/sessions", nil, ""); status != 200 || len(out["sessions"].([]any)) != 0 {
		t.Errorf("GET sessions after ending them: %d %v", status, out)
	}
	status, _, out = call(t, api, "GET", "/stepup/challenges/chl_"+strings.Repeat("A", 22), nil, "")
	refusal(t, "an unknown challenge", status, out, 404)
}

// A path that does not name exactly one route is a 404, and never reaches
// the engine: an empty or escaped segment must not turn DELETE of one
// session into DELETE of all of them.
func TestPathsThatNameNoRouteChangeNothing(t *testing.T) {
	g := newGateway(t)
	user, sid := g.login(t, "+33612345602")
	api := New(Config{Engine: g.engine, Management: &recordingManagement{}})
	for _, path := range []string{
		"/stepup/users/" + user + "/sessions/",
		"/stepup/users/" + user + "/sessions//",
		"/stepup/users//sessions",
		"/stepup/users/" + user + "%2Fsessions",
		"/stepup/users/" + user + "/sessions%2F" + sid,
		"/stepup/users/" + user + "/sessions/" + sid + "/x",
		"/stepup/users/" + user,
		"/stepup/users/" + user + "/grants/x",
		"/stepup/challenges/",
		"/stepup/",
		"/stepup/nothing",
		"/stepup/v2/session/apps/app/config/other",
		"/stepup/v2/session/apps/%7Benv.HOME%7D/config/stepup",
		"/stepup/v2/session/apps/a%2Fb/config/stepup",
		"/stepup/v2/session/apps//config/stepup",
		"/stepup/v2/session/apps/app/config/stepup/",
	} {
		status, _, out := call(t, api, "DELETE", path, nil, "")
		refusal(t, "DELETE "+path, status, out, 404)
	}
	if sessions, err := g.engine.AdminSessions(context.Background(), user); err != nil || len(sessions) != 1 {
		t.Fatalf("the session after the refused calls: %v %v", sessions, err)
	}
}

func TestOtherMethodsGet405WithAllow(t *testing.T) {
	g := newGateway(t)
	api := New(Config{Engine: g.engine, Management: &recordingManagement{}})
	user := "usr_" + strings.Repeat("A", 22)
	for path, allow := range map[string]string{
		"/stepup/users/" + user + "/sessions":                                "GET, DELETE",
		"/stepup/users/" + user + "/sessions/ses_" + strings.Repeat("A", 22): "DELETE",
		"/stepup/users/" + user + "/grants":                                  "DELETE",
		"/stepup/challenges/chl_" + strings.Repeat("A", 22):                  "GET",
		"/stepup/v2/session/apps/app_demo/config/stepup":                     "GET, POST",
		"/stepup/v2/session/apps/app_demo/config/scopes":                     "GET, POST",
		"/stepup/v2/session/apps/app_demo/config/passkey":                    "GET, PUT",
	} {
		for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get", "Delete"} {
			if strings.Contains(", "+allow+", ", ", "+method+", ") {
				continue
			}
			r := httptest.NewRequest(method, "http://localhost:2019"+path, nil)
			w := httptest.NewRecorder()
			api.ServeHTTP(w, r)
			if w.Code != 405 || w.Header().Get("Allow") != allow {
				t.Errorf("%s %s: %d, Allow %q; want 405 with Allow %q", method, path, w.Code, w.Header().Get("Allow"), allow)
			}
		}
	}
}

func TestWithoutEngineOrManagementEveryRouteAnswers503(t *testing.T) {
	api := New(Config{})
	user, id := "usr_"+strings.Repeat("A", 22), strings.Repeat("A", 22)
	for _, c := range []struct{ method, path string }{
		{"GET", "/stepup/users/" + user + "/sessions"},
		{"DELETE", "/stepup/users/" + user + "/sessions"},
		{"DELETE", "/stepup/users/" + user + "/sessions/ses_" + id},
		{"DELETE", "/stepup/users/" + user + "/grants"},
		{"GET", "/stepup/challenges/chl_" + id},
		{"GET", "/stepup/v2/session/apps/app/config/stepup"},
		{"GET", "/stepup/v2/session/apps/app/config/scopes"},
	} {
		status, _, out := call(t, api, c.method, c.path, nil, "")
		refusal(t, c.method+" "+c.path, status, out, 503)
	}
	status, _, out := call(t, api, "POST", "/stepup/v2/session/apps/app/config/scopes",
		http.Header{"Content-Type": {"application/json"}}, `{"scope":"a"}`)
	refusal(t, "POST without management", status, out, 503)
}

func TestKeyIsRequiredOnEveryRoute(t *testing.T) {
	g := newGateway(t)
	user, _ := g.login(t, "+33612345603")
	m := &recordingManagement{}
	const key = "a-management-key-of-some-length"
	api := New(Config{Engine: g.engine, Management: m, Key: key})
	paths := []struct{ method, path string }{
		{"GET", "/stepup/users/" + user + "/sessions"},
		{"DELETE", "/stepup/users/" + user + "/sessions"},
		{"DELETE", "/stepup/users/" + user + "/grants"},
		{"GET", "/stepup/challenges/chl_" + strings.Repeat("A", 22)},
		{"GET", "/stepup/v2/session/apps/app/config/stepup"},
		{"POST", "/stepup/v2/session/apps/app/config/scopes"},
		{"GET", "/stepup/nothing"}, // no route, and no telling without the key
		{"PATCH", "/stepup/users/" + user + "/grants"},
	}
	for name, header := range map[string]http.Header{
		"none":                 nil,
		"empty":                {"Authorization": {""}},
		"no scheme":            {"Authorization": {key}},
		"basic":                {"Authorization": {"Basic " + key}},
		"wrong key":            {"Authorization": {"Bearer a-management-key-of-some-lengtH"}},
		"prefix of the key":    {"Authorization": {"Bearer " + key[:len(key)-1]}},
		"key and more":         {"Authorization": {"Bearer " + key + "x"}},
		"two spaces":           {"Authorization": {"Bearer  " + key}},
		"trailing space":       {"Authorization": {"Bearer " + key + " "}},
		"twice the header":     {"Authorization": {"Bearer " + key, "Bearer " + key}},
		"a different header":   {"X-Management-Key": {key}},
		"key in a cookie only": {"Cookie": {"key=" + key}},
	} {
		for _, p := range paths {
			status, hdr, out := call(t, api, p.method, p.path, header, `{"scope":"a"}`)
			refusal(t, name+": "+p.method+" "+p.path, status, out, 401)
			if !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: WWW-Authenticate %q", name, hdr.Get("WWW-Authenticate"))
			}
		}
	}
	if len(m.calls) != 0 {
		t.Fatalf("management reached without the key: %v", m.calls)
	}
	if sessions, _ := g.engine.AdminSessions(context.Background(), user); len(sessions) != 1 {
		t.Fatalf("sessions ended without the key: %v", sessions)
	}
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		if status, _, out := call(t, api, "GET", "/stepup/users/"+user+"/sessions",
			http.Header{"Authorization": {scheme + " " + key}}, ""); status != 200 {
			t.Errorf("%s and the key: %d %v", scheme, status, out)
		}
	}
	if status, _, out := call(t, New(Config{Engine: g.engine}), "GET", "/stepup/users/"+user+"/sessions", nil, ""); status != 200 {
		t.Errorf("no key configured: %d %v", status, out)
	}
}

// recordingManagement is the Caddy shell's side of the management calls:
// it records what reaches it and answers what the test sets.
type recordingManagement struct {
	calls  []string
	bodies [][]byte
	err    error
}

func (m *recordingManagement) Read(_ context.Context, what Resource) (any, error) {
	m.calls = append(m.calls, "read "+string(what))
	return map[string]string{"read": string(what)}, m.err
}

func (m *recordingManagement) Change(_ context.Context, what Resource, body []byte) (any, error) {
	m.calls = append(m.calls, "change "+string(what))
	m.bodies = append(m.bodies, body)
	return map[string]string{"changed": string(what)}, m.err
}

func TestManagementCallsReachManagementWithTheirBody(t *testing.T) {
	m := &recordingManagement{}
	api := New(Config{Management: m})
	json := http.Header{"Content-Type": {"application/json"}}
	if status, _, out := call(t, api, "GET", "/stepup/v2/session/apps/app_demo/config/stepup", nil, ""); status != 200 || out["read"] != "stepup" {
		t.Fatalf("GET config/stepup: %d %v", status, out)
	}
	if status, _, out := call(t, api, "POST", "/stepup/v2/session/apps/app_demo/config/scopes", json, `{"scope":"a"}`); status != 200 || out["changed"] != "scopes" {
		t.Fatalf("POST config/scopes: %d %v", status, out)
	}
	if status, _, out := call(t, api, "PUT", "/stepup/v2/session/apps/app_demo/config/passkey", json, `{"rp_id":"a"}`); status != 200 || out["changed"] != "passkey" {
		t.Fatalf("PUT config/passkey: %d %v", status, out)
	}
	if status, _, out := call(t, api, "GET", "/stepup/v2/session/apps/app_demo/config/passkey", nil, ""); status != 200 || out["read"] != "passkey" {
		t.Fatalf("GET config/passkey: %d %v", status, out)
	}
	if strings.Join(m.calls, ",") != "read stepup,change scopes,change passkey,read passkey" || string(m.bodies[0]) != `{"scope":"a"}` ||
		string(m.bodies[1]) != `{"rp_id":"a"}` {
		t.Fatalf("management saw %v %q", m.calls, m.bodies)
	}
}

func TestManagementBodiesMustBeJSONWithinTheLimit(t *testing.T) {
	m := &recordingManagement{}
	api := New(Config{Management: m})
	const path = "/stepup/v2/session/apps/app/config/stepup"
	for name, ct := range map[string][]string{
		"none":                    nil,
		"text/plain":              {"text/plain"},
		"form":                    {"application/x-www-form-urlencoded"},
		"json and text":           {"application/json, text/plain"},
		"two headers":             {"application/json", "application/json"},
		"latin1":                  {"application/json; charset=latin1"},
		"another parameter":       {"application/json; boundary=x"},
		"json-seq":                {"application/json-seq"},
		"a suffix on json":        {"application/jsonx"},
		"vendor json":             {"application/vnd.api+json"},
		"multipart":               {"multipart/form-data; boundary=x"},
		"trailing garbage":        {"application/json x"},
		"the word json elsewhere": {"text/json"},
	} {
		header := http.Header{}
		if ct != nil {
			header["Content-Type"] = ct
		}
		status, _, out := call(t, api, "POST", path, header, `{}`)
		refusal(t, "Content-Type "+name, status, out, 400)
	}
	for _, ct := range []string{"application/json", "Application/JSON", "application/json; charset=utf-8", "application/json;charset=UTF-8"} {
		if status, _, out := call(t, api, "POST", path, http.Header{"Content-Type": {ct}}, `{}`); status != 200 {
			t.Errorf("Content-Type %q: %d %v", ct, status, out)
		}
	}
	json := http.Header{"Content-Type": {"application/json"}}
	atLimit := `{"x":"` + strings.Repeat("a", MaxBodyBytes-8) + `"}`
	if status, _, out := call(t, api, "POST", path, json, atLimit); status != 200 || len(m.bodies[len(m.bodies)-1]) != MaxBodyBytes {
		t.Errorf("a body of exactly %d bytes: %d %v", MaxBodyBytes, status, out)
	}
	calls := len(m.calls)
	status, _, out := call(t, api, "POST", path, json, atLimit+" ")
	refusal(t, "one byte over the limit", status, out, 413)
	if len(m.calls) != calls {
		t.Error("a body over the limit reached management")
	}
}

// A refusal of management goes to the caller as written; any other error
// is a 503 whose text the caller never sees (it may hold what Caddy
// resolved in the config).
func TestManagementErrorsShowOnlyRefusals(t *testing.T) {
	json := http.Header{"Content-Type": {"application/json"}}
	const path = "/stepup/v2/session/apps/app/config/stepup"
	m := &recordingManagement{err: &Error{apierror.Conflict, "conflict", "Changed meanwhile."}}
	status, _, out := call(t, New(Config{Management: m}), "POST", path, json, `{}`)
	if status != 409 || out["message"] != "Changed meanwhile." || out["type"] != "conflict" {
		t.Errorf("a refusal: %d %v", status, out)
	}
	const secret = "-----BEGIN EC PRIVATE KEY----- MHcCAQEE"
	for _, err := range []error{errors.New("loading new config: " + secret), fmt.Errorf("wrapped: %w", errors.New(secret))} {
		m := &recordingManagement{err: err}
		for _, method := range []string{"GET", "POST"} {
			status, _, out := call(t, New(Config{Management: m}), method, path, json, `{}`)
			raw, _ := jsonMarshal(out)
			refusal(t, method+" with a failure", status, out, 503)
			if strings.Contains(raw, secret) || strings.Contains(raw, "loading") {
				t.Errorf("%s: the failure's text reached the caller: %s", method, raw)
			}
		}
	}
}

func jsonMarshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
