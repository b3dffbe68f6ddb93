package appconfig

import "encoding/json"

// ManagementConfig is what the management calls keep in the config.
type ManagementConfig struct {
	// Required as `Authorization: Bearer <key>` on every route of
	// admin.api.stepup (Caddy's admin endpoint) when set; write it as
	// {env.NAME}. Whoever reaches Caddy's admin endpoint can change or
	// remove it through /config: it is no boundary against them. The
	// stepup_management handler has a key of its own. Default: none.
	Key string `json:"key,omitempty"`

	// The last step-up configuration posted, as posted (GET reads it back).
	StepUp json.RawMessage `json:"stepup,omitempty"`

	// The scopes registered with POST .../config/scopes.
	Scopes []string `json:"scopes,omitempty"`

	CreatedAt string `json:"created_at,omitempty"`
	UpdatedAt string `json:"updated_at,omitempty"`
}
