// The stepup handler's rules: what a route's config may say, alone and
// against the app's config.

package appconfig

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/enforce"
	"github.com/caddy-stepup/caddy-stepup/resourcemeta"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// Validate checks the route's settings; it changes nothing. app is the
// stepup app's config the route runs in, nil when it is not known (the
// checks against it are then skipped).
func (rc *RouteConfig) Validate(app *Config) error {
	for _, s := range rc.Scopes {
		if !stepup.ValidKey(s) {
			return errors.New("scope " + quoteForError(s) + ": letters, digits and . _ : - only")
		}
	}
	if rc.Any && len(rc.Scopes) < 2 {
		return errors.New("any needs at least two scopes")
	}
	if strings.ContainsAny(rc.Realm, "\"\\\r\n") {
		return errors.New("realm must not contain quotes, backslashes or line breaks")
	}
	if rc.BodyLimit < 0 {
		return errors.New("body_limit must not be negative")
	}
	for _, v := range rc.ACR {
		if !stepup.ValidACR(v) {
			return errors.New("acr " + quoteForError(v) + ": 1 to 255 printable ASCII characters, no space, quote or backslash")
		}
	}
	if rc.Resource != "" {
		if err := resourcemeta.CheckIdentifier(rc.Resource); err != nil {
			return fmt.Errorf("resource %s: %v", quoteForError(rc.Resource), err)
		}
	}
	if m := time.Duration(rc.MaxAge); m != 0 && (m < time.Second || m%time.Second != 0 || m > maxRouteMaxAge) {
		return errors.New("max_age must be whole seconds, from 1s to 8760h")
	}
	if app != nil && !app.TrustsIssuers() {
		return errors.New("the stepup app trusts no issuer: set `issuer` or add a `trust` block in the stepup global option")
	}
	if rc.MCP != nil {
		if len(rc.Bind) > 0 {
			return errors.New("mcp: bind reads the body as a transaction, mcp as a JSON-RPC message: a route has one or the other")
		}
		if err := rc.MCP.RouteConfig().Validate(rc.ACR); err != nil {
			return fmt.Errorf("mcp: %v", err)
		}
	}
	if len(rc.Bind) > 0 {
		if err := rc.validateBind(app); err != nil {
			return fmt.Errorf("bind: %v", err)
		}
	}
	return rc.validateDetails()
}

// validateBind refuses `bind` where no single-use grant can ever be spent:
// without one, there is no approved transaction to compare the body with.
func (rc *RouteConfig) validateBind(app *Config) error {
	for _, f := range rc.Bind {
		if !stepup.ValidKey(f) {
			return errors.New("field " + quoteForError(f) + ": letters, digits and . _ : - only")
		}
	}
	if len(rc.Scopes) == 0 {
		return errors.New("needs the scopes whose single-use grants it binds")
	}
	if app == nil {
		return nil
	}
	if app.Issuer == "" {
		return errors.New("single-use grants are minted by the gateway: set `issuer` in the stepup global option")
	}
	for _, s := range rc.Scopes {
		sc := app.Scopes[s]
		switch {
		case sc == nil:
			return fmt.Errorf("scope %s has no `scope` block, so no single-use grant can be issued for it", s)
		case sc.Block:
			return fmt.Errorf("scope %s is blocked, so no single-use grant can be issued for it", s)
		case sc.Direct != nil && sc.Direct.GrantMode != "" && sc.Direct.GrantMode != stepup.GrantSingleUse:
			return fmt.Errorf("scope %s is granted %s, not single-use", s, sc.Direct.GrantMode)
		}
	}
	return nil
}

// validateDetails checks each authorization_details block
// (enforce.DetailsRequirement.Check).
func (rc *RouteConfig) validateDetails() error {
	if len(rc.AuthorizationDetails) > 0 && rc.MCP != nil {
		return errors.New("authorization_details reads the body as a transaction, mcp as a JSON-RPC message: a route has one or the other")
	}
	for _, dc := range rc.AuthorizationDetails {
		if dc == nil {
			return enforce.DetailsRequirement{}.Check() // the refusal of a missing type
		}
		if err := dc.Requirement().Check(); err != nil {
			return err
		}
	}
	return nil
}

// quoteForError quotes a configured value for an error, cut at 64 bytes.
func quoteForError(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return "\"" + s + "\""
}
