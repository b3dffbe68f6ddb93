package caddystepup

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// grantClaim is the access-token claim naming the single-use grant behind
// each step-up scope it carries.
const grantClaim = `"grt"`

// singleUseGrants reads scope → grant ID from a gateway-minted token; nil
// when it has none (the common case costs one byte search).
func (h *Handler) singleUseGrants(claims *jwks.Claims) map[string]string {
	if h.app.engine == nil || claims.Issuer != h.app.Issuer || !bytes.Contains(claims.Raw, []byte(grantClaim)) {
		return nil
	}
	var c struct {
		Grants map[string]string `json:"grt"`
	}
	if err := json.Unmarshal(claims.Raw, &c); err != nil {
		return nil
	}
	return c.Grants
}

// useGrant consumes the single-use grants behind the route's scopes, if
// the token's scopes come from such grants. It returns the consumed grant
// (nil when none was needed) or the response to send instead.
func (h *Handler) useGrant(r *http.Request, claims *jwks.Claims) (*stepup.Grant, *response) {
	grants := h.singleUseGrants(claims)
	if grants == nil {
		return nil, nil
	}
	if h.Any {
		// One scope suffices: prefer one the token holds for good.
		for _, s := range h.Scopes {
			if claims.HasScope(s) && grants[s] == "" {
				return nil, nil
			}
		}
		for _, s := range h.Scopes {
			if id := grants[s]; id != "" {
				return h.consume(r, id, claims, s)
			}
		}
		return nil, nil
	}
	var used *stepup.Grant
	for _, s := range h.Scopes {
		if id := grants[s]; id != "" {
			g, resp := h.consume(r, id, claims, s)
			if resp != nil {
				return nil, resp
			}
			used = g
		}
	}
	return used, nil
}

func (h *Handler) consume(r *http.Request, id string, claims *jwks.Claims, scope string) (*stepup.Grant, *response) {
	g, err := h.app.engine.ConsumeGrant(r.Context(), id, claims.Subject, claims.SessionID, scope)
	if err != nil {
		if errors.Is(err, stepup.ErrUnavailable) {
			return nil, &h.responses.unavailable
		}
		// Used already, expired, or not this caller's: step up again.
		return nil, h.responses.stepUp(scope)
	}
	if len(h.Bind) > 0 && !bodyMatches(r, h.Bind, g.Metadata) {
		// The grant was approved for another transaction; trying to use it
		// for this one spends it.
		return nil, h.responses.stepUp(scope)
	}
	return g, nil
}

// bodyMatches reports whether the request's JSON body has, for every
// bound field, the value the grant's metadata was approved with. The body
// is read (up to 64 KiB) and put back for the upstream.
func bodyMatches(r *http.Request, fields []string, metadata map[string]string) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return false
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	r.Body = readCloser{io.MultiReader(bytes.NewReader(raw), r.Body), r.Body}
	if err != nil || len(raw) > maxBodyBytes {
		return false
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil {
		return false
	}
	for _, f := range fields {
		want, ok := metadata[f]
		if !ok {
			return false
		}
		got, ok := body[f]
		if !ok || jsonScalar(got) != want {
			return false
		}
	}
	return true
}

// jsonScalar renders a JSON string or number as the metadata string it
// must equal ("500" and 500 both give 500); anything else never matches.
func jsonScalar(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&n); err == nil {
		return strings.TrimSpace(n.String())
	}
	return "\x00" // matches no metadata value
}
