// Package resourcemeta publishes what a protected resource behind the
// gateway accepts, in RFC 9728's words: the metadata document at
// `/.well-known/oauth-protected-resource` (and its path-suffixed form for a
// resource identifier with a path), and the URL that every challenge names
// in its `resource_metadata` parameter (RFC 9728 §5.1).
//
// The documents are generated from the configuration: each route tells the
// catalog of its resource what it requires (scopes, acr values, DPoP,
// authorization_details types), and a site adds what only the operator
// knows (a name, documentation, other authorization servers).
package resourcemeta

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/caddy-stepup/caddy-stepup/internal/urlcheck"
)

// WellKnownPath is where a resource's metadata lives, between its
// identifier's host and path (RFC 9728 §3.1).
const WellKnownPath = "/.well-known/oauth-protected-resource"

// Route is what one protected route contributes to the metadata of its
// resource.
type Route struct {
	Scopes       []string
	ACR          []string
	DPoPRequired bool
	// DetailTypes are the authorization_details types (RFC 9396) the route
	// reads.
	DetailTypes []string
}

// Need adds scopes and acr values a call on the route may ask for (an MCP
// method's or tool's): each value once, the route's own first. The
// route's slices are copied before they grow, never written through.
func (r *Route) Need(scopes, acr []string) {
	r.Scopes = appendNew(r.Scopes, scopes)
	r.ACR = appendNew(r.ACR, acr)
}

// appendNew appends the values of add that list lacks, to a copy.
func appendNew(list, add []string) []string {
	out := slices.Clip(list)
	for _, v := range add {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// Site is what the operator says about a site's resources. The routes
// that name no resource belong to the site's own, whose identifier is the
// origin the client addressed.
type Site struct {
	// AuthorizationServers replace the default list when set.
	AuthorizationServers                   []string
	Name, Documentation, PolicyURI, TOSURI string
	// Sign, when set, adds signed_metadata to each document (see Sign).
	Sign func(*Document) error
}

// Common is what every document of the gateway says.
type Common struct {
	// AuthorizationServers issue tokens the gateway accepts: the trusted
	// issuers and, when it serves its session API, the gateway itself.
	AuthorizationServers []string
	// DPoPAlgorithms are the proof algorithms routes accept.
	DPoPAlgorithms []string
}

// Document is an RFC 9728 §2 metadata document. acr_values_supported is
// not in RFC 9728's registry; it is the name OpenID Connect Discovery and
// RFC 8414 give the list, so that a client learns ahead of a challenge
// which authentication levels (RFC 9470) the routes ask for.
type Document struct {
	Resource                           string   `json:"resource"`
	AuthorizationServers               []string `json:"authorization_servers,omitempty"`
	ScopesSupported                    []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported             []string `json:"bearer_methods_supported"`
	ResourceName                       string   `json:"resource_name,omitempty"`
	ResourceDocumentation              string   `json:"resource_documentation,omitempty"`
	ResourcePolicyURI                  string   `json:"resource_policy_uri,omitempty"`
	ResourceTOSURI                     string   `json:"resource_tos_uri,omitempty"`
	AuthorizationDetailsTypesSupported []string `json:"authorization_details_types_supported,omitempty"`
	DPoPSigningAlgValuesSupported      []string `json:"dpop_signing_alg_values_supported,omitempty"`
	DPoPBoundAccessTokensRequired      bool     `json:"dpop_bound_access_tokens_required,omitempty"`
	ACRValuesSupported                 []string `json:"acr_values_supported,omitempty"`
	// SignedMetadata is set only where the operator asks for it (Sign).
	SignedMetadata string `json:"signed_metadata,omitempty"`
}

// Catalog gathers the routes of one configuration that name a resource,
// by resource. The routes that name none belong to their site's resource,
// which the caller finds (they are the site's, not the configuration's).
type Catalog struct {
	mu     sync.RWMutex
	groups map[string][]Route
}

// Add records a route under the resource it names.
func (c *Catalog) Add(resource string, r Route) {
	resource = Canonical(resource)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groups == nil {
		c.groups = map[string][]Route{}
	}
	c.groups[resource] = append(c.groups[resource], r)
}

// Has reports whether some route names resource.
func (c *Catalog) Has(resource string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.groups[Canonical(resource)]
	return ok
}

// Resources are the identifiers routes name, canonical and sorted.
func (c *Catalog) Resources() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.groups))
	for r := range c.groups {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// Document is the metadata of resource: from the routes that name it, and
// the others given (a site's routes that name none).
func (c *Catalog) Document(resource string, others []Route, site Site, common Common) Document {
	doc := Document{
		Resource:                      resource,
		AuthorizationServers:          common.AuthorizationServers,
		BearerMethodsSupported:        []string{"header"},
		ResourceName:                  site.Name,
		ResourceDocumentation:         site.Documentation,
		ResourcePolicyURI:             site.PolicyURI,
		ResourceTOSURI:                site.TOSURI,
		DPoPSigningAlgValuesSupported: common.DPoPAlgorithms,
	}
	if len(site.AuthorizationServers) > 0 {
		doc.AuthorizationServers = site.AuthorizationServers
	}
	c.mu.RLock()
	routes := append(slices.Clone(c.groups[Canonical(resource)]), others...)
	c.mu.RUnlock()
	allDPoP := true
	for _, r := range routes {
		allDPoP = allDPoP && r.DPoPRequired
		doc.ScopesSupported = union(doc.ScopesSupported, r.Scopes)
		doc.ACRValuesSupported = union(doc.ACRValuesSupported, r.ACR)
		doc.AuthorizationDetailsTypesSupported = union(doc.AuthorizationDetailsTypesSupported, r.DetailTypes)
	}
	// Required only when every route of the resource demands it.
	doc.DPoPBoundAccessTokensRequired = len(routes) > 0 && allDPoP
	return doc
}

func union(have, add []string) []string {
	for _, s := range add {
		if !slices.Contains(have, s) {
			have = append(have, s)
		}
	}
	return have
}

// MetadataURL is where the metadata of resource is published: the
// well-known path inserted between its host and its path, a lone
// slash after the host removed (RFC 9728 §3.1).
func MetadataURL(resource string) string {
	u, err := url.Parse(resource)
	if err != nil {
		return ""
	}
	path := u.EscapedPath()
	if path == "/" {
		path = ""
	}
	out := u.Scheme + "://" + u.Host + WellKnownPath + path
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out
}

// ErrIdentifier: a resource identifier that is not an absolute https URL
// (http on loopback) without fragment, query or user information.
var ErrIdentifier = errors.New("a resource is an absolute https URL (http on loopback only) without query or fragment")

// CheckIdentifier checks a configured resource identifier (RFC 8707 §2,
// RFC 9728 §1.2): the rules of an app's redirect URI (https, http on
// loopback only; no user info, fragment, space or backslash), and no query
// or quote (it is written in a quoted challenge parameter).
func CheckIdentifier(resource string) error {
	if urlcheck.RedirectURI(resource) != nil || strings.ContainsAny(resource, "\"?") {
		return ErrIdentifier
	}
	if u, err := url.Parse(resource); err != nil || u.Opaque != "" {
		return ErrIdentifier
	}
	return nil
}

// Canonical writes an identifier without the lone slash after its host:
// `https://api.example.com/` and `https://api.example.com` name one
// resource (a URL parser writes the first, people the second).
func Canonical(resource string) string {
	if scheme, rest, ok := strings.Cut(resource, "://"); ok && strings.IndexByte(rest, '/') == len(rest)-1 {
		return scheme + "://" + rest[:len(rest)-1]
	}
	return resource
}

// Same reports whether two resource identifiers name one resource: equal
// once canonical. An audience is compared with it (RFC 8707).
func Same(a, b string) bool { return a == b || Canonical(a) == Canonical(b) }

// ResourceOf is the resource identifier whose metadata a request for path
// asks for, on origin (scheme://host as the client addressed it): origin
// itself for the bare well-known path, origin plus the suffix otherwise.
// ok is false when path is not a metadata path.
func ResourceOf(origin, path string) (resource string, ok bool) {
	rest, found := strings.CutPrefix(path, WellKnownPath)
	if !found || (rest != "" && rest[0] != '/') || rest == "/" {
		return "", false
	}
	return origin + rest, true
}
