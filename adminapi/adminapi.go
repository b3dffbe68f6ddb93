// Package adminapi serves the gateway's admin routes over plain net/http:
// a user's sessions, ending them, revoking a user's grants, a challenge's
// state, and Prelude's management calls (read and change the step-up
// configuration). It decides routes, methods, the key, body limits and the
// JSON error shape; the engine (stepup) acts on users, and the Caddy shell
// edits the config (the Management interface). It is mounted twice: on
// Caddy's admin endpoint (module admin.api.stepup) and by the
// stepup_management handler on a listener of the operator's choice.
//
//	GET    /stepup/users/{user}/sessions          the user's live sessions
//	DELETE /stepup/users/{user}/sessions          end all of them
//	DELETE /stepup/users/{user}/sessions/{sid}    end one
//	DELETE /stepup/users/{user}/grants            revoke the user's grants
//	GET    /stepup/challenges/{challenge}         a challenge's state
//	GET    /stepup/revocations                    the live revocations
//	POST   /stepup/revocations                    revoke tokens by sub, sid or jti
//	POST   /stepup/signals/{transmitter}/verify   ask an SSF transmitter for a verification event
//	GET    /stepup/signals/{transmitter}/stream   an SSF stream's status
//	GET|POST /stepup/v2/session/apps/{APP_ID}/config/stepup
//	GET|POST /stepup/v2/session/apps/{APP_ID}/config/scopes
//	GET|PUT  /stepup/v2/session/apps/{APP_ID}/config/passkey
package adminapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// Prefix is the path every admin route lives under.
const Prefix = "/stepup/"

// MaxBodyBytes caps the body of a management call.
const MaxBodyBytes = 64 << 10

// Engine is what the admin routes ask of the engine; *stepup.Engine has it.
type Engine interface {
	AdminSessions(ctx context.Context, userID string) ([]stepup.SessionInfo, error)
	AdminRevokeSessions(ctx context.Context, userID, sessionID string) (int, error)
	AdminRevokeGrants(ctx context.Context, userID string) (int, error)
	AdminChallenge(ctx context.Context, id string) (*stepup.ChallengeView, error)
}

// Resource is what a management call reads or changes.
type Resource string

// The resources of Prelude's management calls.
const (
	StepUpConfig  Resource = "stepup"  // .../config/stepup
	Scopes        Resource = "scopes"  // .../config/scopes
	PasskeyConfig Resource = "passkey" // .../config/passkey
)

// changeMethod is the method that changes each resource: Prelude posts
// the step-up configuration and scopes, and puts the passkey one.
var changeMethod = map[Resource]string{StepUpConfig: http.MethodPost, Scopes: http.MethodPost, PasskeyConfig: http.MethodPut}

// Management reads and changes the step-up configuration. Its errors
// should be *Error (their message goes to the caller as written); any
// other error is answered 503 without its text.
type Management interface {
	// Read returns the answer of GET .../config/{what}.
	Read(ctx context.Context, what Resource) (any, error)
	// Change applies the body of POST (PUT for the passkey configuration)
	// .../config/{what} and returns the answer; a refusal changes nothing.
	Change(ctx context.Context, what Resource, body []byte) (any, error)
}

// Config is what the API serves with.
type Config struct {
	// Engine acts on users; nil (the gateway has not started, or mints no
	// tokens): the user and challenge routes answer 503.
	Engine Engine
	// Management serves the management calls; nil (no stepup app
	// running): they answer 503.
	Management Management
	// Key, when not empty, is required as `Authorization: Bearer <key>` on
	// every route, compared in constant time.
	Key string
	// Revocations is the revocation list; nil (no config started): the
	// revocation routes answer 503.
	Revocations Revocations
	// GatewayIssuer is the iss of the gateway's own tokens, the default
	// issuer of a revocation ("" when it mints none).
	GatewayIssuer string
	// RevocationIssuers are the issuers a revocation may name.
	RevocationIssuers RevocationIssuers
	// SignalStreams finds the SSF receiver's streams; nil (no config
	// started): the stream routes answer 503.
	SignalStreams SignalStreams
	// Now is the clock of revocations; default time.Now.
	Now func() time.Time
}

// API serves the admin routes.
type API struct {
	cfg Config
	// key is the SHA-256 of Config.Key: comparing digests takes the same
	// time whatever the length of the key presented.
	key [sha256.Size]byte
}

// New returns an API for cfg.
func New(cfg Config) *API {
	return &API{cfg: cfg, key: sha256.Sum256([]byte(cfg.Key))}
}

// Owns reports whether path is under Prefix.
func Owns(path string) bool { return strings.HasPrefix(path, Prefix) }

// route is one admin route: the methods it answers and what serves it.
type route struct {
	allow string // the Allow header of a 405
	serve func(a *API, w http.ResponseWriter, r *http.Request, args []string)
}

// ServeHTTP answers a request under Prefix: the key first (so that a
// caller without it learns nothing, not even which routes exist), then
// the route, the method, and what the route needs.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Key != "" && !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="stepup-admin"`)
		fail(w, errUnauthorized)
		return
	}
	rt, args, ok := match(r.URL)
	if !ok {
		fail(w, ErrNotFound)
		return
	}
	if !strings.Contains(", "+rt.allow+", ", ", "+r.Method+", ") {
		methodNotAllowed(w, rt.allow)
		return
	}
	rt.serve(a, w, r, args)
}

// authorized checks the bearer key: exactly one Authorization header,
// scheme Bearer in any case (RFC 9110 §11.1), the key compared as SHA-256
// digests in constant time.
func (a *API) authorized(r *http.Request) bool {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return false
	}
	scheme, key, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(key))
	return subtle.ConstantTimeCompare(got[:], a.key[:]) == 1
}

// match finds the route of u's path. Segments are split before they are
// unescaped, so that an escaped slash stays inside its segment; an empty
// segment matches nothing (DELETE .../sessions/ must not end every
// session).
func match(u *url.URL) (route, []string, bool) {
	rest, ok := strings.CutPrefix(u.EscapedPath(), Prefix)
	if !ok {
		return route{}, nil, false
	}
	parts := strings.Split(rest, "/")
	for i, p := range parts {
		s, err := url.PathUnescape(p)
		if err != nil || s == "" {
			return route{}, nil, false
		}
		parts[i] = s
	}
	switch {
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "sessions":
		return route{"GET, DELETE", (*API).sessions}, parts[1:2], true
	case len(parts) == 4 && parts[0] == "users" && parts[2] == "sessions":
		return route{"DELETE", (*API).revokeSession}, []string{parts[1], parts[3]}, true
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "grants":
		return route{"DELETE", (*API).revokeGrants}, parts[1:2], true
	case len(parts) == 1 && parts[0] == "revocations":
		return route{"GET, POST", (*API).revocations}, nil, true
	case len(parts) == 3 && parts[0] == "signals" && parts[2] == "verify":
		return route{"POST", (*API).verifyStream}, parts[1:2], true
	case len(parts) == 3 && parts[0] == "signals" && parts[2] == "stream":
		return route{"GET", (*API).readStream}, parts[1:2], true
	case len(parts) == 2 && parts[0] == "challenges":
		return route{"GET", (*API).challenge}, parts[1:2], true
	case len(parts) == 6 && parts[0] == "v2" && parts[1] == "session" && parts[2] == "apps" && parts[4] == "config" &&
		stepup.ValidKey(parts[3]) && changeMethod[Resource(parts[5])] != "":
		// APP_ID is any name: one gateway is one app.
		return route{"GET, " + changeMethod[Resource(parts[5])], (*API).management}, parts[5:6], true
	}
	return route{}, nil, false
}

// engine is the engine, or a 503 when there is none.
func (a *API) engine(w http.ResponseWriter) Engine {
	if a.cfg.Engine == nil {
		fail(w, errNoEngine)
	}
	return a.cfg.Engine
}

func (a *API) sessions(w http.ResponseWriter, r *http.Request, args []string) {
	e := a.engine(w)
	if e == nil {
		return
	}
	if r.Method == http.MethodDelete {
		n, err := e.AdminRevokeSessions(r.Context(), args[0], "")
		answer(w, map[string]int{"revoked": n}, err)
		return
	}
	sessions, err := e.AdminSessions(r.Context(), args[0])
	out := make([]sessionJSON, 0, len(sessions))
	for _, s := range sessions {
		out = append(out, sessionJSON{ID: s.ID, UserAgent: s.UserAgent, DeviceID: s.DeviceID, CreatedAt: s.CreatedAt.UTC(),
			LastSeenAt: s.LastSeenAt.UTC(), ExpiresAt: s.ExpiresAt.UTC()})
	}
	answer(w, map[string]any{"sessions": out}, err)
}

func (a *API) revokeSession(w http.ResponseWriter, r *http.Request, args []string) {
	if e := a.engine(w); e != nil {
		n, err := e.AdminRevokeSessions(r.Context(), args[0], args[1])
		answer(w, map[string]int{"revoked": n}, err)
	}
}

func (a *API) revokeGrants(w http.ResponseWriter, r *http.Request, args []string) {
	if e := a.engine(w); e != nil {
		n, err := e.AdminRevokeGrants(r.Context(), args[0])
		answer(w, map[string]int{"revoked": n}, err)
	}
}

func (a *API) challenge(w http.ResponseWriter, r *http.Request, args []string) {
	if e := a.engine(w); e != nil {
		c, err := e.AdminChallenge(r.Context(), args[0])
		answer(w, c, err)
	}
}
