package mcp

import (
	"errors"
	"strings"
	"testing"
)

func TestParseMessageReadsRequestsNotificationsAndResponses(t *testing.T) {
	cases := []struct {
		body string
		want Message
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`,
			Message{Kind: Request, Method: "initialize"}},
		{`{"jsonrpc":"2.0","id":"a","method":"tools/list"}`, Message{Kind: Request, Method: "tools/list"}},
		{`{"jsonrpc":"2.0","method":"notifications/initialized"}`, Message{Kind: Notification, Method: "notifications/initialized"}},
		{`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"transfer_funds","arguments":{"amount":5}}}`,
			Message{Kind: Request, Method: "tools/call", Tool: "transfer_funds"}},
		// Escapes read as the server's JSON.parse reads them.
		{`{"jsonrpc":"2.0","id":7,"method":"tools\/call","params":{"n\u0061me":"transfer\u005ffunds"}}`,
			Message{Kind: Request, Method: "tools/call", Tool: "transfer_funds"}},
		// A tools/call notification still names its tool.
		{`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"transfer_funds"}}`,
			Message{Kind: Notification, Method: "tools/call", Tool: "transfer_funds"}},
		{` {"jsonrpc":"2.0","id":3,"result":{"action":"accept"}} ` + "\n", Message{Kind: Response}},
		{`{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}`, Message{Kind: Response}},
		{`{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse"}}`, Message{Kind: Response}},
	}
	for _, c := range cases {
		got, err := ParseMessage([]byte(c.body))
		if err != nil || got != c.want {
			t.Errorf("ParseMessage(%s) = %+v, %v; want %+v", c.body, got, err, c.want)
		}
	}
}

func TestParseMessageRefusesWhatParsersCouldReadTwoWays(t *testing.T) {
	cases := []struct {
		name, body string
		want       error
	}{
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]`, ErrBatch},
		{"batch after white space", "\r\n [{}]", ErrBatch},
		{"empty batch", `[]`, ErrBatch},
		{"empty body", ``, ErrNotMessage},
		{"two objects", `{"jsonrpc":"2.0","method":"a"}{"jsonrpc":"2.0","method":"b"}`, ErrNotMessage},
		{"trailing data", `{"jsonrpc":"2.0","method":"a"} x`, ErrNotMessage},
		{"byte order mark", "\ufeff" + `{"jsonrpc":"2.0","method":"a"}`, ErrNotMessage},
		{"duplicate tool name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance","name":"transfer_funds"}}`, ErrNotMessage},
		{"duplicate tool name, escaped", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance","n\u0061me":"transfer_funds"}}`, ErrNotMessage},
		{"tool name in another case beside it", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance","Name":"transfer_funds"}}`, ErrNotMessage},
		{"tool name only in another case", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"transfer_funds"}}`, ErrNotMessage},
		{"duplicate params", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance"},"params":{"name":"transfer_funds"}}`, ErrNotMessage},
		{"params in another case", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance"},"Params":{"name":"transfer_funds"}}`, ErrNotMessage},
		{"duplicate method", `{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"transfer_funds"}}`, ErrNotMessage},
		{"method in another case beside it", `{"jsonrpc":"2.0","id":1,"method":"tools/list","METHOD":"tools/call","params":{"name":"transfer_funds"}}`, ErrNotMessage},
		{"Kelvin sign folds onto k", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"k":1,"\u212a":2}}}`, ErrNotMessage},
		{"unknown member", `{"jsonrpc":"2.0","id":1,"method":"tools/list","extra":1}`, ErrNotMessage},
		{"no jsonrpc", `{"id":1,"method":"tools/list"}`, ErrNotMessage},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","id":1,"method":"tools/list"}`, ErrNotMessage},
		{"jsonrpc a number", `{"jsonrpc":2.0,"id":1,"method":"tools/list"}`, ErrNotMessage},
		{"method not a string", `{"jsonrpc":"2.0","id":1,"method":["tools/call"]}`, ErrNotMessage},
		{"id an object", `{"jsonrpc":"2.0","id":{},"method":"tools/list"}`, ErrNotMessage},
		{"id null", `{"jsonrpc":"2.0","id":null,"method":"tools/list"}`, ErrNotMessage},
		{"params an array", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["transfer_funds"]}`, ErrNotMessage},
		{"tools/call without params", `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`, ErrNotMessage},
		{"tools/call without a name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}`, ErrNotMessage},
		{"tool name not a string", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":["transfer_funds"]}}`, ErrNotMessage},
		{"tool name null", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":null}}`, ErrNotMessage},
		{"method and result", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"},"result":{}}`, ErrNotMessage},
		{"result and error", `{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"m"}}`, ErrNotMessage},
		{"neither method, result nor error", `{"jsonrpc":"2.0","id":1}`, ErrNotMessage},
		{"result without id", `{"jsonrpc":"2.0","result":{}}`, ErrNotMessage},
		{"result not an object", `{"jsonrpc":"2.0","id":1,"result":"x"}`, ErrNotMessage},
		{"response with params", `{"jsonrpc":"2.0","id":1,"result":{},"params":{"name":"transfer_funds"}}`, ErrNotMessage},
		{"lone surrogate", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer_funds\ud800"}}`, ErrNotMessage},
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\xff\"}}", ErrNotMessage},
		{"empty tool name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":""}}`, ErrName},
		{"tool name with a trailing space", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer_funds "}}`, ErrName},
		{"tool name with a NUL", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer_funds\u0000"}}`, ErrName},
		{"tool name in full-width letters", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ｔransfer_funds"}}`, ErrName},
		{"tool name with a Cyrillic a", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"trаnsfer_funds"}}`, ErrName},
		{"method with a tab", `{"jsonrpc":"2.0","id":1,"method":"tools/call\t","params":{"name":"x"}}`, ErrName},
		{"empty method", `{"jsonrpc":"2.0","id":1,"method":""}`, ErrName},
		{"too deep", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":` + strings.Repeat(`[`, 80) + strings.Repeat(`]`, 80) + `}}`, ErrNotMessage},
	}
	for _, c := range cases {
		if _, err := ParseMessage([]byte(c.body)); !errors.Is(err, c.want) {
			t.Errorf("%s: ParseMessage(%s) = %v, want %v", c.name, c.body, err, c.want)
		}
	}
}

func FuzzParseMessageNamesOneTool(f *testing.F) {
	f.Add(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"transfer_funds"}}`)
	f.Add(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"a","n\u0061me":"b"}}`)
	f.Fuzz(func(t *testing.T, body string) {
		m, err := ParseMessage([]byte(body))
		if err != nil {
			return
		}
		if m.Tool != "" && (m.Method != MethodToolsCall || !validName(m.Tool)) {
			t.Fatalf("%q: tool %q read from method %q", body, m.Tool, m.Method)
		}
		if m.Kind == Response && (m.Method != "" || m.Tool != "") {
			t.Fatalf("%q: a response with a method", body)
		}
	})
}
