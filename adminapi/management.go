package adminapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/apierror"
)

// errManagementFailed answers a management failure that is not a refusal
// (Caddy's config API unreachable, say): its text may hold what the config
// resolved, so it never reaches the caller.
var errManagementFailed = &Error{apierror.Unavailable, "internal", "The configuration could not be read or changed; nothing changed."}

// management serves GET .../config/{stepup,scopes,passkey}, and the
// method that changes each (match allowed only that one).
func (a *API) management(w http.ResponseWriter, r *http.Request, args []string) {
	m := a.cfg.Management
	if m == nil {
		fail(w, errNoManagement)
		return
	}
	what := Resource(args[0])
	if r.Method == http.MethodGet {
		v, err := m.Read(r.Context(), what)
		answer(w, v, managementError(err))
		return
	}
	body, err := readJSONBody(w, r)
	if err != nil {
		fail(w, err)
		return
	}
	v, err := m.Change(r.Context(), what, body)
	answer(w, v, managementError(err))
}

// managementError keeps refusals and hides everything else.
func managementError(err error) error {
	var ae *Error
	if err == nil || errors.As(err, &ae) {
		return err
	}
	return errManagementFailed
}

// readJSONBody reads a body of at most MaxBodyBytes whose Content-Type is
// application/json (charset utf-8 at most as a parameter). Requiring it
// keeps a browser from posting a change across sites without a CORS
// preflight, as Caddy's own /config does.
func readJSONBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if !isJSON(r.Header.Values("Content-Type")) {
		return nil, errMediaType
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errTooLarge
		}
		return nil, &Error{apierror.BadRequest, "bad_request", "The body could not be read."}
	}
	return body, nil
}

func isJSON(values []string) bool {
	if len(values) != 1 {
		return false
	}
	mt, params, err := mime.ParseMediaType(values[0])
	if err != nil || mt != "application/json" {
		return false
	}
	for name, v := range params {
		if name != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}
