package caddystepup

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is the stepup app's part of Caddy's admin endpoint (never a
// public listener), under /stepup/:
//
//	GET    /stepup/users/{user}/sessions        the user's live sessions
//	DELETE /stepup/users/{user}/sessions        end all of them
//	DELETE /stepup/users/{user}/sessions/{sid}  end one
//	DELETE /stepup/users/{user}/grants          revoke the user's grants
//	GET    /stepup/challenges/{challenge}       a challenge's state
//
// and Prelude's management calls (admin_config.go).
// Everything goes through the store: an action on one instance holds on every
// instance sharing it. Answers are JSON; errors have the SDK's shape.
type AdminAPI struct {
	app *App
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.stepup",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision finds the stepup app of the config, if there is one.
func (a *AdminAPI) Provision(ctx caddy.Context) error {
	if app, err := ctx.AppIfConfigured("stepup"); err == nil {
		a.app = app.(*App)
	}
	return nil
}

// Routes returns the admin routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/stepup/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

var errAdminNotFound = &adminError{apierror.NotFound, "not_found", "No such admin resource."}

type adminError struct {
	kind          apierror.Kind
	code, message string
}

func (e *adminError) Error() string { return e.code + ": " + e.message }

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	if strings.HasPrefix(r.URL.Path, managementPrefix) {
		a.serveManagement(w, r)
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/stepup/"), "/")
	var rt *runtime
	if a.app != nil {
		rt = a.app.runtime()
	}
	if rt == nil || rt.engine == nil {
		adminFail(w, stepup.ErrNotConfigured)
		return nil
	}
	e := rt.engine
	switch {
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "sessions":
		switch r.Method {
		case http.MethodGet:
			sessions, err := e.AdminSessions(r.Context(), parts[1])
			if err != nil {
				adminFail(w, err)
				return nil
			}
			adminJSON(w, http.StatusOK, map[string]any{"sessions": sessionsJSON(sessions)})
		case http.MethodDelete:
			n, err := e.AdminRevokeSessions(r.Context(), parts[1], "")
			if err != nil {
				adminFail(w, err)
				return nil
			}
			adminJSON(w, http.StatusOK, map[string]int{"revoked": n})
		default:
			adminMethod(w, "GET, DELETE")
		}
	case len(parts) == 4 && parts[0] == "users" && parts[2] == "sessions":
		if r.Method != http.MethodDelete {
			adminMethod(w, "DELETE")
			return nil
		}
		n, err := e.AdminRevokeSessions(r.Context(), parts[1], parts[3])
		if err != nil {
			adminFail(w, err)
			return nil
		}
		adminJSON(w, http.StatusOK, map[string]int{"revoked": n})
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "grants":
		if r.Method != http.MethodDelete {
			adminMethod(w, "DELETE")
			return nil
		}
		n, err := e.AdminRevokeGrants(r.Context(), parts[1])
		if err != nil {
			adminFail(w, err)
			return nil
		}
		adminJSON(w, http.StatusOK, map[string]int{"revoked": n})
	case len(parts) == 2 && parts[0] == "challenges":
		if r.Method != http.MethodGet {
			adminMethod(w, "GET")
			return nil
		}
		c, err := e.AdminChallenge(r.Context(), parts[1])
		if err != nil {
			adminFail(w, err)
			return nil
		}
		adminJSON(w, http.StatusOK, c)
	default:
		adminFail(w, errAdminNotFound)
	}
	return nil
}

func sessionsJSON(sessions []stepup.SessionInfo) []map[string]any {
	out := make([]map[string]any, 0, len(sessions))
	for _, s := range sessions {
		out = append(out, map[string]any{"id": s.ID, "user_agent": s.UserAgent, "created_at": s.CreatedAt.UTC(),
			"last_seen_at": s.LastSeenAt.UTC(), "expires_at": s.ExpiresAt.UTC()})
	}
	return out
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("admin api: encoding an answer: %v", err))
	}
	apierror.WriteJSON(w, status, body)
}

// adminFail answers a refusal in the SDK's error shape.
func adminFail(w http.ResponseWriter, err error) {
	var ae *adminError
	var se *stepup.Error
	switch {
	case errors.As(err, &ae):
		apierror.WriteJSON(w, ae.kind.Status(), apierror.Body(ae.kind, ae.code, ae.message, nil))
	case errors.As(err, &se):
		k := apierror.FromEngine(se.Kind)
		apierror.WriteJSON(w, k.Status(), apierror.Body(k, se.Code, se.Message, nil))
	default:
		k := apierror.Unavailable
		apierror.WriteJSON(w, k.Status(), apierror.Body(k, "internal", "The store is unavailable.", nil))
	}
}

func adminMethod(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	k := apierror.MethodNotAllowed
	apierror.WriteJSON(w, k.Status(), apierror.Body(k, "bad_request", "Method not allowed.", nil))
}

// Interface guards
var (
	_ caddy.AdminRouter = (*AdminAPI)(nil)
	_ caddy.Provisioner = (*AdminAPI)(nil)
)
