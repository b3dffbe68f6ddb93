package mcp

import (
	"errors"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
)

// Policy maps the methods and tools a route declares to what each needs
// (a T of the caller's choosing). A name that is declared nowhere needs
// what the route needs; a name that differs from a declared one (or from
// tools/call) only in case is refused, since a server that matches names
// loosely would run the declared one.
type Policy[T any] struct {
	methods, tools map[string]T
	// folded maps the FoldKey of every declared method (and of
	// tools/call) and, separately, of every declared tool to the name.
	foldedMethods, foldedTools map[string]string
}

// NewPolicy declares methods and tools. Names must be printable ASCII
// without spaces, and no two methods (or two tools) may differ only in
// case.
func NewPolicy[T any](methods, tools map[string]T) (*Policy[T], error) {
	p := &Policy[T]{
		methods: methods, tools: tools,
		foldedMethods: map[string]string{strictjson.FoldKey(MethodToolsCall): MethodToolsCall},
		foldedTools:   map[string]string{},
	}
	for name := range methods {
		if err := declare(p.foldedMethods, name); err != nil {
			return nil, errors.New("method " + err.Error())
		}
	}
	for name := range tools {
		if err := declare(p.foldedTools, name); err != nil {
			return nil, errors.New("tool " + err.Error())
		}
	}
	return p, nil
}

func declare(folded map[string]string, name string) error {
	if !validName(name) {
		return errors.New(quote(name) + ": printable ASCII without spaces")
	}
	key := strictjson.FoldKey(name)
	if other, ok := folded[key]; ok && other != name {
		return errors.New(quote(name) + " differs from " + quote(other) + " only in case")
	}
	folded[key] = name
	return nil
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + s + `"`
}

// Lookup returns what m needs beyond the route: its tool's T when it is a
// tools/call of a declared tool, else its method's T when the method is
// declared; ok is false when neither is (a response, an undeclared method
// or tool). A method or tool named like a declared one but not exactly
// (another case) is ErrName.
func (p *Policy[T]) Lookup(m Message) (need T, ok bool, err error) {
	if m.Kind == Response {
		return need, false, nil
	}
	if _, declared := p.methods[m.Method]; !declared && m.Method != MethodToolsCall {
		if _, lookalike := p.foldedMethods[strictjson.FoldKey(m.Method)]; lookalike {
			return need, false, ErrName
		}
	}
	if m.Method == MethodToolsCall {
		if need, ok = p.tools[m.Tool]; ok {
			return need, true, nil
		}
		if _, lookalike := p.foldedTools[strictjson.FoldKey(m.Tool)]; lookalike {
			return need, false, ErrName
		}
	}
	need, ok = p.methods[m.Method]
	return need, ok, nil
}

// ErrContentType: a body that is not labelled as one `application/json`
// (with at most `charset=utf-8`), or that carries a Content-Encoding.
var ErrContentType = errors.New("mcp: a body other than one application/json")

// CheckContentType accepts the Content-Type and Content-Encoding lines of
// a request with a body when they are one `application/json`, with at most
// the parameter `charset=utf-8` once, and no Content-Encoding: the bytes
// the gateway reads are the bytes the server parses.
func CheckContentType(contentTypes, contentEncodings []string) error {
	if len(contentEncodings) > 0 || len(contentTypes) != 1 {
		return ErrContentType
	}
	mt, params, _ := strings.Cut(contentTypes[0], ";")
	if !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		return ErrContentType
	}
	if params == "" && !strings.Contains(contentTypes[0], ";") {
		return nil
	}
	name, value, ok := strings.Cut(strings.TrimSpace(params), "=")
	if !ok || !strings.EqualFold(name, "charset") {
		return ErrContentType
	}
	if unquoted, ok := strings.CutPrefix(value, `"`); ok {
		value, ok = strings.CutSuffix(unquoted, `"`)
		if !ok {
			return ErrContentType
		}
	}
	if !strings.EqualFold(value, "utf-8") {
		return ErrContentType
	}
	return nil
}
