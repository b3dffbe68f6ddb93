// A route's whole decision: one credential, a verified token, its sender
// constraint, the route's scopes, acr and max_age, the single-use grants
// behind them, and the refusal when something is missing.

package enforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/resourcemeta"
	"github.com/caddy-stepup/caddy-stepup/revocation"
	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
)

// errOtherResource: a valid token whose aud does not name the route's
// resource (RFC 8707).
var errOtherResource = errors.New("the token's aud does not name the route's resource")

// errBearerAtDPoPRoute: a Bearer token at a route that takes DPoP-bound
// tokens only.
var errBearerAtDPoPRoute = errors.New("a bearer token at a route that requires DPoP")

// RouteConfig is what one route requires, as plain values.
type RouteConfig struct {
	// Scopes the route requires: all, or one with Any.
	Scopes []string
	Any    bool
	// ACR the token's acr must be one of (RFC 9470); none: any acr.
	ACR []string
	// MaxAge bounds how long ago the token's auth_time may be; 0: no limit.
	MaxAge time.Duration
	// Realm is named in the no-token challenge.
	Realm string
	// Bind names the JSON body's top-level members that must equal the
	// metadata of the single-use grant the request spends.
	Bind []string
	// BodyLimit is the largest body read to inspect it. Default:
	// DefaultBodyLimit.
	BodyLimit int64
	// DPoPNonce demands a server nonce in DPoP proofs (RFC 9449 §9).
	DPoPNonce bool
	// DPoPRequired takes only DPoP-bound tokens (RFC 9449 §7.1): every
	// challenge uses the DPoP scheme, and a Bearer token is invalid_token.
	DPoPRequired bool
	// DPoPAlgorithms are named in the DPoP scheme's challenges.
	DPoPAlgorithms []string
	// StepUpRequestPath is where a step-up challenge's body says to
	// request the step-up.
	StepUpRequestPath string
	// Issuer is the gateway's own: single-use grants are read only from
	// its tokens. "" when it mints none.
	Issuer string
	// Headers name the identity headers set for the upstream on a pass.
	Headers IdentityHeaders
	// StripHeaders are further header names and `prefix*` patterns
	// removed from every request, besides ReservedHeaderPrefix and Headers.
	StripHeaders []string
	// Logger receives why a request was refused (debug) and failures of
	// what the route depends on (error). Default: none.
	Logger *zap.Logger
	// RequestURL is the URL the client addressed, as a DPoP proof's htu
	// names it. Default: the request's scheme, Host and escaped path.
	RequestURL func(*http.Request) string
	// AuthorizationDetails the token must carry for the request (RFC
	// 9396), matched against its JSON body. None: not read.
	AuthorizationDetails []DetailsRequirement
	// Resource is the identifier of the route's resource (RFC 8707,
	// RFC 9728): a token's aud must name it. "" for its site's resource,
	// whose identifier is the origin of RequestURL (aud is then the
	// issuer's business). Its metadata's URL ends every challenge.
	Resource string
	// MCP makes the route an MCP server's: each body is read as one
	// JSON-RPC message and its method or tool may need more (see
	// MCPConfig). Not with Bind. Default: nil.
	MCP *MCPConfig
}

// IdentityHeaders name the request headers that tell the upstream who
// called, in canonical form (they are set directly in the header map).
type IdentityHeaders struct {
	Subject, Scope, Session, Grant string
}

// TokenVerifier verifies an access token; errors wrapping
// jwks.ErrUnavailable mean the keys could not be had (fail closed, 503).
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*jwks.Claims, error)
}

// GrantSpender consumes a single-use grant for its user, session and
// scope; errors wrapping stepup.ErrUnavailable mean the store failed.
type GrantSpender interface {
	ConsumeGrant(ctx context.Context, grantID, userID, sessionID, scope string) (*stepup.Grant, error)
}

// Deps are what a route's decision uses of the running app, each behind
// the narrowest interface it needs. The zero Deps is an app that has not
// started: every request is refused as unavailable.
type Deps struct {
	Tokens TokenVerifier
	// Grants spends single-use grants; nil when the gateway mints no tokens.
	Grants GrantSpender
	// Proofs verifies DPoP proofs; Markers keeps their replay markers;
	// Nonces issues and checks server nonces.
	Proofs  *dpop.Verifier
	Markers ProofMarkers
	Nonces  *dpop.Nonces
	// Now is the clock max_age is decided by.
	Now func() time.Time
	// Revocations is the revocation list; nil: none is checked.
	Revocations RevocationChecker
}

// RevocationChecker finds the revocation that names a token, in memory
// (*revocation.List); an error means the list is out of date and every
// token is refused (503).
type RevocationChecker interface {
	Check(t revocation.TokenFacts) (*revocation.Entry, error)
}

// Decision is a route's answer to one request: a refusal, or a pass with
// the token's claims and the single-use grant it spent (nil when none).
// DPoPNonce, when set, goes in the response's DPoP-Nonce header either way.
type Decision struct {
	Refusal   *Refusal
	Claims    *jwks.Claims
	Grant     *stepup.Grant
	DPoPNonce string
	// ResourceMetadata is the URL a refusal's challenge names in its
	// resource_metadata parameter (RFC 9728 §5.1): where the metadata of
	// the route's resource is.
	ResourceMetadata string
	// Revoked is the revocation that refused the token, for the audit
	// log; nil otherwise.
	Revoked *revocation.Entry
}

// Route decides requests for one route. It is built once, when the config
// loads, and used by every request concurrently.
type Route struct {
	cfg      RouteConfig
	bearer   refusals // Bearer scheme
	dpop     refusals // DPoP scheme
	stripper *HeaderStripper
	binding  *Binding
	details  *Details
	scopes   Catalogue
	// metadataURL is where the metadata of cfg.Resource is; "" for the
	// site's resource, whose URL depends on the request's origin.
	metadataURL string
	// route is what every request needs; on an MCP route, mcp gives what
	// a declared method or tool needs (the route's and its own).
	route requirement
	mcp   *mcpJudge
}

// NewRoute builds the route's checks and its fixed refusals.
func NewRoute(cfg RouteConfig, scopes Catalogue) (*Route, error) {
	if cfg.BodyLimit == 0 {
		cfg.BodyLimit = DefaultBodyLimit
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.RequestURL == nil {
		cfg.RequestURL = plainRequestURL
	}
	ro := &Route{cfg: cfg, scopes: scopes, binding: NewBinding(cfg.Bind), details: NewDetails(cfg.AuthorizationDetails)}
	ro.bearer = newRefusals("Bearer", "", cfg.Realm, cfg.StepUpRequestPath)
	ro.dpop = newRefusals("DPoP", dpopChallengeParams(cfg.DPoPAlgorithms), cfg.Realm, cfg.StepUpRequestPath)
	h := cfg.Headers
	patterns := append([]string{ReservedHeaderPrefix, h.Subject, h.Scope, h.Session, h.Grant}, cfg.StripHeaders...)
	var err error
	if ro.stripper, err = NewHeaderStripper(patterns); err != nil {
		return nil, fmt.Errorf("strip_headers: %v", err)
	}
	ro.route = requirement{scopes: cfg.Scopes, any: cfg.Any, acr: cfg.ACR, maxAge: cfg.MaxAge}
	ro.route.plan(scopes)
	if cfg.Resource != "" {
		ro.metadataURL = resourcemeta.MetadataURL(resourcemeta.Canonical(cfg.Resource))
	}
	if cfg.MCP != nil {
		if len(cfg.Bind) > 0 || ro.details != nil {
			return nil, errors.New("bind and authorization_details read the body as a transaction, mcp as a JSON-RPC message: a route has one or the other")
		}
		if ro.mcp, err = ro.newMCPJudge(cfg.MCP); err != nil {
			return nil, fmt.Errorf("mcp: %v", err)
		}
		ro.bearer.addMCP(cfg.Realm, cfg.Scopes)
		ro.dpop.addMCP(cfg.Realm, cfg.Scopes)
	}
	return ro, nil
}

// Decide strips the identity headers a client must never set, then checks
// the request in order: one credential, the app started, a valid token
// that no revocation names, its sender constraint (RFC 9449), on an MCP
// route the JSON-RPC message and what its method or tool needs, the
// scopes, acr and max_age (RFC 9470), the authorization details the body
// needs (RFC 9396), and the single-use grants behind the scopes (with
// binding).
// On a pass it sets the identity headers for the upstream. It may replace
// r.Body with the exact bytes it read. A refusal with a challenge names
// where the route's resource metadata is.
func (ro *Route) Decide(r *http.Request, deps Deps) Decision {
	d := ro.decide(r, deps)
	if d.Refusal != nil && d.Refusal.WWWAuthenticate != "" {
		d.ResourceMetadata = ro.resourceMetadataURL(r)
	}
	return d
}

// resourceMetadataURL is where the metadata of the route's resource is:
// fixed for a route that names its resource, else at the origin the client
// addressed. "" when that origin cannot be written in a quoted parameter.
func (ro *Route) resourceMetadataURL(r *http.Request) string {
	if ro.metadataURL != "" {
		return ro.metadataURL
	}
	u := requestOrigin(ro.cfg.RequestURL(r)) + resourcemeta.WellKnownPath
	for i := 0; i < len(u); i++ {
		if c := u[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return ""
		}
	}
	return u
}

// location is the route's resource identifier: its Resource, else the
// origin the client addressed.
func (ro *Route) location(r *http.Request) string {
	if ro.cfg.Resource != "" {
		return ro.cfg.Resource
	}
	return requestOrigin(ro.cfg.RequestURL(r))
}

// requestOrigin is scheme://host of a URL.
func requestOrigin(u string) string {
	scheme, rest, _ := strings.Cut(u, "://")
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}

func (ro *Route) decide(r *http.Request, deps Deps) Decision {
	ro.stripper.Strip(r.Header)

	cred, problem := ParseAuthorization(r.Header["Authorization"])
	rs := &ro.bearer
	if cred.Scheme == DPoP || ro.cfg.DPoPRequired {
		rs = &ro.dpop
	}
	if deps.Tokens == nil {
		return Decision{Refusal: &rs.unavailable} // the app has not started (yet)
	}
	if refusal := ro.checkOneCredential(r, rs); refusal != nil {
		return Decision{Refusal: refusal}
	}
	switch problem {
	case Missing:
		return Decision{Refusal: &rs.noToken}
	case Malformed:
		return Decision{Refusal: &rs.badRequest}
	case Oversize:
		return Decision{Refusal: &rs.invalidToken}
	}
	if ro.cfg.DPoPRequired && cred.Scheme != DPoP {
		ro.debug("access token refused", errBearerAtDPoPRoute)
		return Decision{Refusal: &rs.invalidToken}
	}
	claims, err := deps.Tokens.Verify(r.Context(), cred.Token)
	if err != nil {
		if errors.Is(err, jwks.ErrUnavailable) {
			ro.cfg.Logger.Error("verifying access token: key source unavailable", zap.Error(err))
			return Decision{Refusal: &rs.unavailable}
		}
		ro.debug("access token refused", err)
		return Decision{Refusal: &rs.invalidToken}
	}
	if ro.cfg.Resource != "" && !slices.ContainsFunc(claims.Audience, func(aud string) bool { return resourcemeta.Same(aud, ro.cfg.Resource) }) {
		// RFC 8707: a token for another resource is not one for this one.
		ro.debug("access token refused", errOtherResource)
		return Decision{Refusal: &rs.invalidToken}
	}
	d := Decision{Claims: claims}
	if d.Revoked, d.Refusal = ro.checkRevoked(deps.Revocations, claims, rs); d.Refusal != nil {
		return d
	}
	if d.Refusal = ro.checkSenderConstraint(r, &deps, cred, claims, rs, &d.DPoPNonce); d.Refusal != nil {
		return d
	}
	req := &ro.route
	if ro.mcp != nil {
		if req, d.Refusal = ro.judgeMCP(r, rs); d.Refusal != nil {
			return d
		}
	}
	if d.Refusal = ro.authenticationProblem(rs, claims, deps.Now, req); d.Refusal != nil {
		return d
	}
	if ro.details != nil {
		// Before any grant is spent: a request its details do not cover
		// costs the client nothing.
		if d.Refusal = ro.checkDetails(r, claims, rs); d.Refusal != nil {
			return d
		}
	}
	if d.Grant, d.Refusal = ro.useGrant(r, deps.Grants, claims, rs, req); d.Refusal != nil {
		return d
	}
	ro.setIdentity(r.Header, claims, d.Grant)
	return d
}

// setIdentity tells the upstream who called, in the route's headers.
func (ro *Route) setIdentity(h http.Header, claims *jwks.Claims, grant *stepup.Grant) {
	names := &ro.cfg.Headers
	h[names.Subject] = []string{claims.Subject}
	h[names.Scope] = []string{claims.ScopeText}
	if claims.SessionID != "" {
		h[names.Session] = []string{claims.SessionID}
	}
	if grant != nil {
		h[names.Grant] = []string{grant.ID}
	}
}

func (ro *Route) debug(msg string, err error) {
	if ce := ro.cfg.Logger.Check(zapcore.DebugLevel, msg); ce != nil {
		ce.Write(zap.Error(err))
	}
}

// plainRequestURL is the URL as the request itself names it: scheme from
// TLS, the Host header and the escaped path.
func plainRequestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath()
}
