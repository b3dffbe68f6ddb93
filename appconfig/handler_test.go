package appconfig

import (
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/enforce"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// wantErr fails t unless err is nil when want is empty, or says want.
func wantErr(t *testing.T, name string, err error, want string) {
	t.Helper()
	if (err == nil) != (want == "") || (err != nil && !strings.Contains(err.Error(), want)) {
		t.Errorf("%s: %v, want %q", name, err, want)
	}
}

// TestRouteConfigRules: each word's own rule, without an app.
func TestRouteConfigRules(t *testing.T) {
	for name, tc := range map[string]struct {
		rc   RouteConfig
		want string
	}{
		"nothing":                {RouteConfig{}, ""},
		"all set":                {RouteConfig{Scopes: []string{"a", "b"}, Any: true, ACR: []string{"urn:x"}, MaxAge: Duration(time.Hour), Realm: "payments", BodyLimit: 10}, ""},
		"scope with a space":     {RouteConfig{Scopes: []string{"a b"}}, "scope"},
		"any with one scope":     {RouteConfig{Scopes: []string{"a"}, Any: true}, "at least two"},
		"realm with a quote":     {RouteConfig{Realm: `a"b`}, "realm"},
		"realm with a newline":   {RouteConfig{Realm: "a\nb"}, "realm"},
		"negative body_limit":    {RouteConfig{BodyLimit: -1}, "body_limit"},
		"acr with a space":       {RouteConfig{ACR: []string{"urn:a b"}}, "acr"},
		"max_age 500ms":          {RouteConfig{MaxAge: Duration(500 * time.Millisecond)}, "max_age"},
		"max_age two years":      {RouteConfig{MaxAge: Duration(2 * 8760 * time.Hour)}, "max_age"},
		"max_age a year":         {RouteConfig{MaxAge: Duration(8760 * time.Hour)}, ""},
		"mcp and bind":           {RouteConfig{Scopes: []string{"a"}, Bind: []string{"amount"}, MCP: &MCPConfig{}}, "one or the other"},
		"mcp and details":        {RouteConfig{MCP: &MCPConfig{}, AuthorizationDetails: []*DetailsConfig{{Type: "a"}}}, "one or the other"},
		"a details block":        {RouteConfig{AuthorizationDetails: []*DetailsConfig{{Type: "payment_initiation"}}}, ""},
		"a nil details block":    {RouteConfig{AuthorizationDetails: []*DetailsConfig{nil}}, "a type"},
		"bind without a scope":   {RouteConfig{Bind: []string{"amount"}}, "needs the scopes"},
		"bind a bad field name":  {RouteConfig{Scopes: []string{"a"}, Bind: []string{"a b"}}, "field"},
		"resource":               {RouteConfig{Resource: "https://api.example.com/payments"}, ""},
		"resource on loopback":   {RouteConfig{Resource: "http://127.0.0.1:8080/mcp"}, ""},
		"resource without https": {RouteConfig{Resource: "http://api.example.com/payments"}, "resource"},
		"resource not absolute":  {RouteConfig{Resource: "api.example.com/payments"}, "resource"},
		"resource with a query":  {RouteConfig{Resource: "https://api.example.com/p?x=1"}, "resource"},
		"resource with fragment": {RouteConfig{Resource: "https://api.example.com/p#x"}, "resource"},
	} {
		wantErr(t, name, tc.rc.Validate(nil), tc.want)
	}
	wantErr(t, "an app that trusts no issuer", (&RouteConfig{}).Validate(&Config{}), "trusts no issuer")
}

// TestBindNeedsASingleUseGrant: bind compares a body with the transaction
// a single-use grant approved; where none can be issued, the config fails.
func TestBindNeedsASingleUseGrant(t *testing.T) {
	app := &Config{Issuer: "https://gw.test", Scopes: map[string]*Scope{
		"transfer:write": {Delegated: "https://hooks.test/stepup"},
		"pay:once":       {Direct: &DirectScope{Steps: []DirectStep{{Key: "verify_sms"}}, GrantMode: stepup.GrantSingleUse}},
		"pay:default":    {Direct: &DirectScope{Steps: []DirectStep{{Key: "verify_sms"}}}},
		"profile:write":  {Direct: &DirectScope{Steps: []DirectStep{{Key: "verify_sms"}}, GrantMode: stepup.GrantSessionBound}},
		"admin:all":      {Block: true},
	}}
	for _, tc := range []struct {
		name   string
		scopes []string
		any    bool
		want   string
	}{
		{"delegated", []string{"transfer:write"}, false, ""},
		{"direct single-use", []string{"pay:once"}, false, ""},
		{"direct default mode", []string{"pay:default"}, false, ""},
		{"any of two single-use", []string{"pay:once", "transfer:write"}, true, ""},
		{"session-bound", []string{"profile:write"}, false, "not single-use"},
		{"blocked", []string{"admin:all"}, false, "blocked"},
		{"no scope block", []string{"payments:read"}, false, "no `scope` block"},
		{"any with a session-bound one", []string{"pay:once", "profile:write"}, true, "not single-use"},
	} {
		rc := RouteConfig{Scopes: tc.scopes, Any: tc.any, Bind: []string{"amount"}}
		wantErr(t, tc.name, rc.Validate(app), tc.want)
	}
	gatewayless := &Config{Trust: []*Trust{{}}, Scopes: app.Scopes}
	rc := RouteConfig{Scopes: []string{"pay:once"}, Bind: []string{"amount"}}
	wantErr(t, "bind on a gateway that mints no tokens", rc.Validate(gatewayless), "issuer")
}

// TestRouteConfigDefaults: the realm, body limit and header names a route
// gets when its config names none, as enforce takes them.
func TestRouteConfigDefaults(t *testing.T) {
	rc := RouteConfig{Scopes: []string{"a"}, MaxAge: Duration(time.Minute)}
	rc.SetDefaults()
	got := rc.EnforceRoute()
	if got.Realm != DefaultRealm || got.BodyLimit != enforce.DefaultBodyLimit || got.MaxAge != time.Minute ||
		got.StepUpRequestPath != DefaultStepUpRequestPath || got.Headers.Subject != DefaultSubjectHeader ||
		got.Headers.Grant != DefaultGrantHeader || got.MCP != nil || got.AuthorizationDetails != nil {
		t.Errorf("got %+v", got)
	}
	rc = RouteConfig{Realm: "payments", BodyLimit: 10, Headers: &IdentityHeaders{Subject: "x-user"}}
	rc.SetDefaults()
	if got := rc.EnforceRoute(); got.Realm != "payments" || got.BodyLimit != 10 || got.Headers.Subject != "X-User" || got.Headers.Scope != DefaultScopeHeader {
		t.Errorf("got %+v", got)
	}
}
