// Package apierror is the one place where the gateway's refusals become
// HTTP statuses, for the enforcement handler and the session API alike,
// and where their JSON body, the shape the Prelude SDK parses
// ({"code","message","type"}), is written.
package apierror

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// Kind is a class of refusal; each has one status and one body type.
type Kind int

// Kinds of refusal. The engine's kinds map onto the first ones; the others
// only arise in HTTP handling.
const (
	BadRequest Kind = iota
	Unauthorized
	Forbidden
	NotFound
	Conflict
	RateLimited
	Unavailable
	MethodNotAllowed
	TooLarge
	// BadGateway: a server the gateway called for the caller failed.
	BadGateway
)

// table is the status and the body's `type` of every kind.
var table = [...]struct {
	status int
	typ    string
}{
	BadRequest:       {http.StatusBadRequest, "bad_request"},
	Unauthorized:     {http.StatusUnauthorized, "unauthorized"},
	Forbidden:        {http.StatusForbidden, "forbidden"},
	NotFound:         {http.StatusNotFound, "not_found"},
	Conflict:         {http.StatusConflict, "conflict"},
	RateLimited:      {http.StatusTooManyRequests, "rate_limited"},
	Unavailable:      {http.StatusServiceUnavailable, "internal"},
	MethodNotAllowed: {http.StatusMethodNotAllowed, "bad_request"},
	TooLarge:         {http.StatusRequestEntityTooLarge, "bad_request"},
	BadGateway:       {http.StatusBadGateway, "internal"},
}

// Status is the HTTP status of k.
func (k Kind) Status() int { return table[k].status }

// Type is the body's `type` member for k.
func (k Kind) Type() string { return table[k].typ }

// FromEngine is the kind of an engine refusal. prelude-protocol.md §4:
// 401 only for missing or invalid credentials, since a 401 makes the SDK
// refresh and retry. Anything unknown is Unavailable (fail closed).
func FromEngine(k stepup.Kind) Kind {
	switch k {
	case stepup.KindBadRequest:
		return BadRequest
	case stepup.KindUnauthorized:
		return Unauthorized
	case stepup.KindForbidden:
		return Forbidden
	case stepup.KindNotFound:
		return NotFound
	case stepup.KindConflict:
		return Conflict
	case stepup.KindRateLimited:
		return RateLimited
	}
	return Unavailable
}

// Body renders {"code","message","type"} with k's type, plus extra
// members.
func Body(k Kind, code, message string, extra map[string]any) []byte {
	m := map[string]any{"code": code, "message": message, "type": k.Type()}
	for name, v := range extra {
		m[name] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Only strings and maps of strings are passed in; this cannot fail.
		panic(err)
	}
	return b
}

// WriteJSON sends a JSON body that must never be cached.
func WriteJSON(w http.ResponseWriter, status int, body []byte) {
	hdr := w.Header()
	hdr["Content-Type"] = []string{"application/json"}
	hdr["Cache-Control"] = []string{"no-store"}
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
