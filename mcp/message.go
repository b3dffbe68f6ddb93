// Package mcp reads the JSON-RPC messages that MCP clients send over
// Streamable HTTP, so that the gateway can ask each method and each tool
// for what it needs (scopes, an authentication level, a recent login)
// before the MCP server runs it.
//
// A body is read the way the server will read it or not at all: one JSON
// object under strictjson's rules (no duplicate or case-variant member
// names at any depth, valid UTF-8, no lone surrogate), with exactly the
// members one JSON-RPC 2.0 message may have, so that the tool the gateway
// judged is the tool the server runs. Batches are refused: the MCP
// revisions from 2025-06-18 on removed them, and judging one would mean
// judging every element for one token.
package mcp

import (
	"errors"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
)

// MethodToolsCall is the method whose `params.name` names a tool.
const MethodToolsCall = "tools/call"

// Refusals of a message. Every one is the client's error (400).
var (
	// ErrBatch: a JSON array of messages.
	ErrBatch = errors.New("mcp: a JSON-RPC batch")
	// ErrNotMessage: not one JSON-RPC 2.0 request, notification or
	// response that every parser reads alike.
	ErrNotMessage = errors.New("mcp: not one JSON-RPC message")
	// ErrName: a method or tool name outside printable ASCII (or with a
	// space), or one that differs from a declared name only in case.
	ErrName = errors.New("mcp: a method or tool name that could name another")
)

// Kind is what a message is to JSON-RPC 2.0.
type Kind int

// Kinds of message.
const (
	Request      Kind = iota + 1 // method and id: the server answers
	Notification                 // method, no id
	Response                     // result or error: the client answers a request of the server's
)

// Message is one JSON-RPC message as the gateway read it.
type Message struct {
	Kind Kind
	// Method is the request's or notification's method ("" for a
	// response).
	Method string
	// Tool is params.name of a tools/call ("" otherwise).
	Tool string
}

// The members a JSON-RPC 2.0 message may have. MCP's own schemas are
// strict about them too; anything else (a `Method` beside nothing, an
// extension member) is refused rather than guessed at.
var messageMembers = map[string]bool{"jsonrpc": true, "id": true, "method": true, "params": true, "result": true, "error": true}

// ParseMessage reads body as one JSON-RPC 2.0 message. A request or
// notification has a string method and, when present, object params; a
// tools/call has a string params.name. A response has an id and exactly
// one of an object result or an object error (an error's id may be
// absent). Method and tool names must be printable ASCII without spaces.
func ParseMessage(body []byte) (Message, error) {
	if firstByte(body) == '[' {
		return Message{}, ErrBatch
	}
	members, nested, err := strictjson.ParseObjectWith(body, "params")
	if err != nil {
		return Message{}, ErrNotMessage
	}
	for name := range members {
		if !messageMembers[name] {
			return Message{}, ErrNotMessage
		}
	}
	if v, ok := members["jsonrpc"]; !ok || v.Kind != strictjson.String || v.Text != "2.0" {
		return Message{}, ErrNotMessage
	}
	id, hasID := members["id"]
	if hasID && id.Kind != strictjson.String && id.Kind != strictjson.Number {
		return Message{}, ErrNotMessage
	}
	result, hasResult := members["result"]
	rpcError, hasError := members["error"]
	method, hasMethod := members["method"]
	if !hasMethod {
		return parseResponse(members, hasID, result, hasResult, rpcError, hasError)
	}
	if hasResult || hasError || method.Kind != strictjson.String {
		return Message{}, ErrNotMessage
	}
	m := Message{Kind: Notification, Method: method.Text}
	if hasID {
		m.Kind = Request
	}
	if !validName(m.Method) {
		return Message{}, ErrName
	}
	params, hasParams := members["params"]
	if hasParams && params.Kind != strictjson.Object {
		return Message{}, ErrNotMessage
	}
	if m.Method != MethodToolsCall {
		return m, nil
	}
	if !hasParams {
		return Message{}, ErrNotMessage
	}
	name, ok := nested["params"]["name"]
	if !ok || name.Kind != strictjson.String {
		return Message{}, ErrNotMessage
	}
	if !validName(name.Text) {
		return Message{}, ErrName
	}
	m.Tool = name.Text
	return m, nil
}

// parseResponse reads a message without a method: a result with an id, or
// an error (whose id JSON-RPC lets a server leave out; MCP's schema lets a
// client do the same).
func parseResponse(members strictjson.Members, hasID bool, result strictjson.Value, hasResult bool, rpcError strictjson.Value, hasError bool) (Message, error) {
	if _, ok := members["params"]; ok || hasResult == hasError {
		return Message{}, ErrNotMessage
	}
	if hasResult && (!hasID || result.Kind != strictjson.Object) {
		return Message{}, ErrNotMessage
	}
	if hasError && rpcError.Kind != strictjson.Object {
		return Message{}, ErrNotMessage
	}
	return Message{Kind: Response}, nil
}

// validName: at least one byte, each printable ASCII other than space. The
// 2025-11-25 revision asks tool names to use ASCII letters, digits, `_`,
// `-` and `.`; refusing anything beyond printable ASCII keeps a server that
// trims or normalizes Unicode from running a declared tool under a name the
// gateway did not recognize.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// firstByte is the first byte of body that is not JSON white space (0
// when there is none).
func firstByte(body []byte) byte {
	for _, b := range body {
		switch b {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return b
	}
	return 0
}
