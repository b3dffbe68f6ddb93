package resourcemeta

import (
	"reflect"
	"testing"
)

// TestRouteNeed adds each value once, after the route's own, and never
// writes into the slices the route was given.
func TestRouteNeed(t *testing.T) {
	own := make([]string, 1, 4)
	own[0] = "read"
	r := Route{Scopes: own}
	r.Need([]string{"write", "read"}, []string{"aal2"})
	r.Need([]string{"write", "admin"}, []string{"aal2", "aal3"})
	if !reflect.DeepEqual(r.Scopes, []string{"read", "write", "admin"}) || !reflect.DeepEqual(r.ACR, []string{"aal2", "aal3"}) {
		t.Fatalf("%+v", r)
	}
	if got := own[:2]; got[1] != "" {
		t.Fatalf("the route's slice was written through: %q", got)
	}
}
