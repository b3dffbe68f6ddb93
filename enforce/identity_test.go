package enforce

import (
	"net/http"
	"sort"
	"strings"
	"testing"
)

func TestHeaderStripperDefaults(t *testing.T) {
	s, err := NewHeaderStripper(append([]string{ReservedHeaderPrefix, "X-User-Id"}, DefaultStrippedHeaders...))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	stripped := []string{
		"Remote-User", "remote-groups", "REMOTE-EMAIL", "Remote_Name", "X-Remote-User", "X-Forwarded-User",
		"X-Forwarded-Email", "X-Forwarded-Preferred-Username", "X-Forwarded-Groups", "X-Forwarded-Access-Token",
		"X-Auth-Request-User", "X-Auth-Request-Email", "X-Auth-User", "X-Auth-Sub", "X-Auth-Scope", "X-Auth-Roles",
		"x-auth-user", "X_Auth_User", "x_auth_request_email", "X-Stepup-Sub", "X-Stepup-Anything", "x_stepup_scope",
		"X-User-Id", "X_User_Id",
	}
	kept := []string{"Authorization", "X-Authorization", "X-Forwarded-For", "X-Forwarded-Proto", "X-Author", "Remote-Userx-Other", "X-Request-Id", "Content-Type", "X-Userid"}
	for _, name := range append(stripped, kept...) {
		h[name] = []string{"x"} // as written by the client, not canonicalized
	}
	s.Strip(h)
	var left []string
	for name := range h {
		left = append(left, name)
	}
	sort.Strings(left)
	sort.Strings(kept)
	if strings.Join(left, ",") != strings.Join(kept, ",") {
		t.Errorf("left %v, want %v", left, kept)
	}
}

func TestHeaderStripperPatterns(t *testing.T) {
	for _, bad := range []string{"", "*", "X-A*b", "X A", "X:A"} {
		if _, err := NewHeaderStripper([]string{bad}); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
	s, err := NewHeaderStripper([]string{"X-Tenant*", "X-Role"})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"X-Tenant-Id": {"1"}, "X-Tenant": {"1"}, "X-Role": {"a"}, "X-Roles": {"a"}}
	s.Strip(h)
	if len(h) != 1 || h["X-Roles"] == nil {
		t.Errorf("left %v", h)
	}
}
