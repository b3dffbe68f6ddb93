package adminapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// Error is a refusal: its kind decides the status (apierror), code and
// message go to the caller as written.
type Error struct {
	Kind    apierror.Kind
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Refusals of the admin routes themselves.
var (
	ErrNotFound     = &Error{apierror.NotFound, "not_found", "No such admin resource."}
	errUnauthorized = &Error{apierror.Unauthorized, "unauthorized", "A valid management key is required."}
	errNoEngine     = &Error{apierror.Unavailable, "internal",
		"The step-up engine is not running (it needs `issuer`, and a config that started)."}
	errNoManagement = &Error{apierror.Unavailable, "internal", "No stepup app is running."}
	errMediaType    = &Error{apierror.BadRequest, "bad_request", "The body must be application/json."}
	errTooLarge     = &Error{apierror.TooLarge, "bad_request", fmt.Sprintf("The body must be at most %d KiB.", MaxBodyBytes>>10)}
)

// sessionJSON is one session in GET .../sessions.
type sessionJSON struct {
	ID         string    `json:"id"`
	UserAgent  string    `json:"user_agent"`
	DeviceID   string    `json:"device_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// answer sends v as a 200, or the refusal err.
func answer(w http.ResponseWriter, v any, err error) {
	if err != nil {
		fail(w, err)
		return
	}
	body, err := json.Marshal(v)
	if err != nil {
		// Answers are maps, slices and structs of strings, numbers and
		// times, or documents the config already held.
		fail(w, err)
		return
	}
	apierror.WriteJSON(w, http.StatusOK, body)
}

// fail answers a refusal in the SDK's error shape. An error that is
// neither *Error nor the engine's is a failure of the store or of Caddy's
// config API: its text stays out of the answer.
func fail(w http.ResponseWriter, err error) {
	var ae *Error
	var se *stepup.Error
	switch {
	case errors.As(err, &ae):
		apierror.WriteJSON(w, ae.Kind.Status(), apierror.Body(ae.Kind, ae.Code, ae.Message, nil))
	case errors.As(err, &se):
		k := apierror.FromEngine(se.Kind)
		apierror.WriteJSON(w, k.Status(), apierror.Body(k, se.Code, se.Message, nil))
	default:
		k := apierror.Unavailable
		apierror.WriteJSON(w, k.Status(), apierror.Body(k, "internal", "The store is unavailable.", nil))
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	k := apierror.MethodNotAllowed
	apierror.WriteJSON(w, k.Status(), apierror.Body(k, "bad_request", "Method not allowed.", nil))
}
