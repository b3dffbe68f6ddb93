package mcp

import (
	"errors"
	"testing"
)

func testPolicy(t *testing.T) *Policy[string] {
	t.Helper()
	p, err := NewPolicy(
		map[string]string{"resources/read": "files:read", "tools/call": "tools:call"},
		map[string]string{"transfer_funds": "payments:write", "Delete_Repo": "repo:admin"},
	)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyLooksUpToolsThenMethods(t *testing.T) {
	p := testPolicy(t)
	cases := []struct {
		m    Message
		want string
		ok   bool
	}{
		{Message{Kind: Request, Method: "tools/call", Tool: "transfer_funds"}, "payments:write", true},
		{Message{Kind: Request, Method: "tools/call", Tool: "Delete_Repo"}, "repo:admin", true},
		{Message{Kind: Request, Method: "tools/call", Tool: "get_balance"}, "tools:call", true},
		{Message{Kind: Notification, Method: "tools/call", Tool: "transfer_funds"}, "payments:write", true},
		{Message{Kind: Request, Method: "resources/read"}, "files:read", true},
		{Message{Kind: Request, Method: "tools/list"}, "", false},
		{Message{Kind: Notification, Method: "notifications/initialized"}, "", false},
		{Message{Kind: Response}, "", false},
	}
	for _, c := range cases {
		got, ok, err := p.Lookup(c.m)
		if err != nil || ok != c.ok || got != c.want {
			t.Errorf("Lookup(%+v) = %q, %v, %v; want %q, %v", c.m, got, ok, err, c.want, c.ok)
		}
	}
}

func TestPolicyRefusesNamesThatDifferOnlyInCase(t *testing.T) {
	p := testPolicy(t)
	for _, m := range []Message{
		{Kind: Request, Method: "tools/call", Tool: "Transfer_Funds"},
		{Kind: Request, Method: "tools/call", Tool: "TRANSFER_FUNDS"},
		{Kind: Request, Method: "tools/call", Tool: "delete_repo"},
		{Kind: Request, Method: "Tools/Call", Tool: "transfer_funds"},
		{Kind: Request, Method: "TOOLS/CALL", Tool: "get_balance"},
		{Kind: Request, Method: "Resources/Read"},
		{Kind: Notification, Method: "tools/CALL", Tool: "x"},
	} {
		if _, _, err := p.Lookup(m); !errors.Is(err, ErrName) {
			t.Errorf("Lookup(%+v) = %v, want ErrName", m, err)
		}
	}
	// Without declared tools, tools/call in another case is still refused:
	// a loose server would run the tool the gateway did not look up.
	empty, err := NewPolicy[string](nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := empty.Lookup(Message{Kind: Request, Method: "Tools/call", Tool: "x"}); !errors.Is(err, ErrName) {
		t.Errorf("Tools/call on an empty policy: %v, want ErrName", err)
	}
}

func TestNewPolicyRefusesBadDeclarations(t *testing.T) {
	for _, c := range []struct {
		methods, tools map[string]string
	}{
		{nil, map[string]string{"transfer funds": "a"}},
		{nil, map[string]string{"": "a"}},
		{nil, map[string]string{"ｔool": "a"}},
		{nil, map[string]string{"pay": "a", "PAY": "b"}},
		{map[string]string{"Tools/Call": "a"}, nil},
		{map[string]string{"x/y": "a", "X/y": "b"}, nil},
	} {
		if _, err := NewPolicy(c.methods, c.tools); err == nil {
			t.Errorf("NewPolicy(%v, %v) accepted", c.methods, c.tools)
		}
	}
}

func TestCheckContentTypeAcceptsOneJSONLabel(t *testing.T) {
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8", `application/json; charset="utf-8"`} {
		if err := CheckContentType([]string{ct}, nil); err != nil {
			t.Errorf("%q: %v", ct, err)
		}
	}
	for _, c := range []struct{ types, encodings []string }{
		{nil, nil},
		{[]string{"application/json", "application/json"}, nil},
		{[]string{"text/plain"}, nil},
		{[]string{"application/json-seq"}, nil},
		{[]string{"application/x-www-form-urlencoded"}, nil},
		{[]string{"application/json; charset=utf-16"}, nil},
		{[]string{"application/json; charset=utf-8; charset=utf-8"}, nil},
		{[]string{"application/json; boundary=x"}, nil},
		{[]string{"application/json, text/plain"}, nil},
		{[]string{"application/json"}, []string{"gzip"}},
		{[]string{"application/json"}, []string{"identity"}},
	} {
		if err := CheckContentType(c.types, c.encodings); !errors.Is(err, ErrContentType) {
			t.Errorf("%q %q: %v, want ErrContentType", c.types, c.encodings, err)
		}
	}
}

func TestCheckContentTypeRefusesNearMisses(t *testing.T) {
	for _, ct := range []string{"application/json;", "application/json; charset", "application/json; charset=", `application/json; charset="utf-8`,
		"application/json; charset = utf-8", "application/jsonx", "application/json; charset=utf-8; x=y", "application/json; charset=utf8"} {
		if err := CheckContentType([]string{ct}, nil); !errors.Is(err, ErrContentType) {
			t.Errorf("%q: %v, want ErrContentType", ct, err)
		}
	}
}
