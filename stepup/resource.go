// RFC 8707 resource indicators and RFC 9396 authorization details in the
// access tokens the gateway mints.

package stepup

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
)

// ResourceMetadataKey is the step-up request's metadata key that names the
// resource (RFC 8707) the step-up is for: one a route names. The access
// tokens that carry the grant name it in `aud` beside the gateway's
// audience, and a single-use grant's authorization_details entry in
// `locations`.
const ResourceMetadataKey = "resource"

// maxResourceLen bounds a resource identifier in metadata; other values
// keep Prelude's 32 characters.
const maxResourceLen = 255

// GrantDetailsType is the type (RFC 9396 §2) of the authorization_details
// entry a single-use grant's access token carries: the approved metadata
// as `transaction`, the scope as `actions`, the resource as `locations`.
const GrantDetailsType = "urn:stepup:transaction"

// GrantDetails is the authorization_details entry of a single-use grant.
type GrantDetails struct {
	Type        string            `json:"type"`
	Actions     []string          `json:"actions"`
	Locations   []string          `json:"locations,omitempty"`
	Transaction map[string]string `json:"transaction,omitempty"`
}

// NewGrantDetails is the entry of a grant of scope approved with metadata.
func NewGrantDetails(scope string, metadata map[string]string) GrantDetails {
	d := GrantDetails{Type: GrantDetailsType, Actions: []string{scope}, Transaction: metadata}
	if r := metadata[ResourceMetadataKey]; r != "" {
		d.Locations = []string{r}
	}
	return d
}

// audience is a token's aud: one string, or an array when the token also
// names resources.
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON reads either form (tests read the tokens back).
func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// sameResource compares resource identifiers as RFC 8707 audiences: equal,
// or equal but for a lone slash after the host.
func sameResource(a, b string) bool {
	return a == b || canonicalResource(a) == canonicalResource(b)
}

func canonicalResource(r string) string {
	if scheme, rest, ok := strings.Cut(r, "://"); ok && strings.IndexByte(rest, '/') == len(rest)-1 {
		return scheme + "://" + rest[:len(rest)-1]
	}
	return r
}

// knownResource reports whether r is a resource some route names.
func (e *Engine) knownResource(r string) bool {
	return slices.ContainsFunc(e.cfg.Resources, func(known string) bool { return sameResource(known, r) })
}

// audience is the gateway's audience, then the resources the token's
// grants were stepped up for, each once, in order.
func (e *Engine) audience(resources []string) audience {
	aud := audience{e.cfg.Audience}
	sort.Strings(resources)
	for _, r := range resources {
		if !slices.ContainsFunc(aud, func(a string) bool { return sameResource(a, r) }) {
			aud = append(aud, r)
		}
	}
	return aud
}
