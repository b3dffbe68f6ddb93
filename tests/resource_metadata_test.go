package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// TestResourceMetadataThroughTheBuiltCaddy: two sites of one gateway
// publish the RFC 9728 documents their routes describe, and every
// challenge points to the document of its route's resource.
func TestResourceMetadataThroughTheBuiltCaddy(t *testing.T) {
	es := newECKey(t, "es-1")
	idp := newIdP(t, "https://idp.test", es)
	api := newUpstream(t)
	client := newClient(t)
	port, other := testcaddy.FreePort(t), testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	otherBase := fmt.Sprintf("http://127.0.0.1:%d", other)
	testcaddy.Start(t, testcaddy.Config{
		Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %[1]s
		trust https://idp.test {
			jwks_url %[2]s
			algorithms ES256
		}
		dpop_algorithms ES256 EdDSA
		scope transfer:write {
			block
		}
	}
}

%[1]s {
	stepup_session
	route /transfers* {
		stepup transfer:write {
			acr urn:stepup:phone
		}
		reverse_proxy %[3]s
	}
	route /payments* {
		stepup payments:write {
			resource %[1]s/payments
		}
		reverse_proxy %[3]s
	}
	route /reports* {
		stepup reports:read
		reverse_proxy %[3]s
	}
	respond 404
}

%[4]s {
	stepup_metadata {
		authorization_servers https://idp.test
		resource_name "Other API"
		resource_documentation https://docs.example.com/other
	}
	stepup read
	reverse_proxy %[3]s
}
`, base, idp.jwksURL(), api.srv.URL, otherBase),
		WaitFor: []string{base + "/.well-known/jwks.json"},
	})

	document := func(t *testing.T, url string) map[string]any {
		t.Helper()
		got := fetch(t, client, "GET", url, nil)
		var doc map[string]any
		if got.status != 200 || got.header.Get("Content-Type") != "application/json" || json.Unmarshal(got.body, &doc) != nil {
			t.Fatalf("GET %s: %d %q %s", url, got.status, got.header.Get("Content-Type"), got.body)
		}
		return doc
	}
	algs := []any{"ES256", "EdDSA"}
	site := document(t, base+"/.well-known/oauth-protected-resource")
	if want := map[string]any{
		"resource":                          base,
		"authorization_servers":             []any{"https://idp.test", base},
		"scopes_supported":                  []any{"transfer:write", "reports:read"},
		"bearer_methods_supported":          []any{"header"},
		"dpop_signing_alg_values_supported": algs,
		"acr_values_supported":              []any{"urn:stepup:phone"},
	}; !reflect.DeepEqual(site, want) {
		t.Errorf("the site's document\n%v\nwant\n%v", site, want)
	}
	payments := document(t, base+"/.well-known/oauth-protected-resource/payments")
	if want := map[string]any{
		"resource":                          base + "/payments",
		"authorization_servers":             []any{"https://idp.test", base},
		"scopes_supported":                  []any{"payments:write"},
		"bearer_methods_supported":          []any{"header"},
		"dpop_signing_alg_values_supported": algs,
	}; !reflect.DeepEqual(payments, want) {
		t.Errorf("the payments document\n%v\nwant\n%v", payments, want)
	}
	otherDoc := document(t, otherBase+"/.well-known/oauth-protected-resource")
	if otherDoc["resource"] != otherBase || otherDoc["resource_name"] != "Other API" ||
		!reflect.DeepEqual(otherDoc["authorization_servers"], []any{"https://idp.test"}) {
		t.Errorf("the other site's document: %v", otherDoc)
	}
	for _, path := range []string{"/.well-known/oauth-protected-resource/transfers", "/.well-known/oauth-protected-resource/nothing"} {
		if got := fetch(t, client, "GET", base+path, nil); got.status != 404 {
			t.Errorf("GET %s: %d, want 404 (no route names that resource)", path, got.status)
		}
	}

	// Every challenge names its route's document, which names the
	// resource the client called.
	for _, tc := range []struct {
		url, header, metadata string
		status                int
	}{
		{base + "/transfers", "", base + "/.well-known/oauth-protected-resource", 401},
		{base + "/reports", "Bearer x", base + "/.well-known/oauth-protected-resource", 401},
		{base + "/payments/1", "", base + "/.well-known/oauth-protected-resource/payments", 401},
		{base + "/payments/1", "Basic eDp5", base + "/.well-known/oauth-protected-resource/payments", 400},
		{base + "/transfers", "Bearer " + es.token(t, "https://idp.test", nil), base + "/.well-known/oauth-protected-resource", 401},
		{base + "/reports", "Bearer " + es.token(t, "https://idp.test", nil), base + "/.well-known/oauth-protected-resource", 403},
		{otherBase + "/anything", "", otherBase + "/.well-known/oauth-protected-resource", 401},
	} {
		h := http.Header{}
		if tc.header != "" {
			h.Set("Authorization", tc.header)
		}
		got := fetch(t, client, "GET", tc.url, h)
		if got.status != tc.status || got.resourceMetadata != tc.metadata {
			t.Errorf("GET %s (%s): %d resource_metadata %q, want %d %q", tc.url, tc.header, got.status, got.resourceMetadata, tc.status, tc.metadata)
		}
	}
	if n := api.hits.Load(); n != 0 {
		t.Errorf("the API was called %d times", n)
	}
}
