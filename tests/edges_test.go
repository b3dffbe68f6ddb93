package tests

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
)

// edgeStores are the stores the edge tests run on.
var edgeStores = []struct {
	name  string
	store func(t *testing.T) string
}{
	{"memory", func(*testing.T) string { return "store memory" }},
	{"redis", func(t *testing.T) string { return "store redis redis://" + redistest.Start(t).Addr + "/0" }},
}

const stepUpChallenge = `Bearer error="insufficient_user_authentication", scope="transfer:write"`

// TestTransactionBindingMeansOneThingToEveryParser: a single-use grant
// approved for {"amount":"500","currency":"USD"} pays exactly that, whatever
// parser the legacy API uses. Each refused body spends its grant.
func TestTransactionBindingMeansOneThingToEveryParser(t *testing.T) {
	for _, st := range edgeStores {
		t.Run(st.name, func(t *testing.T) {
			env := startEdgeGateway(t, st.store(t))
			// A user may open 10 challenges per 10 minutes: one user per case.
			users := 0
			newUser := func() *sessionclient.Client {
				users++
				return env.login(t, fmt.Sprintf("+1415555%04d", users))
			}
			approved := map[string]string{"amount": "500", "currency": "USD"}
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			zw.Write([]byte(`{"amount":"5000","currency":"USD"}`))
			zw.Close()

			for _, tc := range []struct {
				name     string
				metadata map[string]string
				path     string
				header   http.Header
				body     string
			}{
				{"case-variant duplicate (Go, ASP.NET read Amount)", approved, "/api/transfers", nil, `{"amount":"500","currency":"USD","Amount":"5000"}`},
				{"duplicate, first one differs (first-wins parsers)", approved, "/api/transfers", nil, `{"amount":"5000","currency":"USD","amount":"500"}`},
				{"duplicate, last one differs", approved, "/api/transfers", nil, `{"amount":"500","currency":"USD","amount":"5000"}`},
				{"escaped-name duplicate", approved, "/api/transfers", nil, `{"amount":"500","currency":"USD","\u0061mount":"5000"}`},
				{"the JSON sent as a form", approved, "/api/transfers", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, `{"amount":"500","currency":"USD","memo":"x&amount=5000"}`},
				{"text/plain", approved, "/api/transfers", http.Header{"Content-Type": {"text/plain"}}, `{"amount":"500","currency":"USD"}`},
				{"latin-1", approved, "/api/transfers", http.Header{"Content-Type": {"application/json; charset=iso-8859-1"}}, `{"amount":"500","currency":"USD"}`},
				{"the amount in the query", approved, "/api/transfers?amount=5000", nil, `{"amount":"500","currency":"USD"}`},
				{"the amount in the query, another case", approved, "/api/transfers?Amount=5000", nil, `{"amount":"500","currency":"USD"}`},
				{"gzip", approved, "/api/transfers", http.Header{"Content-Encoding": {"gzip"}}, gz.String()},
				{"trailing second object", approved, "/api/transfers", nil, `{"amount":"500","currency":"USD"}{"amount":"5000"}`},
				{"lone surrogate", approved, "/api/transfers", nil, `{"amount":"500","currency":"USD","memo":"\ud800"}`},
				{"number written otherwise", approved, "/api/transfers", nil, `{"amount":5e2,"currency":"USD"}`},
				{"ten times the amount", approved, "/api/transfers", nil, `{"amount":"5000","currency":"USD"}`},
				{"metadata NUL, body object", map[string]string{"amount": "\x00", "currency": "USD"}, "/api/transfers", nil, `{"amount":{},"currency":"USD"}`},
				{"metadata NUL, body array", map[string]string{"amount": "\x00", "currency": "USD"}, "/api/transfers", nil, `{"amount":[],"currency":"USD"}`},
				{"metadata NUL, body true", map[string]string{"amount": "\x00", "currency": "USD"}, "/api/transfers", nil, `{"amount":true,"currency":"USD"}`},
				{"metadata empty, body null", map[string]string{"amount": "", "currency": "USD"}, "/api/transfers", nil, `{"amount":null,"currency":"USD"}`},
			} {
				t.Run(tc.name, func(t *testing.T) {
					token := env.singleUseToken(t, newUser(), tc.metadata)
					header := jsonHeader(token)
					for k, v := range tc.header {
						header[k] = v
					}
					before := env.api.hits.Load()
					env.refused(t, env.send(t, "POST", tc.path, header, []byte(tc.body)), before, 401, stepUpChallenge, "step_up_required")
					// The refusal spent the grant: the right body no longer passes.
					env.refused(t, env.send(t, "POST", "/api/transfers", jsonHeader(token), []byte(`{"amount":"500","currency":"USD"}`)), before, 401, stepUpChallenge, "step_up_required")
				})
			}

			t.Run("the approved transaction passes once, byte for byte", func(t *testing.T) {
				token := env.singleUseToken(t, newUser(), approved)
				body := "{\"currency\" : \"USD\",\n \"amount\": 500, \"memo\": \"rent \\u00e9\"}"
				before := env.api.hits.Load()
				got := env.send(t, "POST", "/api/transfers", http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json; charset=UTF-8"}}, []byte(body))
				if got.status != 200 || env.api.hits.Load()-before != 1 {
					t.Fatalf("approved body: %d %s", got.status, got.body)
				}
				if string(env.api.body()) != body {
					t.Errorf("the legacy API got %q, want %q", env.api.body(), body)
				}
				env.refused(t, env.send(t, "POST", "/api/transfers", jsonHeader(token), []byte(body)), env.api.hits.Load(), 401, stepUpChallenge, "step_up_required")
			})

			t.Run("no grant, no transaction", func(t *testing.T) {
				// A token that never stepped up, and one from the identity
				// provider carrying the scope for good: neither approved a transaction.
				before := env.api.hits.Load()
				env.refused(t, env.send(t, "POST", "/api/transfers", jsonHeader(newUser().AccessToken), []byte(`{"amount":"500","currency":"USD"}`)), before, 401, stepUpChallenge, "step_up_required")
				idpToken := env.key.token(t, env.idp.issuer, func(h, c map[string]any) { c["scope"] = "transfer:write" })
				env.refused(t, env.send(t, "POST", "/api/transfers", jsonHeader(idpToken), []byte(`{"amount":"500","currency":"USD"}`)), before, 401, stepUpChallenge, "step_up_required")
			})

			t.Run("metadata the gateway would read twice is refused at the request", func(t *testing.T) {
				resp, err := newUser().Do(sessionRequest("/v1/session/stepup/request", `{"scope":"transfer:write","metadata":{"amount":"500","Amount":"5000"}}`))
				if err != nil || resp.Status != 400 || resp.Code() != "invalid_metadata" {
					t.Fatalf("case-variant metadata: %v %v", resp, err)
				}
			})
		})
	}
}

// TestOneCredentialPerRequest: an access_token parameter anywhere an
// upstream parser could find it is 400 invalid_request, and the legacy API
// is never called; bodies that are not forms still stream through.
func TestOneCredentialPerRequest(t *testing.T) {
	env := startEdgeGateway(t, "store memory")
	token := env.key.token(t, env.idp.issuer, nil)
	auth := "Bearer " + token
	form := func(body string) (http.Header, []byte) {
		return http.Header{"Authorization": {auth}, "Content-Type": {"application/x-www-form-urlencoded"}}, []byte(body)
	}
	multipartWith := func(parts ...[2]string) (http.Header, []byte) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		for _, p := range parts {
			pw, _ := w.CreatePart(textproto.MIMEHeader{"Content-Disposition": {p[0]}})
			pw.Write([]byte(p[1]))
		}
		w.Close()
		return http.Header{"Authorization": {auth}, "Content-Type": {w.FormDataContentType()}}, buf.Bytes()
	}
	badRequest := `Bearer error="invalid_request"`
	for _, tc := range []struct {
		name   string
		path   string
		header http.Header
		body   []byte
		status int
		www    string
		code   string
	}{
		{"query access%5Ftoken", "/api/payments?access%5Ftoken=X", http.Header{"Authorization": {auth}}, nil, 400, badRequest, "bad_request"},
		{"query access_token alone", "/api/payments?access_token=" + token, nil, nil, 400, badRequest, "bad_request"},
		{"query ACCESS_TOKEN", "/api/payments?ref=1&ACCESS_TOKEN=X", http.Header{"Authorization": {auth}}, nil, 400, badRequest, "bad_request"},
		{"query double-encoded", "/api/payments?access%255Ftoken=X", http.Header{"Authorization": {auth}}, nil, 400, badRequest, "bad_request"},
		{"query %u escape", "/api/payments?access%u005Ftoken=X", http.Header{"Authorization": {auth}}, nil, 400, badRequest, "bad_request"},
		{"query PHP mangling", "/api/payments?access.token=X", http.Header{"Authorization": {auth}}, nil, 400, badRequest, "bad_request"},
		{"query semicolon", "/api/payments?a=1;access_token=X", http.Header{"Authorization": {auth}}, nil, 400, badRequest, "bad_request"},
		{"form access_token after 64 KiB", "/api/payments", nil, nil, 400, badRequest, "bad_request"},
		{"form access%5Ftoken", "/api/payments", nil, nil, 400, badRequest, "bad_request"},
		{"form access_token alone, no Authorization", "/api/payments", nil, nil, 400, badRequest, "bad_request"},
		{"multipart part access_token", "/api/payments", nil, nil, 400, badRequest, "bad_request"},
		{"multipart part after a 600 KiB file", "/api/payments", nil, nil, 400, badRequest, "bad_request"},
		{"multipart name*", "/api/payments", nil, nil, 400, badRequest, "bad_request"},
		{"gzip form", "/api/payments", nil, nil, 400, badRequest, "bad_request"},
		{"two Content-Types", "/api/payments", http.Header{"Authorization": {auth}, "Content-Type": {"application/json", "application/x-www-form-urlencoded"}}, []byte("access_token=x"), 400, badRequest, "bad_request"},
		{"form over the 1 MiB limit", "/api/payments", nil, nil, 413, "", "body_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header, body := tc.header, tc.body
			switch tc.name {
			case "form access_token after 64 KiB":
				header, body = form("memo=" + strings.Repeat("x", 70<<10) + "&access_token=X")
			case "form access%5Ftoken":
				header, body = form("a=1&access%5Ftoken=X")
			case "form access_token alone, no Authorization":
				header, body = form("access_token=" + token)
				delete(header, "Authorization")
			case "multipart part access_token":
				header, body = multipartWith([2]string{`form-data; name="memo"`, "x"}, [2]string{`form-data; name="access_token"`, "X"})
			case "multipart part after a 600 KiB file":
				header, body = multipartWith([2]string{`form-data; name="file"; filename="a.bin"`, strings.Repeat("\x00\x01", 300<<10)}, [2]string{`form-data; name="access_token"`, "X"})
			case "multipart name*":
				header, body = multipartWith([2]string{`form-data; name="memo"; name*=UTF-8''access_token`, "X"})
			case "gzip form":
				var gz bytes.Buffer
				zw := gzip.NewWriter(&gz)
				zw.Write([]byte("access_token=X"))
				zw.Close()
				header, body = form(gz.String())
				header.Set("Content-Encoding", "gzip")
			case "form over the 1 MiB limit":
				header, body = form("memo=" + strings.Repeat("x", 1<<20))
			}
			before := env.api.hits.Load()
			env.refused(t, env.send(t, "POST", tc.path, header, body), before, tc.status, tc.www, tc.code)
		})
	}

	// What must still work, unchanged, behind stepup.
	for _, tc := range []struct {
		name        string
		contentType string
		body        []byte
	}{
		{"3 MiB JSON", "application/json", []byte(`{"data":"` + strings.Repeat("a", 3<<20) + `","access_token":"in JSON is just data"}`)},
		{"8 MiB binary upload", "application/octet-stream", bytes.Repeat([]byte{0, 1, 2, 255}, 2<<20)},
		{"form at the limit", "application/x-www-form-urlencoded", []byte("memo=" + strings.Repeat("x", 1<<20-5))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := env.api.hits.Load()
			got := env.send(t, "POST", "/api/uploads", http.Header{"Authorization": {auth}, "Content-Type": {tc.contentType}}, tc.body)
			if got.status != 200 || env.api.hits.Load()-before != 1 {
				t.Fatalf("%d %s", got.status, got.body)
			}
			if !bytes.Equal(env.api.body(), tc.body) {
				t.Errorf("the legacy API got %d bytes, want the %d sent", len(env.api.body()), len(tc.body))
			}
		})
	}
	t.Run("multipart upload", func(t *testing.T) {
		header, body := multipartWith([2]string{`form-data; name="memo"`, "hello"}, [2]string{`form-data; name="file"; filename="access_token.bin"`, strings.Repeat("\xff\x00", 200<<10)})
		before := env.api.hits.Load()
		got := env.send(t, "POST", "/api/uploads", header, body)
		if got.status != 200 || env.api.hits.Load()-before != 1 || !bytes.Equal(env.api.body(), body) {
			t.Fatalf("%d %s; upstream got %d of %d bytes", got.status, got.body, len(env.api.body()), len(body))
		}
	})
}

// TestSubjectScopeAndIdentityHeaders: RFC 9068 subjects, RFC 6749 scope
// syntax, and identity headers other proxies set never reach the legacy API
// from a client.
func TestSubjectScopeAndIdentityHeaders(t *testing.T) {
	env := startEdgeGateway(t, "store memory")
	iss := env.idp.issuer
	invalid := `Bearer error="invalid_token"`
	for name, token := range map[string]string{
		"no sub":    env.key.token(t, iss, func(h, c map[string]any) { delete(c, "sub") }),
		"empty sub": env.key.token(t, iss, func(h, c map[string]any) { c["sub"] = "" }),
		"null sub":  env.key.token(t, iss, func(h, c map[string]any) { c["sub"] = nil }),
		"Sub only":  env.key.token(t, iss, func(h, c map[string]any) { delete(c, "sub"); c["Sub"] = "usr_alice" }),
	} {
		t.Run(name, func(t *testing.T) {
			env.refused(t, env.send(t, "GET", "/api/uploads", http.Header{"Authorization": {"Bearer " + token}}, nil), env.api.hits.Load(), 401, invalid, "unauthorized")
		})
	}
	for scope, status := range map[string]int{
		"read:things admin:all ":     403,
		" admin:all":                 403,
		"read:things  admin:all":     403,
		"read:things\tadmin:all":     403,
		"read:things admin:all":      200,
		"admin:all":                  200,
		"read:things\u00a0admin:all": 403,
	} {
		t.Run(fmt.Sprintf("scope %q", scope), func(t *testing.T) {
			token := env.key.token(t, iss, func(h, c map[string]any) { c["scope"] = scope })
			before := env.api.hits.Load()
			got := env.send(t, "GET", "/api/admin", http.Header{"Authorization": {"Bearer " + token}}, nil)
			if status == 403 {
				env.refused(t, got, before, 403, `Bearer error="insufficient_scope", scope="admin:all"`, "forbidden")
				return
			}
			if got.status != 200 || env.api.hits.Load()-before != 1 {
				t.Fatalf("%d %s", got.status, got.body)
			}
		})
	}
	t.Run("identity headers", func(t *testing.T) {
		forged := []string{"X-Auth-User", "X-Auth-Sub", "X-Auth-Scope", "X-Auth-Roles", "X-Auth-Request-User", "X-Auth-Request-Email",
			"Remote-User", "Remote-Groups", "Remote-Email", "Remote-Name", "X-Remote-User", "X-Forwarded-User", "X-Forwarded-Email",
			"X-Forwarded-Preferred-Username", "X-Forwarded-Groups", "X-Forwarded-Access-Token", "X-Stepup-Sub", "X-Stepup-Admin"}
		header := http.Header{"Authorization": {"Bearer " + env.key.token(t, iss, nil)}}
		for _, name := range forged {
			header[name] = []string{"admin"}
		}
		got := env.send(t, "GET", "/api/uploads", header, nil)
		if got.status != 200 {
			t.Fatalf("%d %s", got.status, got.body)
		}
		for _, name := range forged {
			if v := env.api.lastHeader(name); len(v) > 0 && v[0] == "admin" {
				t.Errorf("%s: admin reached the legacy API", name)
			}
		}
		if v := env.api.lastHeader("X-Stepup-Sub"); len(v) != 1 || v[0] != "usr_alice" {
			t.Errorf("X-Stepup-Sub = %q", v)
		}
	})
}

// sessionRequest is a raw JSON call of the session API with the client's
// access token.
func sessionRequest(path, body string) sessionclient.Request {
	return sessionclient.Request{Method: "POST", Path: path, Body: json.RawMessage(body), Bearer: true}
}
