package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/revocation"
)

// The revocation routes:
//
//	GET  /stepup/revocations   the live revocations (?kind=&issuer=&value=&limit=)
//	POST /stepup/revocations   revoke tokens by subject, session or token ID

// Revocations is the revocation list as the admin routes use it.
type Revocations interface {
	Revoke(ctx context.Context, e revocation.Entry) error
	Entries(f revocation.Filter, limit int) ([]revocation.Entry, int)
}

// RevocationIssuers are the issuers whose tokens the admin API may revoke
// (the gateway's own and the trusted ones), each with how long a
// revocation of its tokens lasts when the call gives no end: its longest
// access token's lifetime, plus the verifiers' leeway.
type RevocationIssuers map[string]time.Duration

// Listing bounds of GET /stepup/revocations.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// revocationJSON is one revocation in the answers.
type revocationJSON struct {
	Kind      revocation.Kind `json:"kind"`
	Issuer    string          `json:"issuer"`
	Value     string          `json:"value"`
	RevokedAt time.Time       `json:"revoked_at"`
	Until     time.Time       `json:"until"`
	Reason    string          `json:"reason,omitempty"`
}

func toJSON(e revocation.Entry) revocationJSON {
	return revocationJSON{Kind: e.Kind, Issuer: e.Issuer, Value: e.Value, RevokedAt: e.At.UTC(), Until: e.Until.UTC(), Reason: e.Reason}
}

var errNoRevocations = &Error{apierror.Unavailable, "internal", "No revocation list is running (a config that started holds one)."}

func badRevocation(msg string) error { return &Error{apierror.BadRequest, "bad_request", msg} }

// revocations serves GET and POST /stepup/revocations.
func (a *API) revocations(w http.ResponseWriter, r *http.Request, _ []string) {
	if a.cfg.Revocations == nil {
		fail(w, errNoRevocations)
		return
	}
	if r.Method == http.MethodPost {
		a.revoke(w, r)
		return
	}
	f, limit, err := listQuery(r)
	if err != nil {
		fail(w, err)
		return
	}
	entries, total := a.cfg.Revocations.Entries(f, limit)
	out := make([]revocationJSON, 0, len(entries))
	for _, e := range entries {
		out = append(out, toJSON(e))
	}
	answer(w, map[string]any{"revocations": out, "total": total}, nil)
}

// listQuery reads the listing's filter: each parameter at most once, and
// no other parameter.
func listQuery(r *http.Request) (revocation.Filter, int, error) {
	var f revocation.Filter
	limit := defaultListLimit
	for name, values := range r.URL.Query() {
		if len(values) != 1 {
			return f, 0, badRevocation("Each query parameter may appear once.")
		}
		v := values[0]
		switch name {
		case "kind":
			f.Kind = revocation.Kind(v)
			if !f.Kind.Valid() {
				return f, 0, badRevocation("kind must be sid, sub or jti.")
			}
		case "issuer":
			f.Issuer = v
		case "value":
			f.Value = v
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxListLimit {
				return f, 0, badRevocation("limit must be 1 to " + strconv.Itoa(maxListLimit) + ".")
			}
			limit = n
		default:
			return f, 0, badRevocation("Unknown query parameter; the listing takes kind, issuer, value and limit.")
		}
	}
	return f, limit, nil
}

// revoke records a revocation: kind and value required; issuer, by
// default the gateway's, must be one whose tokens the gateway accepts;
// until, by default the issuer's token lifetime from now, must be in the
// future and within revocation.MaxDuration.
func (a *API) revoke(w http.ResponseWriter, r *http.Request) {
	body, err := readJSONBody(w, r)
	if err != nil {
		fail(w, err)
		return
	}
	e, err := a.parseRevocation(body)
	if err != nil {
		fail(w, err)
		return
	}
	if err := a.cfg.Revocations.Revoke(r.Context(), e); err != nil {
		switch {
		case errors.Is(err, revocation.ErrInvalidEntry):
			fail(w, badRevocation("The revocation is not valid: "+err.Error()))
		case errors.Is(err, revocation.ErrFull):
			fail(w, &Error{apierror.Unavailable, "internal", "The revocation list is full."})
		default:
			fail(w, err) // the store: 503, its text kept out
		}
		return
	}
	out, _ := json.Marshal(map[string]any{"revocation": toJSON(e)})
	apierror.WriteJSON(w, http.StatusCreated, out)
}

// parseRevocation reads {"kind", "value", "issuer"?, "until"?}: one strict
// JSON object (no duplicate or unknown member, strings only).
func (a *API) parseRevocation(body []byte) (revocation.Entry, error) {
	m, err := strictjson.ParseObject(body)
	if err != nil {
		return revocation.Entry{}, badRevocation("The body must be one JSON object without duplicate members.")
	}
	fields := map[string]string{}
	for name, v := range m {
		switch name {
		case "kind", "value", "issuer", "until":
		default:
			return revocation.Entry{}, badRevocation("Unknown member " + strconv.Quote(name) + "; a revocation has kind, value, issuer and until.")
		}
		if v.Kind != strictjson.String {
			return revocation.Entry{}, badRevocation(name + " must be a string.")
		}
		fields[name] = v.Text
	}
	now := a.now()
	e := revocation.Entry{Kind: revocation.Kind(fields["kind"]), Value: fields["value"], Issuer: fields["issuer"], At: now, Reason: "admin"}
	if !e.Kind.Valid() {
		return e, badRevocation("kind must be sid, sub or jti.")
	}
	if e.Value == "" {
		return e, badRevocation("value is required.")
	}
	if e.Issuer == "" {
		e.Issuer = a.cfg.GatewayIssuer
	}
	lifetime, ok := a.cfg.RevocationIssuers[e.Issuer]
	if !ok || e.Issuer == "" {
		return e, badRevocation("issuer must be the gateway's or a trusted issuer.")
	}
	e.Until = now.Add(lifetime)
	if until, ok := fields["until"]; ok {
		t, err := time.Parse(time.RFC3339, until)
		if err != nil {
			return e, badRevocation("until must be an RFC 3339 time.")
		}
		e.Until = t
	}
	return e, nil
}

// now is the admin routes' clock.
func (a *API) now() time.Time {
	if a.cfg.Now != nil {
		return a.cfg.Now()
	}
	return time.Now()
}
