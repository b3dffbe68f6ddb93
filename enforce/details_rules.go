package enforce

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// Check says whether a route's authorization_details requirement can be
// named in a challenge and read from a body: its type and actions as a
// challenge carries them, its fields dotted paths of names. The errors
// name the config word.
func (r DetailsRequirement) Check() error {
	if !detailWord(r.Type) {
		return errors.New("authorization_details: a type of 1 to 255 printable ASCII characters, no space, quote or backslash")
	}
	for _, a := range r.Actions {
		if !detailWord(a) {
			return fmt.Errorf("authorization_details %s: action %s: 1 to 255 printable ASCII characters, no space, quote or backslash", r.Type, quoteName(a))
		}
	}
	for _, f := range r.Fields {
		for _, p := range []string{f.Detail, f.Body} {
			if !detailPath(p) {
				return fmt.Errorf("authorization_details %s: match %s: a dotted path of names made of letters, digits and _ : - only", r.Type, quoteName(p))
			}
		}
		if f.Detail == "type" || f.Detail == "actions" || f.Detail == "locations" {
			return fmt.Errorf("authorization_details %s: match %s: the gateway checks it itself", r.Type, f.Detail)
		}
	}
	return nil
}

// DetailTypes are the authorization_details types a route reads: its
// requirements' and, when it binds grants to transactions, the gateway's
// own grants' (what its resource's metadata lists).
func DetailTypes(reqs []DetailsRequirement, binds bool) []string {
	var out []string
	for _, r := range reqs {
		if !slices.Contains(out, r.Type) {
			out = append(out, r.Type)
		}
	}
	if binds && !slices.Contains(out, stepup.GrantDetailsType) {
		out = append(out, stepup.GrantDetailsType)
	}
	return out
}

// detailWord: a type or action as a challenge can carry it.
func detailWord(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// detailPath: names joined by dots, each a key the gateway names things
// with (no dot inside a name).
func detailPath(p string) bool {
	if p == "" || len(p) > 255 {
		return false
	}
	for _, name := range strings.Split(p, ".") {
		if name == "" || !stepup.ValidKey(name) {
			return false
		}
	}
	return true
}
