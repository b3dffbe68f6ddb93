// RFC 9728 protected resource metadata: the stepup_metadata handler that
// publishes it, the app's catalog of routes by resource, and the URL every
// challenge of a route names.

package caddystepup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/internal/urlcheck"
	"github.com/caddy-stepup/caddy-stepup/resourcemeta"
)

func init() {
	caddy.RegisterModule(MetadataHandler{})
}

// MetadataHandler (`http.handlers.stepup_metadata`) publishes the RFC 9728
// metadata of a site's protected resources: at
// `/.well-known/oauth-protected-resource` the site's own (its `stepup`
// routes that name no `resource`; the identifier is the origin the client
// addressed), and at `/.well-known/oauth-protected-resource/<path>` the
// resource `https://<host>/<path>` that some route names. The documents
// are generated from the routes: the scopes and acr values they require,
// whether every one demands DPoP, the authorization_details types they
// read. Other requests go to the next handler. `stepup_session` publishes
// the same documents with the defaults, so a site that has it needs this
// handler only to name things.
type MetadataHandler struct {
	// The authorization servers clients should get tokens from
	// (`authorization_servers`). Default: the issuers of the `trust`
	// blocks, then the gateway's `issuer` when a `stepup_session` handler
	// serves its session API.
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// A human-readable name of the resource (`resource_name`).
	// Default: none.
	Name string `json:"resource_name,omitempty"`
	// URL of the resource's documentation for developers
	// (`resource_documentation`). Default: none.
	Documentation string `json:"resource_documentation,omitempty"`
	// URL of the resource's policy on data use (`resource_policy_uri`).
	// Default: none.
	PolicyURI string `json:"resource_policy_uri,omitempty"`
	// URL of the resource's terms of service (`resource_tos_uri`).
	// Default: none.
	TOSURI string `json:"resource_tos_uri,omitempty"`
	// Adds `signed_metadata` (RFC 9728 §2.2) to each document: a JWT whose
	// claims are the document's members and `iss`, the stepup app's
	// `issuer`, signed with the gateway's signing key (ES256, the `kid` of
	// its `/.well-known/jwks.json`). The plain members stay as they are.
	// Needs the app's `issuer`. Default: false.
	SignedMetadata bool `json:"signed_metadata,omitempty"`

	app *App
}

// CaddyModule returns the Caddy module information.
func (MetadataHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.stepup_metadata",
		New: func() caddy.Module { return new(MetadataHandler) },
	}
}

// Provision attaches the handler to the stepup app.
func (m *MetadataHandler) Provision(ctx caddy.Context) error {
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	m.app = app
	return m.checkSigner(app)
}

// checkSigner: signed metadata is signed by the gateway as its issuer.
func (m *MetadataHandler) checkSigner(app *App) error {
	if m.SignedMetadata && app.Issuer == "" {
		return errors.New("signed_metadata: the metadata is signed by the gateway as its issuer; set the stepup app's issuer")
	}
	return nil
}

// Validate checks the URLs and the name.
func (m *MetadataHandler) Validate() error {
	for _, as := range m.AuthorizationServers {
		if err := urlcheck.HTTPSOrLoopback(as); err != nil {
			return fmt.Errorf("authorization_servers: %v", err)
		}
	}
	for word, u := range map[string]string{"resource_documentation": m.Documentation, "resource_policy_uri": m.PolicyURI, "resource_tos_uri": m.TOSURI} {
		if u == "" {
			continue
		}
		if err := urlcheck.HTTP(u); err != nil {
			return fmt.Errorf("%s: %v", word, err)
		}
	}
	if strings.ContainsAny(m.Name, "\r\n") {
		return errors.New("resource_name must be one line")
	}
	return nil
}

// ServeHTTP answers the metadata paths and passes everything else on.
func (m *MetadataHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	site := resourcemeta.Site{AuthorizationServers: m.AuthorizationServers, Name: m.Name,
		Documentation: m.Documentation, PolicyURI: m.PolicyURI, TOSURI: m.TOSURI}
	if m.SignedMetadata {
		site.Sign = func(doc *resourcemeta.Document) error { return m.app.signMetadata(r.Context(), doc) }
	}
	if m.app.serveResourceMetadata(w, r, site) {
		return nil
	}
	return next.ServeHTTP(w, r)
}

// serveResourceMetadata answers a request for one of the site's metadata
// documents; false when r is not one.
func (a *App) serveResourceMetadata(w http.ResponseWriter, r *http.Request, site resourcemeta.Site) bool {
	if !strings.HasPrefix(r.URL.Path, resourcemeta.WellKnownPath) {
		return false
	}
	return resourcemeta.Serve(w, r, r.URL.Path, requestOrigin(r), a.resourceCatalog(),
		func() []resourcemeta.Route { return siteRoutes(r) }, site, a.resourceCommon())
}

// signMetadata sets doc's signed_metadata, signed by the gateway as its
// issuer; it fails when the app has not started.
func (a *App) signMetadata(ctx context.Context, doc *resourcemeta.Document) error {
	rt := a.awaitRuntime(ctx)
	if rt == nil {
		return errors.New("not started")
	}
	return resourcemeta.Sign(doc, a.Issuer, func(claims any) (string, error) { return rt.signer.Sign("", claims) })
}

// resourceRoute is what the route tells its resource's metadata: its
// scopes and acr values, and on an MCP route those its methods and tools
// ask for (a client requests them when a call needs them).
func (h *Handler) resourceRoute() resourcemeta.Route {
	r := resourcemeta.Route{Scopes: h.Scopes, ACR: h.ACR, DPoPRequired: h.DPoPRequired}
	r.DetailTypes = h.DetailTypes()
	if h.MCP != nil {
		for _, needs := range []map[string]*appconfig.MCPNeed{h.MCP.Methods, h.MCP.Tools} {
			for _, name := range sortedKeys(needs) {
				if n := needs[name]; n != nil {
					r.Need(n.Scopes, n.ACR)
				}
			}
		}
	}
	return r
}

// siteRoutes are the stepup routes of r's site that name no resource: those
// of the server that took r, in its routes whose host matchers (if any)
// match r's host (a Caddyfile site block is such a route), at any depth of
// subroutes (route, handle, handle_path blocks).
func siteRoutes(r *http.Request) []resourcemeta.Route {
	srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if srv == nil {
		return nil
	}
	var out []resourcemeta.Route
	for _, route := range srv.Routes {
		if hostsMatch(route.MatcherSets, r) {
			out = collectRoutes(route.Handlers, out)
		}
	}
	return out
}

// hostsMatch: some matcher set has no host matcher, or one that matches.
// Other matchers are not asked: they judge the metadata request, not the
// site.
func hostsMatch(sets caddyhttp.MatcherSets, r *http.Request) bool {
	if len(sets) == 0 {
		return true
	}
	for _, set := range sets {
		matched := true
		for _, m := range set {
			var host caddyhttp.MatchHost
			switch v := m.(type) {
			case *caddyhttp.MatchHost:
				host = *v
			case caddyhttp.MatchHost:
				host = v
			default:
				continue
			}
			if ok, err := host.MatchWithError(r); err != nil || !ok {
				matched = false
			}
		}
		if matched {
			return true
		}
	}
	return false
}

func collectRoutes(handlers []caddyhttp.MiddlewareHandler, out []resourcemeta.Route) []resourcemeta.Route {
	for _, mh := range handlers {
		switch h := mh.(type) {
		case *Handler:
			if h.Resource == "" {
				out = append(out, h.resourceRoute())
			}
		case *caddyhttp.Subroute:
			for _, route := range h.Routes {
				out = collectRoutes(route.Handlers, out)
			}
		}
	}
	return out
}

// resourceCatalog holds the routes of this config by resource. Provision
// makes it; handlers provisioned with an app that was not (tests) make it
// on first use, before any request.
func (a *App) resourceCatalog() *resourcemeta.Catalog {
	if a.resources == nil {
		a.resources = new(resourcemeta.Catalog)
	}
	return a.resources
}

// resourceCommon is what every metadata document of the app says: the
// authorization servers (the trusted issuers, then the gateway when it
// serves its session API) and the DPoP proof algorithms.
func (a *App) resourceCommon() resourcemeta.Common {
	c := resourcemeta.Common{DPoPAlgorithms: a.AcceptedDPoPAlgorithms()}
	for _, t := range a.Trust {
		if t != nil && t.Issuer != "" {
			c.AuthorizationServers = append(c.AuthorizationServers, t.Issuer)
		}
	}
	if a.Issuer != "" && a.sessionServed {
		c.AuthorizationServers = append(c.AuthorizationServers, a.Issuer)
	}
	return c
}

// Interface guards
var (
	_ caddy.Provisioner           = (*MetadataHandler)(nil)
	_ caddy.Validator             = (*MetadataHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*MetadataHandler)(nil)
)
