// The stepup handler's config (`http.handlers.stepup`): the route's
// fields with their docs and defaults, and the rules they obey, checked
// against the app's config when the handler knows it.

package appconfig

import (
	"time"

	"github.com/caddy-stepup/caddy-stepup/enforce"
)

// Defaults of a route's realm, and where stepup_session serves
// requestStepUp (the challenge bodies name it).
const (
	DefaultRealm             = "stepup"
	DefaultStepUpRequestPath = "/v1/session/stepup/request"
)

// maxRouteMaxAge bounds a route's max_age: a year.
const maxRouteMaxAge = 8760 * time.Hour

// RouteConfig is the stepup handler's config, embedded in the handler so
// that its JSON keys are the handler's own. See the handler's doc for the
// answers a route gives.
type RouteConfig struct {
	// Scopes the route requires. All are required unless Any is set. An
	// empty list requires only a valid token.
	Scopes []string `json:"scopes,omitempty"`

	// Require one of Scopes instead of all. Default: false.
	Any bool `json:"any,omitempty"`

	// Authentication context classes the route accepts (RFC 9470): the
	// token's `acr` must be one of these. A token without a listed one is
	// answered 401 `insufficient_user_authentication` with `acr_values`.
	// Default: none (any acr).
	ACR []string `json:"acr,omitempty"`

	// How long ago the token's authentication may have happened
	// (`auth_time`, RFC 9470): an older one, or none, is answered 401
	// `insufficient_user_authentication` with `max_age` in seconds. Whole
	// seconds, at least 1s. Default: 0 (no limit).
	MaxAge Duration `json:"max_age,omitempty"`

	// The realm named in `WWW-Authenticate`. Default: "stepup".
	Realm string `json:"realm,omitempty"`

	// Request fields that must equal the metadata a single-use grant was
	// approved with (transaction binding): the JSON body's top-level
	// members, e.g. ["amount", "currency"]. A grant approved for 500 USD
	// cannot pay 5,000: the request is refused and the grant spent. The
	// body must be one `application/json` object that every parser reads
	// alike (no Content-Encoding, valid UTF-8, no duplicate or case-variant
	// member names), a bound field a string equal to the approved value or
	// a number written exactly as it; the upstream receives exactly the
	// bytes that were checked. With bind, a request passes only by spending
	// a single-use grant, so every scope of the route must be one that can
	// be granted single-use. Default: none.
	Bind []string `json:"bind,omitempty"`

	// The largest body read to inspect it: form and multipart bodies and
	// bodies without a Content-Type (for a second credential), and bodies
	// under bind. Larger ones are refused with 413. Bodies of other media
	// types (JSON, binary uploads) are streamed to the upstream unread.
	// Default: 1MiB.
	BodyLimit int64 `json:"body_limit,omitempty"`

	// Demand a server nonce in the DPoP proofs of this route (RFC 9449 §9):
	// a proof without a current one is answered 401 `use_dpop_nonce` with
	// a `DPoP-Nonce` header, which clients retry with. Nonces are derived
	// from the gateway's signing key, so every instance accepts them.
	// Default: false (proofs are still single use through the store).
	DPoPNonce bool `json:"dpop_nonce,omitempty"`

	// Take only DPoP-bound tokens on this route (RFC 9449 §7.1): its
	// challenges use the DPoP scheme, a token sent as Bearer is
	// invalid_token, and its resource's metadata says
	// `dpop_bound_access_tokens_required` when every route of the
	// resource demands it. The gateway's own tokens are bearer tokens, so
	// only tokens of `trust`ed issuers pass here. Default: false.
	DPoPRequired bool `json:"dpop_required,omitempty"`

	// The resource identifier of the route's group (RFC 8707, RFC 9728):
	// an absolute https URL (http on loopback) without query or fragment,
	// e.g. `https://api.example.com/payments`. Its metadata is published at
	// `https://api.example.com/.well-known/oauth-protected-resource/payments`
	// (by `stepup_metadata` or `stepup_session` on that site), and every
	// challenge of the route names that URL in `resource_metadata`.
	// Default: none; the route belongs to its site's resource, whose
	// identifier is the origin the client addressed.
	Resource string `json:"resource,omitempty"`

	// Authorization details (RFC 9396) the request's access token must
	// carry, each matched against the request's JSON body (see
	// DetailsConfig): a token whose details do not cover the request is
	// answered 401 `insufficient_authorization` naming the details that
	// would. Default: none.
	AuthorizationDetails []*DetailsConfig `json:"authorization_details,omitempty"`

	// Makes the route an MCP server's (Streamable HTTP): each request's
	// JSON-RPC message is read strictly and its method or tool may need
	// more scopes, another acr or a more recent authentication (see
	// MCPConfig). Not with bind. Default: none (bodies of other media
	// types stream unread).
	MCP *MCPConfig `json:"mcp,omitempty"`

	// Names of the headers that carry the caller's identity to the
	// upstream. Default: X-Stepup-Sub, X-Stepup-Scope, X-Stepup-Sid,
	// X-Stepup-Grant.
	Headers *IdentityHeaders `json:"headers,omitempty"`
}

// SetDefaults fills in the realm, the body limit and the header names.
func (rc *RouteConfig) SetDefaults() {
	if rc.Realm == "" {
		rc.Realm = DefaultRealm
	}
	if rc.BodyLimit == 0 {
		rc.BodyLimit = enforce.DefaultBodyLimit
	}
	if rc.Headers == nil {
		rc.Headers = new(IdentityHeaders)
	}
	rc.Headers.SetDefaults()
}

// EnforceRoute is the route's part of enforce.RouteConfig; the caller adds
// what the app and the server know (issuer, DPoP algorithms, stripped
// headers, logger, request URL). Call it after SetDefaults.
func (rc *RouteConfig) EnforceRoute() enforce.RouteConfig {
	return enforce.RouteConfig{
		Scopes: rc.Scopes, Any: rc.Any, ACR: rc.ACR, MaxAge: time.Duration(rc.MaxAge),
		Realm: rc.Realm, Bind: rc.Bind, BodyLimit: rc.BodyLimit, DPoPNonce: rc.DPoPNonce, DPoPRequired: rc.DPoPRequired,
		StepUpRequestPath: DefaultStepUpRequestPath,
		Headers: enforce.IdentityHeaders{Subject: rc.Headers.Subject, Scope: rc.Headers.Scope,
			Session: rc.Headers.Session, Grant: rc.Headers.Grant},
		Resource: rc.Resource, MCP: rc.mcpRoute(), AuthorizationDetails: rc.DetailsRequirements(),
	}
}

// mcpRoute is the mcp block for the route's decision; nil without one.
func (rc *RouteConfig) mcpRoute() *enforce.MCPConfig {
	if rc.MCP == nil {
		return nil
	}
	return rc.MCP.RouteConfig()
}

// DetailsRequirements are the route's authorization_details blocks as
// enforce takes them.
func (rc *RouteConfig) DetailsRequirements() []enforce.DetailsRequirement {
	var out []enforce.DetailsRequirement
	for _, dc := range rc.AuthorizationDetails {
		if dc != nil {
			out = append(out, dc.Requirement())
		}
	}
	return out
}

// DetailTypes are the authorization_details types the route reads
// (enforce.DetailTypes).
func (rc *RouteConfig) DetailTypes() []string {
	return enforce.DetailTypes(rc.DetailsRequirements(), len(rc.Bind) > 0)
}
