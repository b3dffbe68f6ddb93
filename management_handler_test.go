package caddystepup

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestManagementDirectiveSyntax(t *testing.T) {
	for input, want := range map[string]ManagementHandler{
		`stepup_management {env.K}`:                                       {Key: "{env.K}"},
		"stepup_management {\n key {file./run/k}\n admin unix//a.sock\n}": {Key: "{file./run/k}", Admin: "unix//a.sock"},
	} {
		var got ManagementHandler
		if err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil || got.Key != want.Key || got.Admin != want.Admin {
			t.Errorf("%q: %+v %v", input, got, err)
		}
	}
	for _, input := range []string{
		`stepup_management`,
		`stepup_management {env.K} extra`,
		"stepup_management {env.K} {\n key {env.L}\n}",
		"stepup_management {\n key\n}",
		"stepup_management {\n admin localhost:2019\n}",
		"stepup_management {\n key {env.K}\n keys {env.L}\n}",
	} {
		var h ManagementHandler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err == nil {
			t.Errorf("%q accepted", input)
		}
	}
}

func TestManagementDirectiveNeedsTheAdminEndpoint(t *testing.T) {
	_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte("{\n\tadmin off\n}\n:9443 {\n\tstepup_management {env.K}\n}\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "admin off") {
		t.Errorf("admin off: %v", err)
	}
}

func TestManagementKeyIsRequiredAndNeverQuoted(t *testing.T) {
	for _, key := range []string{"", "fifteen-chars!!", "a key with spaces in it", "key-with-a-newline\n-in-it", "key-with-a-tab\t-in-it-too"} {
		err := (&ManagementHandler{key: key}).Validate()
		if err == nil {
			t.Errorf("%q accepted", key)
			continue
		}
		if key != "" && strings.Contains(err.Error(), key) {
			t.Errorf("the error quotes the key: %v", err)
		}
	}
	if err := (&ManagementHandler{key: "sixteen-chars!!!"}).Validate(); err != nil {
		t.Errorf("a 16-character key: %v", err)
	}
}

func TestManagementHandlerAnswersOnlyItsPaths(t *testing.T) {
	h := &ManagementHandler{key: "a-management-key-for-tests", app: &App{}, endpoint: &adminEndpoint{}}
	var nextCalls int
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { nextCalls++; return nil })
	for path, wantNext := range map[string]bool{
		"/config/":                    true,
		"/load":                       true,
		"/stepupx":                    true,
		"/stepup":                     true,
		"/stepup/users/x/sessions":    false,
		"/stepup/v2/session/apps/a/b": false,
	} {
		nextCalls = 0
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, httptest.NewRequest("GET", "http://10.0.0.5:9443"+path, nil), next); err != nil {
			t.Fatal(err)
		}
		if wantNext != (nextCalls == 1) || (!wantNext && w.Code != 401) {
			t.Errorf("%s: next called %d times, %d", path, nextCalls, w.Code)
		}
	}
}
