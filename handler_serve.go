// The stepup handler at request time: one credential, a verified token, the
// route's scopes, and the answer when something is missing.

package caddystepup

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/caddy-stepup/caddy-stepup/enforce"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ServeHTTP enforces the route's scopes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	h.stripper.Strip(r.Header)

	cred, problem := enforce.ParseAuthorization(r.Header["Authorization"])
	resp := &h.responses
	if cred.Scheme == enforce.DPoP {
		resp = &h.dpopResp
	}
	rt := h.app.runtime()
	if rt == nil {
		return h.refuse(w, resp, &resp.unavailable) // the app has not started (yet)
	}
	if refusal := h.checkOneCredential(r, resp); refusal != nil {
		return h.refuse(w, resp, refusal)
	}
	switch problem {
	case enforce.Missing:
		return h.refuse(w, resp, &resp.noToken)
	case enforce.Malformed:
		return h.refuse(w, resp, &resp.badRequest)
	case enforce.Oversize:
		return h.refuse(w, resp, &resp.invalidToken)
	}
	claims, err := rt.tokens.Verify(r.Context(), cred.Token)
	if err != nil {
		if errors.Is(err, jwks.ErrUnavailable) {
			h.logger.Error("verifying access token: key source unavailable", zap.Error(err))
			return h.refuse(w, resp, &resp.unavailable)
		}
		h.debug("access token refused", err)
		return h.refuse(w, resp, &resp.invalidToken)
	}
	if refusal := h.checkSenderConstraint(w, r, rt, cred, claims, resp); refusal != nil {
		return h.refuse(w, resp, refusal)
	}

	if refusal := h.authenticationProblem(resp, claims, rt.now); refusal != nil {
		return h.refuse(w, resp, refusal)
	}
	grant, refusal := h.useGrant(r, rt, claims, resp)
	if refusal != nil {
		return h.refuse(w, resp, refusal)
	}

	scope := claims.ScopeText
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Set("http.auth.user.id", claims.Subject)
	repl.Set("http.stepup.scope", scope)
	repl.Set("http.stepup.sid", claims.SessionID)
	r.Header[h.Headers.Subject] = []string{claims.Subject}
	r.Header[h.Headers.Scope] = []string{scope}
	if claims.SessionID != "" {
		r.Header[h.Headers.Session] = []string{claims.SessionID}
	}
	if grant != nil {
		r.Header[h.Headers.Grant] = []string{grant.ID}
		repl.Set("http.stepup.grant", grant.ID)
	}
	h.decisions.Count(telemetry.Pass)
	return next.ServeHTTP(w, r)
}

// refuse counts a refusal by its outcome and writes it.
func (h *Handler) refuse(w http.ResponseWriter, resp *enforcementResponses, refusal *response) error {
	h.decisions.Count(refusal.outcome)
	return resp.write(w, refusal)
}

// checkOneCredential refuses a request that carries (or may carry) an
// access token besides its Authorization header: RFC 6750 §3.1 allows one
// method per request, and an upstream reading the other token would act
// for whoever that token names. A request with a body needs a Content-Type
// that every parser reads the same way (or none); form bodies (and bodies
// without a Content-Type) are read whole (up to BodyLimit), inspected and
// handed on unchanged.
func (h *Handler) checkOneCredential(r *http.Request, resp *enforcementResponses) *response {
	if len(r.Header["Content-Type"]) > 1 {
		return &resp.badRequest
	}
	if r.URL.RawQuery != "" && enforce.HasAccessToken(r.URL.RawQuery) {
		return &resp.badRequest
	}
	if r.ContentLength == 0 {
		return nil // no body (Caddy wraps even an empty one): nothing an upstream could parse
	}
	raw, read, err := enforce.InspectBody(r.Header["Content-Type"], r.Header["Content-Encoding"], r.Body, h.BodyLimit)
	if err != nil {
		h.debug("request body refused", err)
		return h.bodyProblem(resp, err)
	}
	if read {
		putBody(r, raw)
	}
	return nil
}

// readBody reads the whole body (at most BodyLimit) and puts exactly those
// bytes back for the upstream, with their length.
func (h *Handler) readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	raw, err := enforce.ReadBody(r.Body, h.BodyLimit)
	if err != nil {
		return nil, err
	}
	putBody(r, raw)
	return raw, nil
}

// putBody replaces a body read whole with exactly its bytes, sent with
// their Content-Length (no longer chunked).
func putBody(r *http.Request, raw []byte) {
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(raw))
	r.ContentLength = int64(len(raw))
	r.TransferEncoding = nil
	r.Header["Content-Length"] = []string{strconv.Itoa(len(raw))}
}

func (h *Handler) bodyProblem(resp *enforcementResponses, err error) *response {
	if errors.Is(err, enforce.ErrBodyTooLarge) {
		return &resp.tooLarge
	}
	return &resp.badRequest
}

// checkSenderConstraint applies RFC 9449 §7: a token bound to a key (cnf)

func (h *Handler) debug(msg string, err error) {
	if ce := h.logger.Check(zapcore.DebugLevel, msg); ce != nil {
		ce.Write(zap.Error(err))
	}
}

func quoteForError(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return "\"" + s + "\""
}
