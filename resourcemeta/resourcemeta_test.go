package resourcemeta

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestMetadataURLInsertsTheWellKnownPathAfterTheHost(t *testing.T) {
	for resource, want := range map[string]string{
		"https://api.example.com":               "https://api.example.com/.well-known/oauth-protected-resource",
		"https://api.example.com/":              "https://api.example.com/.well-known/oauth-protected-resource",
		"https://api.example.com/payments":      "https://api.example.com/.well-known/oauth-protected-resource/payments",
		"https://api.example.com/v1/payments/":  "https://api.example.com/.well-known/oauth-protected-resource/v1/payments/",
		"http://127.0.0.1:8080/mcp":             "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp",
		"https://api.example.com/a%20b":         "https://api.example.com/.well-known/oauth-protected-resource/a%20b",
		"https://api.example.com:8443/payments": "https://api.example.com:8443/.well-known/oauth-protected-resource/payments",
	} {
		if got := MetadataURL(resource); got != want {
			t.Errorf("MetadataURL(%q) = %q, want %q", resource, got, want)
		}
	}
}

func TestResourceOfIsTheInverseOfMetadataURL(t *testing.T) {
	for path, want := range map[string]string{
		"/.well-known/oauth-protected-resource":             "https://api.example.com",
		"/.well-known/oauth-protected-resource/payments":    "https://api.example.com/payments",
		"/.well-known/oauth-protected-resource/v1/payments": "https://api.example.com/v1/payments",
	} {
		got, ok := ResourceOf("https://api.example.com", path)
		if !ok || got != want {
			t.Errorf("ResourceOf(%q) = %q %v, want %q", path, got, ok, want)
		}
		if MetadataURL(got) != "https://api.example.com"+path {
			t.Errorf("MetadataURL(%q) is not %q", got, path)
		}
	}
	for _, path := range []string{"/", "/.well-known/oauth-protected-resourcex", "/.well-known/oauth-protected-resource/", "/.well-known/oauth-authorization-server", "/payments"} {
		if got, ok := ResourceOf("https://api.example.com", path); ok {
			t.Errorf("ResourceOf(%q) = %q, want not a metadata path", path, got)
		}
	}
}

func TestCheckIdentifier(t *testing.T) {
	for _, good := range []string{"https://api.example.com", "https://api.example.com/payments", "http://127.0.0.1:9000/mcp", "http://localhost/x", "http://[::1]:9/x", "https://api.example.com:8443/"} {
		if err := CheckIdentifier(good); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
	for _, bad := range []string{"", "api.example.com", "/payments", "http://api.example.com", "https://api.example.com/p?x=1", "https://api.example.com/p#f",
		"https://user@api.example.com", "urn:example:api", "ftp://api.example.com", `https://api.example.com/"x`, "https://api.example.com/a b", "https://", "http://127.attacker.example/x"} {
		if err := CheckIdentifier(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSameIgnoresOnlyTheSlashAfterTheHost(t *testing.T) {
	if !Same("https://api.example.com", "https://api.example.com/") || !Same("https://api.example.com/p", "https://api.example.com/p") {
		t.Error("one resource written two ways is two")
	}
	for _, other := range []string{"https://api.example.com/p/", "https://API.example.com", "https://api.example.com/P", "https://api.example.com.evil"} {
		if Same("https://api.example.com/p", other) && other != "https://api.example.com/p" {
			t.Errorf("%q is taken for https://api.example.com/p", other)
		}
	}
	if Same("https://api.example.com", "https://api.example.com//") {
		t.Error("a double slash is another path")
	}
}

func testCatalog() *Catalog {
	c := new(Catalog)
	c.Add("https://api.example.com/payments", Route{Scopes: []string{"payments:write"}, DPoPRequired: true, DetailTypes: []string{"payment_initiation"}})
	c.Add("https://api.example.com/payments", Route{Scopes: []string{"payments:read"}, DPoPRequired: true})
	c.Add("https://api.example.com/mixed", Route{DPoPRequired: true})
	c.Add("https://api.example.com/mixed", Route{})
	return c
}

// testSiteRoutes are the site's routes that name no resource.
func testSiteRoutes() []Route {
	return []Route{{Scopes: []string{"read"}}, {Scopes: []string{"read", "transfer:write"}, ACR: []string{"phr"}}}
}

var testCommon = Common{AuthorizationServers: []string{"https://idp.example.com", "https://api.example.com"}, DPoPAlgorithms: []string{"ES256", "EdDSA"}}

func get(t *testing.T, c *Catalog, method, path string, site Site) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	if !Serve(rec, httptest.NewRequest(method, path, nil), path, "https://api.example.com", c, testSiteRoutes, site, testCommon) {
		t.Fatalf("%s is not served", path)
	}
	var doc map[string]any
	if rec.Code == 200 && method == http.MethodGet {
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatalf("%s: %v %q", path, err, rec.Body)
		}
	}
	return rec, doc
}

func TestServeTheSitesOwnResource(t *testing.T) {
	rec, doc := get(t, testCatalog(), "GET", WellKnownPath, Site{Name: "Example API", Documentation: "https://docs.example.com"})
	want := map[string]any{
		"resource":                          "https://api.example.com",
		"authorization_servers":             []any{"https://idp.example.com", "https://api.example.com"},
		"scopes_supported":                  []any{"read", "transfer:write"},
		"bearer_methods_supported":          []any{"header"},
		"resource_name":                     "Example API",
		"resource_documentation":            "https://docs.example.com",
		"dpop_signing_alg_values_supported": []any{"ES256", "EdDSA"},
		"acr_values_supported":              []any{"phr"},
	}
	if !reflect.DeepEqual(doc, want) {
		t.Errorf("document\n%v\nwant\n%v", doc, want)
	}
	if rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("headers %v", rec.Header())
	}
}

func TestServeAResourceWithAPath(t *testing.T) {
	_, doc := get(t, testCatalog(), "GET", WellKnownPath+"/payments", Site{AuthorizationServers: []string{"https://other.example.com"}})
	want := map[string]any{
		"resource":                              "https://api.example.com/payments",
		"authorization_servers":                 []any{"https://other.example.com"},
		"scopes_supported":                      []any{"payments:write", "payments:read"},
		"bearer_methods_supported":              []any{"header"},
		"authorization_details_types_supported": []any{"payment_initiation"},
		"dpop_signing_alg_values_supported":     []any{"ES256", "EdDSA"},
		"dpop_bound_access_tokens_required":     true,
	}
	if !reflect.DeepEqual(doc, want) {
		t.Errorf("document\n%v\nwant\n%v", doc, want)
	}
	// One route without DPoP: not required of the resource.
	if _, doc := get(t, testCatalog(), "GET", WellKnownPath+"/mixed", Site{}); doc["dpop_bound_access_tokens_required"] != nil {
		t.Errorf("a resource with a route that takes bearer tokens requires DPoP: %v", doc)
	}
}

func TestServeRefusesWhatIsNotAResource(t *testing.T) {
	c := testCatalog()
	for _, path := range []string{WellKnownPath + "/nothing", WellKnownPath + "/Payments", WellKnownPath + "/payments/x", WellKnownPath + "//payments"} {
		if rec, _ := get(t, c, "GET", path, Site{}); rec.Code != 404 {
			t.Errorf("%s: %d, want 404", path, rec.Code)
		}
	}
	if rec, _ := get(t, c, "POST", WellKnownPath, Site{}); rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD, OPTIONS" {
		t.Errorf("POST: %d %v", rec.Code, rec.Header())
	}
	if rec, _ := get(t, c, "HEAD", WellKnownPath, Site{}); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d %q", rec.Code, rec.Body)
	}
	if rec, _ := get(t, c, "OPTIONS", WellKnownPath, Site{}); rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Methods") == "" {
		t.Errorf("OPTIONS: %d %v", rec.Code, rec.Header())
	}
	rec := httptest.NewRecorder()
	if Serve(rec, httptest.NewRequest("GET", "/payments", nil), "/payments", "https://api.example.com", c, testSiteRoutes, Site{}, testCommon) {
		t.Error("another path was answered")
	}
}

func TestAnEmptySiteStillNamesItsAuthorizationServers(t *testing.T) {
	rec := httptest.NewRecorder()
	Serve(rec, httptest.NewRequest("GET", WellKnownPath, nil), WellKnownPath, "https://api.example.com", new(Catalog), func() []Route { return nil }, Site{}, testCommon)
	var doc map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &doc)
	if doc["resource"] != "https://api.example.com" || doc["authorization_servers"] == nil || doc["scopes_supported"] != nil {
		t.Errorf("document %v", doc)
	}
}
